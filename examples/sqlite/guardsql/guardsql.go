// Package guardsql runs database/sql operations on SQLite (through
// github.com/mattn/go-sqlite3) under guard.DoContext, each on a dedicated
// *sql.Conn, and abandons that connection after a fault or an interrupt:
// it is never closed and never goes back to a pool, so no one uses it
// again and nothing waits on the lock it still holds. See docs/sqlite.md.
package guardsql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/cgoguard/cgoguard/guard"
)

// ErrRestartDue is returned by Run, without running the operation, once
// the Runner has abandoned its limit of connections: each one leaks its C
// connection, its memory and its locks until the process exits.
var ErrRestartDue = errors.New("guardsql: abandoned-connection limit reached; restart the process")

// Runner hands each operation a connection of its own. It owns db.
type Runner struct {
	db    *sql.DB
	limit int

	mu        sync.Mutex
	idle      []*sql.Conn
	abandoned []*sql.Conn
	closed    bool
}

// New returns a Runner over db that abandons at most limit connections
// before Run refuses work (ErrRestartDue). An abandoned connection stays
// counted in db's open connections for good, so db's MaxOpenConns, if
// set, must be more than limit.
func New(db *sql.DB, limit int) (*Runner, error) {
	if limit < 1 {
		return nil, fmt.Errorf("guardsql: limit %d: must be at least 1", limit)
	}
	if m := db.Stats().MaxOpenConnections; m != 0 && m <= limit {
		return nil, fmt.Errorf("guardsql: MaxOpenConns %d must exceed the abandon limit %d", m, limit)
	}
	return &Runner{db: db, limit: limit}, nil
}

// Conn is what an operation gets: a dedicated connection and a context
// that carries the caller's values but is never done. Everything the
// operation does through it runs on the goroutine of Run's DoContext;
// cancellation belongs to DoContext.
type Conn struct {
	ctx context.Context
	c   *sql.Conn
}

// Context is the operation's context: the caller's values, no
// cancellation. Pass only this one to the driver.
func (c *Conn) Context() context.Context { return c.ctx }

// Exec runs a statement that returns no rows.
func (c *Conn) Exec(query string, args ...any) (sql.Result, error) {
	return c.c.ExecContext(c.ctx, query, args...)
}

// Query runs a query. Read and close the rows inside the operation: rows
// read after Run returns are not covered.
func (c *Conn) Query(query string, args ...any) (*sql.Rows, error) {
	return c.c.QueryContext(c.ctx, query, args...)
}

// QueryRow runs a query that returns at most one row.
func (c *Conn) QueryRow(query string, args ...any) *sql.Row {
	return c.c.QueryRowContext(c.ctx, query, args...)
}

// SQL is the underlying connection, for what Conn lacks. Call it only
// with Context(): a cancellable context makes go-sqlite3 execute on a
// goroutine of its own, where a fault is fatal.
func (c *Conn) SQL() *sql.Conn { return c.c }

// Run runs op on a dedicated connection under guard.DoContext(ctx, …,
// opts...). On a *guard.CrashError or *guard.InterruptError (forced or
// not: either way the C call was abandoned with SQLite's connection mutex
// held) and on a Go panic out of op, the connection is abandoned; the
// error, or the panic, is passed on. Any other outcome, op's own errors
// included, puts the connection back for the next Run.
func (r *Runner) Run(ctx context.Context, op func(c *Conn) error, opts ...guard.Option) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errors.New("guardsql: Runner closed")
	}
	if len(r.abandoned) >= r.limit {
		r.mu.Unlock()
		return ErrRestartDue
	}
	var sc *sql.Conn
	if n := len(r.idle); n > 0 {
		sc, r.idle = r.idle[n-1], r.idle[:n-1]
	}
	r.mu.Unlock()

	var opErr error
	ran, finished := false, false
	defer func() {
		switch {
		case ran && !finished:
			r.abandon(sc) // nil if opening it failed: its slot is lost too
		case sc != nil:
			r.release(sc)
		}
	}()
	err := guard.DoContext(ctx, func() {
		ran = true
		if sc == nil {
			// Opening runs C too (sqlite3_open_v2, the ConnectHook), so it
			// is inside the guard; the wait for a free slot honours ctx.
			c, err := r.db.Conn(ctx)
			if err != nil {
				opErr = err
				finished = true
				return
			}
			sc = c
		}
		opErr = op(&Conn{ctx: context.WithoutCancel(ctx), c: sc})
		finished = true
	}, opts...)
	if err != nil {
		return err
	}
	return opErr
}

func (r *Runner) abandon(c *sql.Conn) {
	r.mu.Lock()
	r.abandoned = append(r.abandoned, c)
	r.mu.Unlock()
}

func (r *Runner) release(c *sql.Conn) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		c.Close()
		return
	}
	r.idle = append(r.idle, c)
	r.mu.Unlock()
}

// Abandoned returns how many connections have been abandoned.
func (r *Runner) Abandoned() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.abandoned)
}

// RestartDue reports whether the abandon limit has been reached.
func (r *Runner) RestartDue() bool { return r.Abandoned() >= r.limit }

// Close closes the healthy connections and db. Abandoned connections are
// left as they are (closing one would wait for the mutex its abandoned
// call holds), so Close does not wait on them; what they hold is freed
// when the process exits.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.closed = true
	idle := r.idle
	r.idle = nil
	r.mu.Unlock()
	var errs []error
	for _, c := range idle {
		errs = append(errs, c.Close())
	}
	errs = append(errs, r.db.Close())
	return errors.Join(errs...)
}
