package budget

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/perfagent/perfagent/internal/posdecode"
)

// MaxFileSize bounds a budgets file; larger files are rejected before
// parsing.
const MaxFileSize = 1 << 20

// ParseError is a problem in a budgets file, with its position; its
// Field is the dotted path of the field, e.g. "api.health.p95" or
// "[0].timings[1].budget", empty for syntax errors.
type ParseError = posdecode.Error

// Load reads a budgets file: perfagent's YAML (or the same schema in JSON)
// or Lighthouse's budget.json (a JSON array of budgets). See [Parse].
func Load(path string) (*Budgets, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("budget: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("budget: read %s: %w", path, err)
	}
	b, err := Parse(path, data)
	if err != nil {
		return nil, fmt.Errorf("budget: %w", err)
	}
	return b, nil
}

// Parse reads budgets from data; name is the file name used in errors and
// [Limit.Source].
//
// A perfagent file is overlaid on [Default]: every key it sets replaces the
// default, the value off removes one (or a whole section), and keys it does
// not mention keep their defaults. A file with no content gives the
// defaults. A Lighthouse budget.json (an array at the top level) replaces
// the page budgets and keeps the other defaults; its paths follow
// Lighthouse's last-match rule ([Budgets.PageLastMatch]).
//
// Errors are [*ParseError] values (joined with [errors.Join] when there are
// several), each naming the file, line, column and field.
func Parse(name string, data []byte) (*Budgets, error) {
	if len(data) > MaxFileSize {
		return nil, &ParseError{File: name, Err: fmt.Errorf("file is larger than %d bytes", MaxFileSize)}
	}
	root, err := posdecode.Parse(name, data, posdecode.Limits{})
	if err != nil {
		return nil, err
	}
	b := Default()
	b.File = name
	if root == nil {
		return b, nil
	}
	d := &decoder{Decoder: posdecode.NewDecoder(name, posdecode.Limits{})}
	switch root.Kind {
	case yaml.SequenceNode:
		b.Page = d.lighthouse(root)
		b.PageLastMatch = true
	case yaml.MappingNode:
		d.perfagent(root, b)
	default:
		d.fail(root, "", "a budgets file is a mapping (perfagent) or an array of budgets (Lighthouse)")
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return b, nil
}

// decoder reads the budgets schemas from a node tree, collecting errors.
type decoder struct {
	*posdecode.Decoder
}

func (d *decoder) fail(n *yaml.Node, field, format string, args ...any) {
	d.Fail(n, field, format, args...)
}

func (d *decoder) source(n *yaml.Node) string { return d.File() + ":" + strconv.Itoa(n.Line) }

func (d *decoder) resolve(n *yaml.Node) *yaml.Node { return d.Resolve(n) }

func (d *decoder) mapping(n *yaml.Node, field string, fn func(key string, k, v *yaml.Node)) {
	d.Mapping(n, field, func(key, _ string, k, v *yaml.Node) { fn(key, k, v) })
}

func (d *decoder) sequence(n *yaml.Node, field string, fn func(i int, v *yaml.Node)) {
	d.Sequence(n, field, 0, func(i int, _ string, v *yaml.Node) { fn(i, v) })
}

var (
	describe = posdecode.Describe
	join     = posdecode.Join
	index    = posdecode.Index
)

// isOff reports whether n is the scalar off.
func isOff(n *yaml.Node) bool {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n != nil && n.Kind == yaml.ScalarNode && n.Value == "off" && (n.Tag == "!!str" || n.Tag == "!!bool")
}

// limit reads one budget value, or off.
func (d *decoder) limit(n *yaml.Node, field string, q Quantity) (Limit, bool) {
	n = d.resolve(n)
	if n == nil {
		return Limit{}, false
	}
	if isOff(n) {
		return Limit{Off: true, Source: d.source(n)}, true
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.fail(n, field, "want a %s value or off, found %s", q, describe(n))
		return Limit{}, false
	}
	v, err := parseValue(q, n.Value)
	if err != nil {
		d.fail(n, field, "%v", err)
		return Limit{}, false
	}
	return Limit{Value: v, Source: d.source(n)}, true
}

// targets reads a mapping of metric keys to limits into dst. With keepOff,
// off limits are kept as tombstones (overrides); without, they delete the
// key from dst. A scalar off for the whole mapping clears dst.
func (d *decoder) targets(n *yaml.Node, field string, metrics func(key string) (metric, bool), valid string, dst Targets, keepOff bool) {
	if isOff(n) {
		clear(dst)
		return
	}
	d.mapping(n, field, func(key string, k, v *yaml.Node) {
		m, ok := metrics(key)
		if !ok {
			d.fail(k, join(field, key), "unknown key (want %s)", valid)
			return
		}
		l, ok := d.limit(v, join(field, key), m.q)
		if !ok {
			return
		}
		if l.Off && !keepOff {
			delete(dst, m.key)
			return
		}
		dst[m.key] = l
	})
}

func keysOf(list []metric) string {
	keys := make([]string, len(list))
	for i, m := range list {
		keys[i] = m.key
	}
	return strings.Join(keys, ", ")
}

func lookup(list []metric) func(string) (metric, bool) {
	return func(key string) (metric, bool) { return findMetric(list, key) }
}

func resourceLookup(mk func(string) metric) func(string) (metric, bool) {
	return func(key string) (metric, bool) {
		if slices.Contains(ResourceTypes, key) {
			return mk(key), true
		}
		return metric{}, false
	}
}

func timingLookup(key string) (metric, bool) {
	if long, ok := lighthouseTimings[key]; ok {
		key = long
	}
	return findMetric(timingMetrics, key)
}

// perfagent reads perfagent's schema over the defaults in b.
func (d *decoder) perfagent(root *yaml.Node, b *Budgets) {
	d.mapping(root, "", func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			if n := d.resolve(v); n != nil && (n.Kind != yaml.ScalarNode || n.Value != "1") {
				d.fail(n, key, "unsupported version %s (this perfagent reads version 1)", describe(n))
			}
		case "api":
			d.api(v, b)
		case "endpoints":
			if isOff(v) {
				clear(b.Endpoints)
				return
			}
			d.mapping(v, key, func(name string, k, v *yaml.Node) {
				t := Targets{}
				d.targets(v, join(key, name), lookup(endpointMetrics), keysOf(endpointMetrics), t, true)
				b.Endpoints[name] = t
			})
		case "system":
			d.targets(v, key, lookup(systemMetrics), keysOf(systemMetrics), b.System, false)
		case "errors":
			d.targets(v, key, lookup(errorMetrics), keysOf(errorMetrics), b.Errors, false)
		case "page":
			d.page(v, b)
		default:
			d.fail(k, key, "unknown key (want version, api, endpoints, system, errors or page)")
		}
	})
}

