package secret

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSlowHashesAreBounded: a caller that cannot get one of the slots in
// time gets ErrBusy (which the edges answer 503 with Retry-After) rather
// than queueing forever or running one more argon2id; with a slot it
// verifies.
func TestSlowHashesAreBounded(t *testing.T) {
	phc := HashPassword("pw")
	full := &Verifier{slots: make(chan struct{}, 1), wait: 50 * time.Millisecond}
	full.slots <- struct{}{}
	_, err := full.Verify(context.Background(), "ip", phc, "pw")
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("full limiter: %v", err)
	}
	<-full.slots
	if ok, err := full.Verify(context.Background(), "ip", phc, "pw"); !ok || err != nil {
		t.Fatalf("free limiter: %v, %v", ok, err)
	}
	if ok, err := full.Verify(context.Background(), "ip", "", "pw"); ok || err != nil {
		t.Fatalf("dummy verification = %v, %v, want false", ok, err)
	}
}

// TestVerifierIsFairBetweenSources: one source holds at most its share of
// the slots, so another source still gets one at once.
func TestVerifierIsFairBetweenSources(t *testing.T) {
	v := &Verifier{slots: make(chan struct{}, 2), wait: 50 * time.Millisecond, share: 1}
	sem, done := v.source("flood")
	defer done()
	sem <- struct{}{} // the flood holds its share
	if _, err := v.Verify(context.Background(), "flood", "", "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("a source past its share: %v, want ErrBusy", err)
	}
	if _, err := v.Verify(context.Background(), "other", "", "x"); err != nil {
		t.Fatalf("another source: %v", err)
	}
	if v.users["other"] != 0 || v.sources["other"] != nil {
		t.Fatal("a finished source is still held")
	}
}
