// Package posdecode reads YAML, or JSON, into a yaml.v3 node tree that
// keeps the line and column of every value, and helps a schema decoder walk
// that tree while collecting errors of the form "file:line:col: field:
// problem".
//
// It is the one positioned decoder of perfagent's input files (budgets,
// load scenarios). JSON is read with encoding/json, not the YAML parser
// (which rejects some valid JSON such as the "\/" escape), into the same
// kind of nodes YAML gives, so one schema decoder serves both.
//
// Every parse is bounded: by [Limits.MaxNodes] values visited (aliases
// included, so a file of nested aliases cannot make a decoder do unbounded
// work), [Limits.MaxDepth] levels of JSON nesting and [Limits.MaxErrors]
// errors reported.
//
//	root, err := posdecode.Parse(name, data, posdecode.Limits{})
//	if err != nil || root == nil { ... }
//	d := posdecode.NewDecoder(name, posdecode.Limits{})
//	d.Mapping(root, "", func(key string, k, v *yaml.Node) { ... d.Fail(v, key, "want a number") })
//	if err := d.Err(); err != nil { ... }
//
// A Decoder is not safe for concurrent use.
package posdecode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Default limits, used for the zero fields of [Limits].
const (
	DefaultMaxNodes  = 100_000
	DefaultMaxDepth  = 64
	DefaultMaxErrors = 20
)

// Limits bound one parse and one decode. Zero fields take the defaults
// above.
type Limits struct {
	MaxNodes  int // values parsed (JSON) and visited through a Decoder (aliases counted each time)
	MaxDepth  int // nesting of JSON arrays and objects, and of Mapping and Sequence calls
	MaxErrors int // errors a Decoder keeps; one "too many errors" follows the last
}

func (l Limits) withDefaults() Limits {
	if l.MaxNodes <= 0 {
		l.MaxNodes = DefaultMaxNodes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxErrors <= 0 {
		l.MaxErrors = DefaultMaxErrors
	}
	return l
}

// Error is a problem in a file, with its position.
type Error struct {
	File   string
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Field  string // dotted path of the field, e.g. "api.health.p95" or "[0].timings[1].budget"; empty for syntax errors
	Err    error
}

// Error formats the problem as "FILE:LINE:COL: FIELD: PROBLEM", leaving out
// what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
			if e.Column > 0 {
				b.WriteString(":" + strconv.Itoa(e.Column))
			}
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the problem without its position.
func (e *Error) Unwrap() error { return e.Err }

// IsJSON reports whether a file is read as JSON: its name ends in ".json"
// or its first non-space byte opens an object or an array.
func IsJSON(name string, data []byte) bool {
	if strings.HasSuffix(strings.ToLower(name), ".json") {
		return true
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// Parse returns the root node of data, read as JSON when [IsJSON] says so
// and as YAML otherwise, or nil for an empty document. A leading UTF-8 byte
// order mark is ignored. Errors are [*Error] values whose message starts
// with "invalid YAML: " or "invalid JSON: ".
func Parse(name string, data []byte, lim Limits) (*yaml.Node, error) {
	lim = lim.withDefaults()
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if IsJSON(name, data) {
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, nil
		}
		return parseJSON(name, data, lim)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(name, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// yamlError turns a yaml.v3 error ("yaml: line 3: ...") into an [*Error]
// with the line.
func yamlError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = strings.TrimPrefix(te.Errors[0], "yaml: ")
	}
	e := &Error{File: file}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if line, err := strconv.Atoi(rest[:i]); err == nil {
				e.Line = line
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
	} else if _, rest, ok := strings.Cut(msg, "line "); ok {
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end < 0 {
			end = len(rest)
		}
		e.Line, _ = strconv.Atoi(rest[:end])
	}
	e.Err = errors.New("invalid YAML: " + msg)
	return e
}

// jsonParser turns a JSON document into yaml nodes with line and column
// positions.
type jsonParser struct {
	name       string
	data       []byte
	dec        *json.Decoder
	lineStarts []int
	nodes      int
	lim        Limits
}

func parseJSON(name string, data []byte, lim Limits) (*yaml.Node, error) {
	p := &jsonParser{name: name, data: data, dec: json.NewDecoder(bytes.NewReader(data)), lineStarts: []int{0}, lim: lim}
	p.dec.UseNumber()
	for i, c := range data {
		if c == '\n' {
			p.lineStarts = append(p.lineStarts, i+1)
		}
	}
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	line, col := p.pos()
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, p.errAt(line, col, "unexpected data after the JSON value")
	}
	return n, nil
}

func (p *jsonParser) errAt(line, col int, msg string) error {
	return &Error{File: p.name, Line: line, Column: col, Err: errors.New("invalid JSON: " + msg)}
}

// pos returns the position of the next token.
func (p *jsonParser) pos() (line, col int) {
	off := int(p.dec.InputOffset())
	for off < len(p.data) && strings.IndexByte(" \t\r\n,:", p.data[off]) >= 0 {
		off++
	}
	return p.lineCol(off)
}

func (p *jsonParser) lineCol(off int) (line, col int) {
	i := sort.Search(len(p.lineStarts), func(i int) bool { return p.lineStarts[i] > off }) - 1
	return i + 1, off - p.lineStarts[i] + 1
}

func (p *jsonParser) syntaxError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := p.lineCol(int(se.Offset))
		return p.errAt(line, col, err.Error())
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		line, col := p.lineCol(len(p.data))
		return p.errAt(line, col, "unexpected end of JSON input")
	}
	line, col := p.pos()
	return p.errAt(line, col, err.Error())
}