func (d *decoder) api(n *yaml.Node, b *Budgets) {
	if isOff(n) {
		clear(b.API)
		return
	}
	d.mapping(n, "api", func(cat string, k, v *yaml.Node) {
		field := join("api", cat)
		if isOff(v) {
			delete(b.API, cat)
			return
		}
		t := cloneTargets(b.API[cat])
		d.targets(v, field, lookup(apiMetrics), keysOf(apiMetrics), t, false)
		b.API[cat] = t
	})
}

func (d *decoder) page(n *yaml.Node, b *Budgets) {
	if isOff(n) {
		b.Page = nil
		return
	}
	if len(b.Page) == 0 || b.Page[0].Path != "" {
		b.Page = slices.Insert(b.Page, 0, PageBudget{Source: d.source(n), Sizes: Targets{}, Counts: Targets{}, Timings: Targets{}})
	}
	base := &b.Page[0]
	d.mapping(n, "page", func(key string, k, v *yaml.Node) {
		field := join("page", key)
		if key == "paths" {
			d.sequence(v, field, func(i int, v *yaml.Node) {
				if p, ok := d.pathEntry(v, index(field, i)); ok {
					b.Page = append(b.Page, p)
				}
			})
			return
		}
		d.pageKey(key, k, v, field, base, false)
	})
}

// pageKey reads one key shared by the page section and its path entries.
func (d *decoder) pageKey(key string, k, v *yaml.Node, field string, p *PageBudget, keepOff bool) {
	switch key {
	case "resource-sizes":
		d.targets(v, field, resourceLookup(sizeMetric), strings.Join(ResourceTypes, ", "), p.Sizes, keepOff)
	case "resource-counts":
		d.targets(v, field, resourceLookup(countMetric), strings.Join(ResourceTypes, ", "), p.Counts, keepOff)
	case "timings":
		d.targets(v, field, timingLookup, "ttfb, fcp, lcp, tti, tbt, cls or a Lighthouse timing metric", p.Timings, keepOff)
	case "first-party-hosts":
		p.FirstPartyHosts = d.hosts(v, field)
	default:
		want := "resource-sizes, resource-counts, timings, first-party-hosts or paths"
		if keepOff {
			want = "path, resource-sizes, resource-counts, timings or first-party-hosts"
		}
		d.fail(k, field, "unknown key (want %s)", want)
	}
}

func (d *decoder) pathEntry(n *yaml.Node, field string) (PageBudget, bool) {
	rn := d.resolve(n)
	if rn == nil {
		return PageBudget{}, false
	}
	p := PageBudget{Source: d.source(rn), Sizes: Targets{}, Counts: Targets{}, Timings: Targets{}}
	hasPath := false
	d.mapping(rn, field, func(key string, k, v *yaml.Node) {
		if key == "path" {
			hasPath = true
			p.Path, _ = d.path(v, join(field, key))
			return
		}
		d.pageKey(key, k, v, join(field, key), &p, true)
	})
	if !hasPath && rn.Kind == yaml.MappingNode {
		d.fail(rn, field, "a path entry needs a path (e.g. path: /checkout*)")
	}
	return p, true
}

func (d *decoder) path(n *yaml.Node, field string) (string, bool) {
	n = d.resolve(n)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		d.fail(n, field, "want a path string such as \"/*\", found %s", describe(n))
		return "", false
	}
	if err := validatePath(n.Value); err != nil {
		d.fail(n, field, "invalid path %q: %v", n.Value, err)
		return "", false
	}
	return n.Value, true
}

