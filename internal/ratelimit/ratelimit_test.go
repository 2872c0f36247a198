package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestBucket: a burst, then one token per interval; Give refunds up to
// the burst.
func TestBucket(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	m := NewMemory(c.now, 0)
	l := Limit{Burst: 3, Every: 10 * time.Second}
	for i := range 3 {
		if ok, _ := m.Take("k", l); !ok {
			t.Fatalf("take %d refused within the burst", i)
		}
	}
	ok, retry := m.Take("k", l)
	if ok || retry != 10*time.Second || !m.Empty("k", l) {
		t.Fatalf("over the burst: ok=%v retry=%v", ok, retry)
	}
	c.t = c.t.Add(5 * time.Second)
	if ok, retry := m.Take("k", l); ok || retry != 5*time.Second {
		t.Fatalf("half an interval later: ok=%v retry=%v", ok, retry)
	}
	c.t = c.t.Add(5 * time.Second)
	if ok, _ := m.Take("k", l); !ok {
		t.Fatal("a token did not come back after an interval")
	}
	m.Give("k", l)
	if ok, _ := m.Take("k", l); !ok {
		t.Fatal("a refunded token is not there")
	}
	if ok, _ := m.Take("other", l); !ok {
		t.Fatal("keys share a bucket")
	}
}

// TestBounded: made-up keys never grow the set past its bound.
func TestBounded(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	m := NewMemory(c.now, 100)
	l := Limit{Burst: 1, Every: time.Hour}
	for i := range 10_000 {
		c.t = c.t.Add(time.Millisecond)
		m.Take(fmt.Sprint("key", i), l)
		if m.Len() > 100 {
			t.Fatalf("%d keys held after %d, bound 100", m.Len(), i)
		}
	}
	// The newest keys are still limited.
	if ok, _ := m.Take("key9999", l); ok {
		t.Fatal("the newest key lost its bucket")
	}
}