func (p *jsonParser) value(depth int) (*yaml.Node, error) {
	line, col := p.pos()
	if p.nodes++; p.nodes > p.lim.MaxNodes {
		return nil, p.errAt(line, col, fmt.Sprintf("more than %d values", p.lim.MaxNodes))
	}
	if depth > p.lim.MaxDepth {
		return nil, p.errAt(line, col, fmt.Sprintf("nested more than %d levels deep", p.lim.MaxDepth))
	}
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.syntaxError(err)
	}
	n := &yaml.Node{Line: line, Column: col}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			n.Kind, n.Tag = yaml.MappingNode, "!!map"
		} else {
			n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
		}
		for p.dec.More() {
			if t == '{' {
				kl, kc := p.pos()
				k, err := p.dec.Token()
				if err != nil {
					return nil, p.syntaxError(err)
				}
				ks, _ := k.(string) // the decoder only returns strings as keys
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ks, Line: kl, Column: kc})
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, v)
		}
		if _, err := p.dec.Token(); err != nil { // the closing delimiter
			return nil, p.syntaxError(err)
		}
	case string:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!str", t
	case json.Number:
		n.Kind, n.Value = yaml.ScalarNode, t.String()
		n.Tag = "!!int"
		if strings.ContainsAny(n.Value, ".eE") {
			n.Tag = "!!float"
		}
	case bool:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!bool", strconv.FormatBool(t)
	case nil:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!null", "null"
	}
	return n, nil
}

// Decoder walks a node tree for a schema decoder, collecting [*Error]
// values and counting visited nodes.
type Decoder struct {
	file  string
	lim   Limits
	errs  []error
	nodes int
	depth int // Mapping and Sequence calls in progress
}

// NewDecoder returns a Decoder whose errors name file.
func NewDecoder(file string, lim Limits) *Decoder {
	return &Decoder{file: file, lim: lim.withDefaults()}
}

// File returns the file name errors carry.
func (d *Decoder) File() string { return d.file }

