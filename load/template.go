package load

import (
	"fmt"
	"strings"
)

// template is a string with ${name} variables, parsed once. "$$" is a
// literal "$"; a "$" followed by anything else is kept as is.
type template struct {
	segs []segment
}

// segment is a literal (name == "") or a variable reference.
type segment struct {
	lit  string
	name string
}

// maxVarNameLen bounds a variable name.
const maxVarNameLen = 128

func parseTemplate(s string) (template, error) {
	var t template
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.segs = append(t.segs, segment{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			lit.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			lit.WriteByte('$')
			i += 2
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return template{}, fmt.Errorf("unclosed ${ at byte %d (write $$ for a literal $)", i)
			}
			name := s[i+2 : i+2+end]
			if !validVarName(name) {
				return template{}, fmt.Errorf("invalid variable name %q at byte %d", name, i)
			}
			flush()
			t.segs = append(t.segs, segment{name: name})
			i += 2 + end + 1
		default:
			lit.WriteByte('$')
			i++
		}
	}
	flush()
	return t, nil
}

// validVarName reports whether s may name a variable: letters, digits,
// '_', '-' and '.', not starting with a digit, '-' or '.'.
func validVarName(s string) bool {
	if s == "" || len(s) > maxVarNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case (c >= '0' && c <= '9' || c == '-' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

// vars returns the variables t references, in order, with repeats.
func (t template) vars() []string {
	var out []string
	for _, s := range t.segs {
		if s.name != "" {
			out = append(out, s.name)
		}
	}
	return out
}

// constant reports whether t references no variable.
func (t template) constant() bool {
	for _, s := range t.segs {
		if s.name != "" {
			return false
		}
	}
	return true
}

// expand returns t with each variable replaced by its value in vars; an
// undefined variable is an error naming it.
func (t template) expand(vars map[string]string) (string, error) {
	if len(t.segs) == 1 && t.segs[0].name == "" {
		return t.segs[0].lit, nil
	}
	var b strings.Builder
	for _, s := range t.segs {
		if s.name == "" {
			b.WriteString(s.lit)
			continue
		}
		v, ok := vars[s.name]
		if !ok {
			return "", fmt.Errorf("undefined variable ${%s}", s.name)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// Expand replaces every ${name} in s with vars[name] ("$$" is a literal
// "$"), as [Run] does with paths, headers and bodies. It returns an error
// for a malformed reference or an undefined variable.
func Expand(s string, vars map[string]string) (string, error) {
	t, err := parseTemplate(s)
	if err != nil {
		return "", fmt.Errorf("load: %w", err)
	}
	out, err := t.expand(vars)
	if err != nil {
		return "", fmt.Errorf("load: %w", err)
	}
	return out, nil
}
