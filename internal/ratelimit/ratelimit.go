// Package ratelimit counts what callers may do: token buckets by key
// (an address, a username), kept in memory and bounded, so that failures
// are limited before they cost anything slow. The operations issue shares
// the same interface across replicas through Redis.
//
// It imports nothing of Rotor's.
package ratelimit

import (
	"sync"
	"time"
)

// Limit is a token bucket: Burst tokens at most, one more every Every.
type Limit struct {
	Burst int
	Every time.Duration
}

// Memory is an in-memory set of token buckets. It is safe for concurrent
// use. It holds at most max keys: when full, it forgets the buckets that
// have refilled (which say nothing), then, if it must, the oldest half,
// so a flood of made-up keys costs bounded memory and at worst restores
// some callers' budgets early.
type Memory struct {
	mu      sync.Mutex
	now     func() time.Time
	max     int
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
	limit  Limit
}

// NewMemory returns an empty set of buckets; now is the clock, max the
// number of keys kept (100,000 when zero).
func NewMemory(now func() time.Time, max int) *Memory {
	if max <= 0 {
		max = 100_000
	}
	return &Memory{now: now, max: max, buckets: map[string]*bucket{}}
}

// Take spends one token of key's bucket if it has one. When it has none,
// ok is false and retry says when the next token arrives.
func (m *Memory) Take(key string, l Limit) (ok bool, retry time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	b := m.bucket(key, l, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(l.Every))
}

// Give returns one token to key's bucket (a reserved attempt that turned
// out well), up to its burst.
func (m *Memory) Give(key string, l Limit) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.bucket(key, l, m.now())
	b.tokens = min(b.tokens+1, float64(l.Burst))
}

// Empty reports whether key's bucket has no token left, without taking
// one.
func (m *Memory) Empty(key string, l Limit) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bucket(key, l, m.now()).tokens < 1
}

func (m *Memory) bucket(key string, l Limit, now time.Time) *bucket {
	b, ok := m.buckets[key]
	if !ok {
		if len(m.buckets) >= m.max {
			m.shrink(now)
		}
		b = &bucket{tokens: float64(l.Burst), at: now, limit: l}
		m.buckets[key] = b
		return b
	}
	if el := now.Sub(b.at); el > 0 && l.Every > 0 {
		b.tokens = min(float64(l.Burst), b.tokens+float64(el)/float64(l.Every))
	}
	b.at, b.limit = now, l
	return b
}

// shrink makes room: refilled buckets first, then the oldest half.
func (m *Memory) shrink(now time.Time) {
	for k, b := range m.buckets {
		if b.limit.Every > 0 && b.tokens+float64(now.Sub(b.at))/float64(b.limit.Every) >= float64(b.limit.Burst) {
			delete(m.buckets, k)
		}
	}
	if len(m.buckets) < m.max {
		return
	}
	// The older half, roughly: those last touched before the mean time.
	var sum float64
	for _, b := range m.buckets {
		sum += float64(now.Sub(b.at))
	}
	mean := time.Duration(sum / float64(len(m.buckets)))
	for k, b := range m.buckets {
		if now.Sub(b.at) >= mean {
			delete(m.buckets, k)
		}
	}
	if len(m.buckets) >= m.max {
		clear(m.buckets)
	}
}

// Len is the number of keys held, for tests.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}
