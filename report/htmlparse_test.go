package report_test

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// parsed is a rendered page parsed with golang.org/x/net/html, so tests
// read cells the way a browser lays them out rather than grepping markup.
type parsed struct{ root *html.Node }

func parse(t *testing.T, page []byte) parsed {
	t.Helper()
	root, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return parsed{root}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	return n.Type == html.ElementNode && strings.Contains(" "+attr(n, "class")+" ", " "+class+" ")
}

// findAll returns the elements under n (n included) for which match is
// true, in document order.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func byID(n *html.Node, id string) *html.Node {
	if f := findAll(n, func(n *html.Node) bool { return attr(n, "id") == id }); len(f) > 0 {
		return f[0]
	}
	return nil
}

func tag(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name }
}

// text is the text content of n with white space collapsed.
func text(n *html.Node) string {
	var sb strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			sb.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(sb.String()), " ")
}

// grid is a table's text: its header cells and its body rows.
type grid struct {
	head []string
	rows [][]string
}

// tableOf reads the first table with class under n; the first row is the
// header.
func tableOf(t *testing.T, n *html.Node, class string) grid {
	t.Helper()
	tables := findAll(n, func(n *html.Node) bool { return n.Data == "table" && hasClass(n, class) })
	if len(tables) == 0 {
		t.Fatalf("no table.%s", class)
	}
	var g grid
	for i, tr := range findAll(tables[0], tag("tr")) {
		var cells []string
		for c := tr.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode && (c.Data == "td" || c.Data == "th") {
				cells = append(cells, text(c))
			}
		}
		if i == 0 {
			g.head = cells
		} else {
			g.rows = append(g.rows, cells)
		}
	}
	return g
}

// cell returns the cell of the row whose first cell is key (or starts with
// key and a space), in the column headed col.
func (g grid) cell(t *testing.T, key, col string) string {
	t.Helper()
	ci := -1
	for i, h := range g.head {
		if h == col {
			ci = i
		}
	}
	if ci < 0 {
		t.Fatalf("no column %q in %q", col, g.head)
	}
	for _, r := range g.rows {
		if len(r) > ci && (r[0] == key || strings.HasPrefix(r[0], key+" ")) {
			return r[ci]
		}
	}
	t.Fatalf("no row %q in %q", key, g.rows)
	return ""
}
