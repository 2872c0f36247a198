package server

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/rotor-auth/rotor/internal/oauth"
	"github.com/rotor-auth/rotor/internal/secret"
)

// TestSlowHashesAreBounded: a caller that cannot get one of the slots in
// time gets temporarily_unavailable (503, Retry-After) rather than
// queueing forever or running one more argon2id; with a slot it verifies.
func TestSlowHashesAreBounded(t *testing.T) {
	phc := secret.HashPassword("pw")
	full := &slowHashes{slots: make(chan struct{}, 1), wait: 50 * time.Millisecond}
	full.slots <- struct{}{}
	_, err := full.verify(context.Background(), phc, "pw")
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Status != http.StatusServiceUnavailable || oe.RetryAfter != 1 {
		t.Fatalf("full limiter: %v", err)
	}
	<-full.slots
	if ok, err := full.verify(context.Background(), phc, "pw"); !ok || err != nil {
		t.Fatalf("free limiter: %v, %v", ok, err)
	}
	if ok, err := full.verify(context.Background(), "", "pw"); ok || err != nil {
		t.Fatalf("dummy verification = %v, %v, want false", ok, err)
	}
}
