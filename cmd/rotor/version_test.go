package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	h := newHarness(t)
	a := func(bi *debug.BuildInfo) result {
		t.Helper()
		var out, errb syncBuffer
		ap := h.app("", &out, &errb)
		ap.buildInfo = func() (*debug.BuildInfo, bool) { return bi, bi != nil }
		code := ap.execute(t.Context(), []string{"version"})
		r := result{code, out.String(), errb.String()}
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		return r
	}
	release := &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: "github.com/rotor-auth/rotor", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-11-24T19:07:27Z"},
			{Key: "vcs.modified", Value: "true"},
			{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
		}}
	out := a(release).stdout
	for _, want := range []string{"rotor v1.4.0", "0123456789abcdef0123456789abcdef01234567", "2026-11-24T19:07:27Z", "modified", "go1.26.1", "linux/arm64"} {
		if !strings.Contains(out, want) {
			t.Errorf("rotor version does not say %q:\n%s", want, out)
		}
	}

	// A binary built without module or VCS information still answers.
	out = a(nil).stdout
	for _, want := range []string{"rotor (devel)", runtime.Version()} {
		if !strings.Contains(out, want) {
			t.Errorf("rotor version without build information does not say %q:\n%s", want, out)
		}
	}

	// The build information of this very binary.
	out = h.ok("version", "--json")
	v := decode[versionInfo](t, out)
	if v.Version == "" || v.Go != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("rotor version --json: %+v\n%s", v, out)
	}
	for _, key := range []string{`"version"`, `"revision"`, `"time"`, `"modified"`, `"go"`, `"platform"`} {
		if !strings.Contains(out, key) {
			t.Errorf("rotor version --json has no %s:\n%s", key, out)
		}
	}
}
