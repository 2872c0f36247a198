package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	sqlite "modernc.org/sqlite"

	"github.com/rotor-auth/rotor/internal/store"
)

// Group commit.
//
// SQLite has one writer, and with synchronous=FULL every commit waits for
// an fsync of the WAL. Run one transaction per commit and the writer is
// busy with fsyncs: concurrent refreshes queue behind each other. So one
// goroutine, the committer, owns the writer: it takes every transaction
// waiting for it (up to maxBatch), runs each one's function inside a
// savepoint of one SQLite transaction, in arrival order, and commits them
// together with one fsync. Nothing is weaker than one transaction per
// commit:
//
//   - atomicity: a function that fails (or panics) is rolled back to its
//     savepoint, undoing everything it wrote, and its caller gets its
//     error; the others are unaffected. Some errors (SQLITE_FULL, IOERR,
//     NOMEM) make SQLite roll back the whole transaction rather than the
//     statement, the writes of the functions before it included: the
//     committer notices (a rollback hook), answers that function with its
//     error, and runs the batch again without it. Once SQLite has rolled
//     back, the function's later statements are refused, since they would
//     otherwise each commit at once, outside the batch;
//   - isolation: the functions run one after the other on the one writer,
//     each seeing what the earlier ones wrote, exactly as serial
//     transactions would (LockFamily's guarantee holds);
//   - durability: Tx returns only after the commit (and its fsync) that
//     holds the function's writes; if that commit fails, every caller of
//     the batch gets the error and none of their writes exists.
//
// Callers are never told "committed" for writes that are not.

// maxBatch bounds how many transactions share one commit, so that one
// batch's latency stays bounded.
const maxBatch = 128

// txAttempts is how many times a batch is tried when the database is busy
// (another process holding the write lock past the busy timeout).
const txAttempts = 5

// errClosed is returned by Tx after Close.
var errClosed = errors.New("sqlite: database closed")

// errAborted is returned to the callers of a batch whose committer
// goroutine was ended by a transaction function (runtime.Goexit, as
// t.FailNow does); nothing of the batch was committed.
var errAborted = errors.New("sqlite: transaction aborted: its function ended the committing goroutine")

// txRequest is a transaction waiting for the committer.
type txRequest struct {
	ctx  context.Context
	fn   func(store.Tx) error
	done chan txResult // buffered, one result
	// state is queued, then running once the committer claims it, or
	// abandoned if its caller gave up first: an abandoned request never
	// runs, a running one is waited for.
	state atomic.Int32
}

const (
	reqQueued int32 = iota
	reqRunning
	reqAbandoned
)

// claim reports whether the committer may run r (again, on a retry of its
// batch): not if its caller gave up before it started.
func (r *txRequest) claim() bool {
	if r.state.Load() == reqRunning {
		return true
	}
	if r.ctx.Err() != nil {
		r.state.CompareAndSwap(reqQueued, reqAbandoned)
		return r.state.Load() == reqRunning
	}
	return r.state.CompareAndSwap(reqQueued, reqRunning) || r.state.Load() == reqRunning
}

// txResult is the outcome of one transaction function. A function that
// panicked has its panic value passed back to re-panic in the caller.
type txResult struct {
	err      error
	panicked bool
	value    any
}

// group is the committer's state.
type group struct {
	queue chan *txRequest
	mu    sync.RWMutex // guards closed against sends on a closed queue
	// closed is set by Close; later Tx calls fail with errClosed.
	closed bool
	// stopped is closed when the committer has finished the queue.
	stopped chan struct{}
	// batches counts the commits made, for tests.
	batches atomic.Int64
	// stmts are the statements prepared for the committer's transactions.
	stmts *stmtCache
	// rolledBack is set by SQLite's rollback hook on the writer: the
	// transaction of the batch in progress has ended without a commit
	// (ROLLBACK TO a savepoint does not call the hook).
	rolledBack atomic.Bool
}

// errRolledBack refuses the statements of a transaction function after
// SQLite has rolled its transaction back.
var errRolledBack = errors.New("sqlite: the transaction was rolled back (by SQLite, after a disk-full, I/O or out-of-memory error, or by a ROLLBACK): nothing of it is committed")

func (db *DB) startGroup() {
	db.group = &group{queue: make(chan *txRequest, 4*maxBatch), stopped: make(chan struct{}), stmts: newStmtCache()}
	go db.commitLoop()
}

// stopGroup lets the committer finish every transaction already queued and
// refuses new ones.
func (db *DB) stopGroup() {
	g := db.group
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.queue)
	}
	g.mu.Unlock()
	<-g.stopped
}

// Tx runs fn in a transaction, committed together with the transactions
// that are waiting at the same time (group commit, see above), and returns
// once that commit is durable. fn runs on the committer's goroutine with a
// transaction whose statements ctx does not interrupt (a cancelled caller
// must not abort the others' transaction); a caller whose ctx is done
// before fn's turn returns at once with ctx's error, and fn never runs. A
// transaction function must use only its tx: a call to this DB from inside
// it (a non-transactional write, a nested Tx) would wait for the committer
// that is running it, for ever. A busy database is retried a few times, running fn
// again; fn also runs again when another function of its batch made
// SQLite roll the shared transaction back. A panic in fn is raised again
// in the caller.
func (db *DB) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	if ctx.Err() != nil {
		return gaveUp(ctx)
	}
	req := &txRequest{ctx: ctx, fn: fn, done: make(chan txResult, 1)}
	g := db.group
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return errClosed
	}
	select {
	case g.queue <- req:
	case <-ctx.Done():
		g.mu.RUnlock()
		return gaveUp(ctx)
	}
	g.mu.RUnlock()
	var res txResult
	select {
	case res = <-req.done:
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return gaveUp(ctx) // it will never run
		}
		// Its function is running: its outcome is decided by the commit.
		res = <-req.done
	}
	if res.panicked {
		panic(res.value)
	}
	return res.err
}

// gaveUp is the error of a caller whose context ended before its turn.
// A deadline that passed while it waited means the database did not
// serve it in time: [store.ErrUnavailable], with the context's error in
// the chain. A cancellation is the caller's own decision, returned as it
// is.
func gaveUp(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: sqlite: waiting for the committer: %w", store.ErrUnavailable, ctx.Err())
	}
	return context.Cause(ctx)
}

// commitLoop is the committer.
func (db *DB) commitLoop() {
	g := db.group
	finished := false
	defer func() {
		if !finished {
			// A transaction function called runtime.Goexit; its batch has
			// been answered with errAborted. Keep committing for the rest.
			go db.commitLoop()
		}
	}()
	for req := range g.queue {
		batch := []*txRequest{req}
	drain:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-g.queue:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		db.runBatch(batch)
		// The writer is free until the next batch: prepare what the last
		// one ran unprepared.
		g.stmts.prepare(db.writer)
	}
	g.stmts.close()
	finished = true
	close(g.stopped)
}

// runBatch commits a batch, retrying it whole when the database is busy
// and without a function that made SQLite roll the transaction back, and
// answers every request of it exactly once.
func (db *DB) runBatch(batch []*txRequest) {
	defer func() {
		// Still unanswered: a function ended the goroutine (Goexit).
		for _, r := range batch {
			r.done <- txResult{err: errAborted}
		}
	}()
	var (
		results []txResult
		err     error
	)
	for attempt := 1; ; {
		results, err = db.groupTx(batch)
		if lost := (*lostTx)(nil); errors.As(err, &lost) {
			// Its own failure took the others' writes with it: answer it,
			// and run the others again without it.
			batch[lost.index].done <- results[lost.index]
			batch = slices.Delete(batch, lost.index, lost.index+1)
			if len(batch) == 0 {
				return
			}
			continue
		}
		if err == nil || !busy(err) || attempt == txAttempts {
			break
		}
		time.Sleep(time.Duration(rand.N(10*attempt)+1) * time.Millisecond)
		attempt++
	}
	for i, r := range batch {
		switch {
		case err == nil:
			r.done <- results[i]
		case results != nil && (results[i].err != nil || results[i].panicked):
			// Its own failure, rolled back anyway.
			r.done <- results[i]
		default:
			r.done <- txResult{err: err}
		}
	}
	batch = nil
}

// lostTx is the error of a batch whose function at index failed in a way
// that made SQLite roll back the whole transaction.
type lostTx struct{ index int }

func (e *lostTx) Error() string {
	return fmt.Sprintf("sqlite: function %d of the batch made SQLite roll back the transaction", e.index)
}

// savepoint names the savepoint around each function; they never nest.
const savepoint = "rotor_tx"