func (d *decoder) hosts(n *yaml.Node, field string) []string {
	var out []string
	d.sequence(n, field, func(i int, v *yaml.Node) {
		v = d.resolve(v)
		if v == nil {
			return
		}
		if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
			d.fail(v, index(field, i), "want a host name, found %s", describe(v))
			return
		}
		if err := validateHost(v.Value); err != nil {
			d.fail(v, index(field, i), "%q: %v", v.Value, err)
			return
		}
		out = append(out, v.Value)
	})
	return out
}

// lighthouse reads Lighthouse's budget.json: an array of budgets, each with
// optional path, options.firstPartyHostnames, resourceSizes (KiB),
// resourceCounts and timings (ms; cumulative-layout-shift unitless).
// Unknown properties are errors, as in Lighthouse.
func (d *decoder) lighthouse(root *yaml.Node) []PageBudget {
	var out []PageBudget
	d.sequence(root, "", func(i int, n *yaml.Node) {
		field := index("", i)
		rn := d.resolve(n)
		if rn == nil {
			return
		}
		p := PageBudget{Source: d.source(rn), Sizes: Targets{}, Counts: Targets{}, Timings: Targets{}}
		d.mapping(rn, field, func(key string, k, v *yaml.Node) {
			f := join(field, key)
			switch key {
			case "path":
				p.Path, _ = d.path(v, f)
			case "options":
				d.mapping(v, f, func(key string, k, v *yaml.Node) {
					if key != "firstPartyHostnames" {
						d.fail(k, join(f, key), "unknown option (want firstPartyHostnames)")
						return
					}
					p.FirstPartyHosts = d.hosts(v, join(f, key))
				})
			case "resourceSizes":
				d.lighthouseList(v, f, "resourceType", p.Sizes, func(name string) (metric, float64, bool) {
					if !slices.Contains(ResourceTypes, name) {
						return metric{}, 0, false
					}
					return sizeMetric(name), 1024, true // Lighthouse reads these budgets as KiB
				})
			case "resourceCounts":
				d.lighthouseList(v, f, "resourceType", p.Counts, func(name string) (metric, float64, bool) {
					if !slices.Contains(ResourceTypes, name) {
						return metric{}, 0, false
					}
					return countMetric(name), 1, true
				})
			case "timings":
				d.lighthouseList(v, f, "metric", p.Timings, func(name string) (metric, float64, bool) {
					key, ok := lighthouseTimings[name]
					if !ok {
						return metric{}, 0, false
					}
					m, _ := findMetric(timingMetrics, key)
					if m.q == Score {
						return m, 1, true
					}
					return m, ms, true
				})
			default:
				d.fail(k, f, "unknown property (want path, options, resourceSizes, resourceCounts or timings)")
			}
		})
		out = append(out, p)
	})
	return out
}

// lighthouseList reads a list of {<nameKey>: name, budget: number} objects.
// kind maps a name to its metric and the factor from the file's unit to the
// base unit.
func (d *decoder) lighthouseList(n *yaml.Node, field, nameKey string, dst Targets, kind func(string) (metric, float64, bool)) {
	d.sequence(n, field, func(i int, v *yaml.Node) {
		f := index(field, i)
		var name string
		var nameNode, budgetNode *yaml.Node
		d.mapping(v, f, func(key string, k, v *yaml.Node) {
			switch key {
			case nameKey:
				nameNode = d.resolve(v)
				if nameNode != nil {
					name = nameNode.Value
				}
			case "budget":
				budgetNode = d.resolve(v)
			default:
				d.fail(k, join(f, key), "unknown property (want %s and budget)", nameKey)
			}
		})
		rv := d.resolve(v)
		if rv == nil || rv.Kind != yaml.MappingNode {
			return
		}
		if nameNode == nil || budgetNode == nil {
			d.fail(rv, f, "want both %s and budget", nameKey)
			return
		}
		m, factor, ok := kind(name)
		if !ok || nameNode.Kind != yaml.ScalarNode {
			d.fail(nameNode, join(f, nameKey), "invalid %s %s", nameKey, describe(nameNode))
			return
		}
		if _, dup := dst[m.key]; dup {
			d.fail(nameNode, join(f, nameKey), "duplicate entry for %q", name)
			return
		}
		if budgetNode.Kind != yaml.ScalarNode || (budgetNode.Tag != "!!int" && budgetNode.Tag != "!!float") {
			d.fail(budgetNode, join(f, "budget"), "want a number, found %s", describe(budgetNode))
			return
		}
		v64, err := strconv.ParseFloat(budgetNode.Value, 64)
		if err != nil || v64 < 0 || v64*factor > 1e300 {
			d.fail(budgetNode, join(f, "budget"), "want a finite non-negative number, found %s", budgetNode.Value)
			return
		}
		dst[m.key] = Limit{Value: v64 * factor, Source: d.source(budgetNode)}
	})
}
