package page

import (
	"net"
	"net/url"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// party classifies request hosts as first or third party relative to the
// page's document, as Lighthouse does: a host is first party when it shares
// the document's registrable domain (eTLD+1 from the public suffix list,
// e.g. cdn.example.com for www.example.com) or matches one of the extra
// first-party host patterns. For IP addresses and single-label hosts such
// as localhost, which have no registrable domain, the whole host name must
// match. Ports never matter.
type party struct {
	site  string
	extra []string
}

func newParty(docURL string, extra []string) party {
	return party{site: site(hostOf(docURL)), extra: extra}
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

func site(host string) string {
	if host == "" || net.ParseIP(host) != nil || !strings.Contains(host, ".") {
		return host
	}
	if s, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return s
	}
	return host
}

// thirdParty reports whether a request URL is third party. URLs without a
// host (data:, blob:) are first party.
func (p party) thirdParty(reqURL string) bool {
	h := hostOf(reqURL)
	if h == "" || site(h) == p.site {
		return false
	}
	for _, pat := range p.extra {
		pat = strings.ToLower(pat)
		if suffix, ok := strings.CutPrefix(pat, "*."); ok {
			if h == suffix || strings.HasSuffix(h, "."+suffix) {
				return false
			}
		} else if h == pat {
			return false
		}
	}
	return true
}