// Fail records a problem at n (nil: no position) in field. After
// [Limits.MaxErrors] problems it records "too many errors" once and then
// nothing more.
func (d *Decoder) Fail(n *yaml.Node, field, format string, args ...any) {
	if len(d.errs) >= d.lim.MaxErrors {
		return
	}
	e := &Error{File: d.file, Field: field, Err: fmt.Errorf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
	if len(d.errs) == d.lim.MaxErrors {
		d.errs = append(d.errs, &Error{File: d.file, Err: errors.New("too many errors")})
	}
}

// Errors returns the problems recorded so far, each an [*Error].
func (d *Decoder) Errors() []error { return d.errs }

// Err returns the problems recorded so far joined with [errors.Join], or
// nil.
func (d *Decoder) Err() error { return errors.Join(d.errs...) }

// Resolve follows aliases and counts the visit; it returns nil (after
// recording the problem once) when the visit budget is spent, and nil for
// a nil node.
func (d *Decoder) Resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	if d.nodes++; d.nodes == d.lim.MaxNodes+1 {
		d.Fail(n, "", "file too complex: more than %d values (nested aliases?)", d.lim.MaxNodes)
	}
	if d.nodes > d.lim.MaxNodes {
		return nil
	}
	return n
}

// enter counts one more level of nesting, refusing (and recording the
// problem) past MaxDepth.
//
// Note: an alias may point at a node that contains it, so without this
// bound a walk would only stop at MaxNodes, building field paths of
// quadratic total length on the way.
func (d *Decoder) enter(n *yaml.Node, field string) bool {
	if d.depth >= d.lim.MaxDepth {
		d.Fail(n, field, "nested more than %d levels deep (a recursive alias?)", d.lim.MaxDepth)
		return false
	}
	d.depth++
	return true
}

func (d *Decoder) leave() { d.depth-- }

// Mapping calls fn for each key of a mapping node, in file order, with the
// key's field path ([Join]) and its resolved value; it rejects other kinds
// of node, keys that are not plain scalars, merge keys (<<) and duplicate
// keys. fn is not called for a value that Resolve refused.
func (d *Decoder) Mapping(n *yaml.Node, field string, fn func(key, sub string, k, v *yaml.Node)) {
	n = d.Resolve(n)
	if n == nil || !d.enter(n, field) {
		return
	}
	defer d.leave()
	if n.Kind != yaml.MappingNode {
		d.Fail(n, field, "want a mapping, found %s", Describe(n))
		return
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.Resolve(n.Content[i])
		if k == nil {
			return
		}
		if k.Kind != yaml.ScalarNode {
			d.Fail(k, field, "a key must be a plain string")
			continue
		}
		if k.Tag == "!!merge" {
			d.Fail(k, field, "merge keys (<<) are not supported")
			continue
		}
		sub := Join(field, k.Value)
		if seen[k.Value] {
			d.Fail(k, sub, "duplicate key")
			continue
		}
		seen[k.Value] = true
		v := d.Resolve(n.Content[i+1])
		if v == nil {
			return
		}
		fn(k.Value, sub, k, v)
	}
}

// Sequence calls fn for each resolved element of a sequence node with its
// field path ([Index]). A list longer than limit (limit > 0) is refused
// whole.
func (d *Decoder) Sequence(n *yaml.Node, field string, limit int, fn func(i int, sub string, v *yaml.Node)) {
	n = d.Resolve(n)
	if n == nil || !d.enter(n, field) {
		return
	}
	defer d.leave()
	if n.Kind != yaml.SequenceNode {
		d.Fail(n, field, "want a list, found %s", Describe(n))
		return
	}
	if limit > 0 && len(n.Content) > limit {
		d.Fail(n, field, "at most %d entries, found %d", limit, len(n.Content))
		return
	}
	for i, v := range n.Content {
		v = d.Resolve(v)
		if v == nil {
			return
		}
		fn(i, Index(field, i), v)
	}
}

// Describe names what a node holds, for "want X, found Y" messages.
func Describe(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "no value"
		}
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

// Join returns the path of key inside field: "field.key", or
// `field["key"]` when key holds a dot or a space; key alone at the top
// (empty field).
func Join(field, key string) string {
	if field == "" {
		return key
	}
	if strings.ContainsAny(key, ". ") {
		return field + "[" + strconv.Quote(key) + "]"
	}
	return field + "." + key
}

// Index returns the path of element i of the list at field.
func Index(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }
