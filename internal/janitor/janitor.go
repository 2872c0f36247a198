package janitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rotor-auth/rotor/internal/store"
)

// DefaultBatchSize is how many rows one statement deletes at most. Small
// batches keep each write short, so the janitor never holds the database
// long against the token endpoint.
const DefaultBatchSize = 500

// KeyCollector deletes signing keys that no token can need any more and
// reports how many it deleted. The keys package's Manager implements it.
type KeyCollector interface {
	Collect(ctx context.Context) (int, error)
}

// Options configure a [Janitor].
type Options struct {
	// AuditRetention is how long audit events are kept; zero keeps them
	// forever.
	AuditRetention time.Duration
	// Keys, when set, retires old signing keys on each pass.
	Keys KeyCollector
	// BatchSize caps the rows of one statement; DefaultBatchSize when
	// zero.
	BatchSize int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log receives a line per pass that removed something, and errors.
	Log *slog.Logger
}

// Janitor deletes what has expired. It is safe for concurrent use, and
// several replicas may run one each: every statement deletes only rows
// that are already expired, so passes that overlap just find less to do.
type Janitor struct {
	st   store.Store
	opts Options
}

// New returns a Janitor over st.
func New(st store.Store, opts Options) *Janitor {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Janitor{st: st, opts: opts}
}

// Stats count what one pass removed.
type Stats struct {
	// Families past their absolute expiry, deleted.
	Families int `json:"families"`
	// GraceSeals are sealed grace successors wiped after their period.
	GraceSeals int `json:"grace_seals"`
	// Denials are expired deny-list entries, deleted.
	Denials int `json:"denials"`
	// Events are audit events past their retention, deleted.
	Events int `json:"events"`
	// Keys are retired signing keys, deleted.
	Keys int `json:"keys"`
	// Codes are authorization codes past their keep time, deleted.
	Codes int `json:"codes"`
	// Sessions are browser sessions that ended or expired, deleted.
	Sessions int `json:"sessions"`
	// DeviceCodes are device authorization requests past their keep
	// time, deleted.
	DeviceCodes int `json:"device_codes"`
}

// CodeKeep is how long an authorization code's row outlives the code: a
// used code that comes back within it still revokes the grant it made
// (RFC 6749 §4.1.2); later it is only unknown.
const CodeKeep = time.Hour

// Total is the number of rows the pass removed or cleared.
func (s Stats) Total() int {
	return s.Families + s.GraceSeals + s.Denials + s.Events + s.Keys + s.Codes + s.Sessions + s.DeviceCodes
}

// Once runs one full pass: each kind of row is deleted in batches until a
// batch comes back short. A failing task does not stop the others; the
// error joins every failure, and Stats counts what was done all the same.
func (j *Janitor) Once(ctx context.Context) (Stats, error) {
	now := j.opts.Now()
	var s Stats
	var errs []error
	run := func(what string, n *int, batch func(limit int) (int, error)) {
		got, err := j.drain(ctx, batch)
		*n += got
		if err != nil {
			errs = append(errs, fmt.Errorf("janitor: %s: %w", what, err))
		}
	}
	run("delete expired families", &s.Families, func(limit int) (int, error) {
		return j.st.DeleteExpiredFamilies(ctx, now, limit)
	})
	run("clear expired grace successors", &s.GraceSeals, func(limit int) (int, error) {
		return j.st.ClearExpiredGrace(ctx, now, limit)
	})
	run("delete expired deny-list entries", &s.Denials, func(limit int) (int, error) {
		return j.st.DeleteExpiredDenials(ctx, now, limit)
	})
	run("delete old authorization codes", &s.Codes, func(limit int) (int, error) {
		return j.st.DeleteExpiredAuthCodes(ctx, now.Add(-CodeKeep), limit)
	})
	run("delete old device codes", &s.DeviceCodes, func(limit int) (int, error) {
		return j.st.DeleteExpiredDeviceCodes(ctx, now.Add(-CodeKeep), limit)
	})
	run("delete ended browser sessions", &s.Sessions, func(limit int) (int, error) {
		return j.st.DeleteExpiredSessions(ctx, now, limit)
	})
	if j.opts.AuditRetention > 0 {
		before := now.Add(-j.opts.AuditRetention)
		run("delete old audit events", &s.Events, func(limit int) (int, error) {
			return j.st.DeleteEventsBefore(ctx, before, limit)
		})
	}
	if j.opts.Keys != nil && ctx.Err() == nil {
		n, err := j.opts.Keys.Collect(ctx)
		s.Keys = n
		if err != nil {
			errs = append(errs, fmt.Errorf("janitor: retire signing keys: %w", err))
		}
	}
	return s, errors.Join(errs...)
}

// drain calls batch until it returns fewer rows than a full batch.
func (j *Janitor) drain(ctx context.Context, batch func(limit int) (int, error)) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := batch(j.opts.BatchSize)
		total += n
		if err != nil || n < j.opts.BatchSize {
			return total, err
		}
	}
}

// Run runs a pass at once and then every interval until ctx is done. A
// failed pass is logged and the next one runs as usual: the janitor never
// stops on an error.
func (j *Janitor) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		j.pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (j *Janitor) pass(ctx context.Context) {
	s, err := j.Once(ctx)
	if err != nil && ctx.Err() == nil {
		j.opts.Log.ErrorContext(ctx, "janitor pass failed", "err", err)
	}
	if s.Total() > 0 {
		j.opts.Log.InfoContext(ctx, "janitor pass",
			"families", s.Families, "grace_seals", s.GraceSeals, "denials", s.Denials, "events", s.Events, "keys", s.Keys)
	}
}
