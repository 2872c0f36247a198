package config

import (
	"strings"
	"testing"
)

// TestTrustedProxies: CIDRs and single addresses, separated by commas;
// anything else is a problem named in the operator's words.
func TestTrustedProxies(t *testing.T) {
	c, err := Load(Sources{Flags: map[string]string{"trusted_proxies": "10.0.0.0/8, 192.0.2.1 ,2001:db8::/32"}})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := c.TrustedPrefixes()
	if err != nil || len(ps) != 3 || ps[1].String() != "192.0.2.1/32" {
		t.Fatalf("prefixes %v %v", ps, err)
	}
	_, err = Load(Sources{Flags: map[string]string{"trusted_proxies": "10.0.0.0/8,the balancer"}})
	if err == nil || !strings.Contains(err.Error(), `trusted_proxies: "the balancer" is not an address or a CIDR`) {
		t.Fatalf("a bad entry: %v", err)
	}
}