// groupTx runs the functions of a batch in one IMMEDIATE transaction, each
// in a savepoint, and commits. A non-nil error means nothing was
// committed; results then holds what each function had returned so far
// (nil if the transaction could not begin). A function's own failure is
// not an error of the batch: it is in its result, its writes undone.
//
// If SQLite rolls the transaction back inside the function at index i
// (see rolledBack), the error is a *lostTx for i when that function
// failed, so that runBatch runs the others again without it; when it
// reports success all the same, the whole batch fails.
func (db *DB) groupTx(batch []*txRequest) ([]txResult, error) {
	g := db.group
	ctx := context.Background()
	conn, err := db.writer.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin: %w", err)
	}
	defer conn.Close()
	// Registered on every batch, since database/sql may have replaced the
	// connection since the last one; it costs a map write.
	err = conn.Raw(func(dc any) error {
		h, ok := dc.(sqlite.HookRegisterer)
		if !ok {
			return fmt.Errorf("sqlite: the driver's connection %T has no rollback hook", dc)
		}
		h.RegisterRollbackHook(func() { g.rolledBack.Store(true) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	t, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin: %w", err)
	}
	g.rolledBack.Store(false)
	defer func() { _ = t.Rollback() }()
	d := detached{tx: t, g: g}
	q := &queries{r: d, w: d}
	results := make([]txResult, len(batch))
	if len(batch) == 1 {
		// Alone in its batch (as every transaction is when nothing else
		// waits): the transaction itself is its savepoint.
		r := batch[0]
		if !r.claim() {
			results[0] = txResult{err: gaveUp(r.ctx)}
			return results, nil
		}
		results[0] = call(r.fn, q)
		if g.rolledBack.Load() && results[0].err == nil && !results[0].panicked {
			return results, errRolledBack
		}
		if results[0].err != nil && busy(results[0].err) {
			return results, results[0].err
		}
		if results[0].err != nil || results[0].panicked {
			return results, nil // rolled back by the deferred Rollback
		}
		if err := t.Commit(); err != nil {
			return results, fmt.Errorf("sqlite: commit: %w", err)
		}
		g.batches.Add(1)
		return results, nil
	}
	for i, r := range batch {
		if !r.claim() {
			results[i] = txResult{err: gaveUp(r.ctx)}
			continue
		}
		if _, err := t.Exec(`SAVEPOINT ` + savepoint); err != nil {
			return results, fmt.Errorf("sqlite: savepoint: %w", err)
		}
		results[i] = call(r.fn, q)
		if g.rolledBack.Load() {
			// The savepoints are gone with the transaction.
			if results[i].err != nil || results[i].panicked {
				return results, &lostTx{index: i}
			}
			return results, errRolledBack
		}
		if results[i].err != nil && busy(results[i].err) {
			// Run the whole batch again rather than fail this one.
			return results, results[i].err
		}
		if results[i].err != nil || results[i].panicked {
			if _, err := t.Exec(`ROLLBACK TO ` + savepoint); err != nil {
				return results, fmt.Errorf("sqlite: rollback to savepoint: %w", err)
			}
		}
		if _, err := t.Exec(`RELEASE ` + savepoint); err != nil {
			return results, fmt.Errorf("sqlite: release savepoint: %w", err)
		}
	}
	if err := t.Commit(); err != nil {
		return results, fmt.Errorf("sqlite: commit: %w", err)
	}
	g.batches.Add(1)
	return results, nil
}

// call runs fn, catching a panic to hand back to its caller.
func call(fn func(store.Tx) error, q *queries) (res txResult) {
	defer func() {
		if v := recover(); v != nil {
			res = txResult{panicked: true, value: v}
		}
	}()
	return txResult{err: fn(q)}
}

// detached runs statements of the shared transaction with the caller's
// context values but without its cancellation: interrupting a write
// inside a transaction makes SQLite roll back the whole transaction, the
// other callers' writes with it. It runs the statements the committer has
// prepared already as such, and notes the others for it to prepare.
// Once SQLite has rolled the transaction back, it refuses every
// statement: the connection is in autocommit mode then, and each would
// commit on its own.
type detached struct {
	tx *sql.Tx
	g  *group
}

func (d detached) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if d.g.rolledBack.Load() {
		return nil, errRolledBack
	}
	ctx = context.WithoutCancel(ctx)
	if st := d.g.stmts.get(ctx, d.tx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return d.tx.ExecContext(ctx, query, args...)
}

func (d detached) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if d.g.rolledBack.Load() {
		return nil, errRolledBack
	}
	ctx = context.WithoutCancel(ctx)
	if st := d.g.stmts.get(ctx, d.tx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.tx.QueryContext(ctx, query, args...)
}

func (d detached) QueryRowContext(ctx context.Context, query string, args ...any) scanner {
	if d.g.rolledBack.Load() {
		return errRow{errRolledBack}
	}
	ctx = context.WithoutCancel(ctx)
	if st := d.g.stmts.get(ctx, d.tx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.tx.QueryRowContext(ctx, query, args...)
}

// maxCachedStmts bounds the prepared statements kept: the hot path uses a
// dozen; queries built from filters or row counts would otherwise grow the
// cache without end. maxCachedQuery keeps out the long multi-row INSERTs
// of bulk loads, which are not worth keeping.
const (
	maxCachedStmts = 64
	maxCachedQuery = 4 << 10
)

// stmtCache holds statements prepared once on the writer connection and
// reused by every later transaction, so that SQLite does not parse the
// same SQL for every refresh (parsing was a sixth of the server's CPU).
// Only the committer's goroutine uses it, so it needs no lock.
type stmtCache struct {
	stmts  map[string]*sql.Stmt
	wanted map[string]bool
}

func newStmtCache() *stmtCache {
	return &stmtCache{stmts: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

// get returns query's prepared statement bound to tx, or nil, noting the
// query to prepare once the writer connection is free again.
func (c *stmtCache) get(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	if st, ok := c.stmts[query]; ok {
		return tx.StmtContext(ctx, st)
	}
	if len(c.stmts)+len(c.wanted) < maxCachedStmts && len(query) <= maxCachedQuery {
		c.wanted[query] = true
	}
	return nil
}

// prepare prepares the queries noted since the last call, on the writer
// connection (free between transactions). A query that fails to prepare
// keeps running unprepared.
func (c *stmtCache) prepare(w *sql.DB) {
	for q := range c.wanted {
		delete(c.wanted, q)
		if st, err := w.Prepare(q); err == nil {
			c.stmts[q] = st
		}
	}
}

// close releases every prepared statement.
func (c *stmtCache) close() {
	for q, st := range c.stmts {
		_ = st.Close()
		delete(c.stmts, q)
	}
}
