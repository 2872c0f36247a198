package web

import (
	"strings"
	"testing"
)

// TestBrowserName: the common browsers, on the common systems, by their
// user agents; anything else is "A browser".
func TestBrowserName(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0":           "Edge on Windows",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1": "Safari on iOS",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36":                   "Chrome on Android",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0":                                                     "Firefox on macOS",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36":                           "Chrome on Linux",
		"Go-http-client/1.1": "A browser",
		"":                   "A browser",
	} {
		if got := browserName(ua); got != want {
			t.Errorf("browserName(%q) = %q, want %q", ua, got, want)
		}
	}
}

// FuzzBrowserName: whatever the user agent, the name is short and made
// of the known words only.
func FuzzBrowserName(f *testing.F) {
	f.Add("Mozilla/5.0 (Windows NT 10.0) Firefox/128.0")
	f.Add("\xff<script>")
	f.Fuzz(func(t *testing.T, ua string) {
		got := browserName(ua)
		if len(got) > 32 || strings.ContainsAny(got, "<>&\"/") {
			t.Fatalf("browserName(%q) = %q", ua, got)
		}
	})
}
