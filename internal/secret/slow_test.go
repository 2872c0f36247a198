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
	_, err := full.Verify(context.Background(), phc, "pw")
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("full limiter: %v", err)
	}
	<-full.slots
	if ok, err := full.Verify(context.Background(), phc, "pw"); !ok || err != nil {
		t.Fatalf("free limiter: %v, %v", ok, err)
	}
	if ok, err := full.Verify(context.Background(), "", "pw"); ok || err != nil {
		t.Fatalf("dummy verification = %v, %v, want false", ok, err)
	}
}
