package audit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// Recorder writes the audit events of refusals: failures a caller may
// repeat at will, often without authenticating (a made-up client id, a
// garbage token, a wrong password). It is safe for concurrent use, and a
// failure to record is logged, never returned: the refusal stands.
type Recorder interface {
	Record(ctx context.Context, ev *store.Event)
}

// Aggregator is the [Recorder] of refusals: within a window, the first
// refusal of a kind (type and reason) from one source (address, client id
// and subject) is written at once, and the others are counted and written
// as one event with that count when the window ends. One address is told
// apart into at most PerAddress sources per window (the client ids and
// names it sends are the caller's choice), and all addresses into at most
// MaxKeys; past those, refusals are counted by address, then by kind
// alone. So whatever callers send, refusals cost at most about
// 2 × MaxKeys rows per window, and nothing is lost but the detail of
// repeats (a counted event keeps its source, not the family or token of
// each repeat). It is safe for concurrent use; [Aggregator.Run] writes
// the counts, and [Aggregator.Flush] writes them at once.
type Aggregator struct {
	st      store.Queries
	window  time.Duration
	maxKeys int
	now     func() time.Time
	log     *slog.Logger

	mu       sync.Mutex
	sources  map[sourceKey]*counted
	perIP    map[string]int // sources told apart per address this window
	overflow map[sourceKey]*counted
	// carry holds the counted events a failed flush could not write, for
	// the next flush: a database that is down for a while loses no count
	// (up to a bound, past which the oldest are dropped, with a log).
	carry []*store.Event
}

// Defaults of an Aggregator.
const (
	DefaultWindow  = 10 * time.Second
	DefaultMaxKeys = 1000
	// PerAddress bounds the sources one address is told apart into.
	PerAddress = 8
)

type sourceKey struct{ typ, reason, client, ip, subject string }

type counted struct {
	first store.Event
	extra int64
}

// NewAggregator returns an Aggregator writing to st; zero window and
// maxKeys take the defaults.
func NewAggregator(st store.Queries, window time.Duration, maxKeys int, now func() time.Time, log *slog.Logger) *Aggregator {
	if window <= 0 {
		window = DefaultWindow
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Aggregator{st: st, window: window, maxKeys: maxKeys, now: now, log: log,
		sources: map[sourceKey]*counted{}, perIP: map[string]int{}, overflow: map[sourceKey]*counted{}}
}

// Record writes ev, or counts it if one like it from the same source was
// written in this window.
func (a *Aggregator) Record(ctx context.Context, ev *store.Event) {
	k := sourceKey{ev.Type, ev.Reason, ev.ClientID, ev.IP, ev.Subject}
	a.mu.Lock()
	if c, ok := a.sources[k]; ok {
		c.extra++
		a.mu.Unlock()
		return
	}
	if len(a.sources) >= a.maxKeys || a.perIP[ev.IP] >= PerAddress {
		// By address while the address can be told apart, else by kind.
		ok, detail := sourceKey{typ: ev.Type, reason: ev.Reason, ip: ev.IP}, "aggregated: more client ids or names failed from this address in this window than are told apart"
		if len(a.sources) >= a.maxKeys && a.overflow[ok] == nil {
			ok, detail = sourceKey{typ: ev.Type, reason: ev.Reason}, "aggregated: more sources failed in this window than are told apart"
		}
		c, seen := a.overflow[ok]
		if !seen {
			c = &counted{first: store.Event{Type: ev.Type, Reason: ev.Reason, IP: ok.ip, Detail: detail}}
			a.overflow[ok] = c
		}
		c.extra++
		a.mu.Unlock()
		return
	}
	a.sources[k] = &counted{first: *ev}
	a.perIP[ev.IP]++
	a.mu.Unlock()
	if err := a.st.AppendEvents(ctx, ev); err != nil {
		a.log.ErrorContext(ctx, "audit: cannot record a refusal", "type", ev.Type, "reason", ev.Reason, "err", err)
	}
}

// Flush writes, as one event each, the refusals counted since the last
// flush and starts a new window.
func (a *Aggregator) Flush(ctx context.Context) error {
	a.mu.Lock()
	sources, overflow := a.sources, a.overflow
	a.sources, a.perIP, a.overflow = map[sourceKey]*counted{}, map[string]int{}, map[sourceKey]*counted{}
	a.mu.Unlock()
	now := a.now()
	var events []*store.Event
	for _, c := range sources {
		if c.extra > 0 {
			// The source, not the particulars of the first refusal: the
			// repeats may name other families or tokens.
			f := c.first
			events = append(events, &store.Event{Time: now, Type: f.Type, Reason: f.Reason, ClientID: f.ClientID,
				Subject: f.Subject, IP: f.IP, Actor: f.Actor, Count: c.extra,
				Detail: "aggregated: repeats within the window of the refusal recorded first"})
		}
	}
	for _, c := range overflow {
		ev := c.first
		ev.Time, ev.Count = now, c.extra
		events = append(events, &ev)
	}
	a.mu.Lock()
	events = append(a.carry, events...)
	a.carry = nil
	a.mu.Unlock()
	if len(events) == 0 {
		return nil
	}
	if err := a.st.AppendEvents(ctx, events...); err != nil {
		a.log.ErrorContext(ctx, "audit: cannot record counted refusals; kept for the next window", "events", len(events), "err", err)
		a.mu.Lock()
		if limit := 4 * a.maxKeys; len(events) > limit {
			a.log.ErrorContext(ctx, "audit: counted refusals lost while the database is unavailable", "events", len(events)-limit)
			events = events[len(events)-limit:]
		}
		a.carry = append(events, a.carry...)
		a.mu.Unlock()
		return err
	}
	return nil
}

// Run flushes every window until ctx ends, then once more.
func (a *Aggregator) Run(ctx context.Context) {
	t := time.NewTicker(a.window)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = a.Flush(fctx)
			cancel()
			return
		case <-t.C:
			// A stalled database holds up this worker only for a window.
			fctx, cancel := context.WithTimeout(ctx, a.window)
			_ = a.Flush(fctx)
			cancel()
		}
	}
}

// Direct is the [Recorder] that writes every refusal at once, for tools
// that make few of them (the CLI) and for tests that read them back.
type Direct struct {
	St  store.Queries
	Log *slog.Logger
}

// Record writes ev.
func (d Direct) Record(ctx context.Context, ev *store.Event) {
	if err := d.St.AppendEvents(ctx, ev); err != nil && d.Log != nil {
		d.Log.ErrorContext(ctx, "audit: cannot record a refusal", "type", ev.Type, "err", err)
	}
}
