package budget

import (
	"errors"
	"net/url"
	"strings"
)

// MatchPath reports whether a URL path (path and query, e.g.
// "/shop/cart?x=1") matches a page budget pattern, with Lighthouse's
// robots.txt rules: without "*" or "$" the path must start with the pattern;
// "/a$" matches "/a" only; "/a*b" matches a path that starts with "/a" and
// contains "b" after it; "/a*b$" one that starts with "/a" and ends with
// "b". The empty pattern matches every path.
func MatchPath(pattern, path string) bool {
	if pattern == "" {
		return true
	}
	before, after, wild := strings.Cut(pattern, "*")
	anchored := strings.HasSuffix(pattern, "$")
	switch {
	case !wild && !anchored:
		return strings.HasPrefix(path, pattern)
	case !wild:
		return path == strings.TrimSuffix(pattern, "$")
	case !anchored:
		return strings.HasPrefix(path, before) && strings.Contains(path[len(before):], after)
	default:
		return strings.HasPrefix(path, before) && strings.HasSuffix(path[len(before):], strings.TrimSuffix(after, "$"))
	}
}

// validatePath applies Lighthouse's rules for a budget path.
func validatePath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return errors.New("path should start with '/'")
	case strings.Count(p, "*") > 1:
		return errors.New("path should contain at most one '*'")
	case strings.Count(p, "$") > 1:
		return errors.New("path should contain at most one '$'")
	case strings.Contains(p, "$") && !strings.HasSuffix(p, "$"):
		return errors.New("'$' may only end a path")
	}
	return nil
}

// validateHost applies Lighthouse's rules for a first-party host name.
func validateHost(h string) error {
	if h == "" || strings.ContainsAny(h, "/:") {
		return errors.New("not a host name")
	}
	if strings.Contains(h, "*") && (!strings.HasPrefix(h, "*.") || strings.LastIndex(h, "*") > 0) {
		return errors.New("a wildcard is only allowed as a leading '*.'")
	}
	return nil
}

// urlPath returns the path and query of a URL, the part budget paths
// match; a string that is not an absolute URL is used as it is.
func urlPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return raw
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if u.RawQuery != "" || u.ForceQuery {
		p += "?" + u.RawQuery
	}
	return p
}
