// Package guardsql guards a whole database/sql pool: every call that
// database/sql makes into the driver (connect, prepare, exec, query, each
// Rows.Next, Rows.Close, begin, commit, rollback, ping, reset, close) runs
// under guard.DoContext on the calling goroutine, with the operation's
// context. A query's column names and first row are read in the query's
// own guarded call (a fault there is still the first Next's error).
//
//	db, err := guardsql.Open("sqlite3", dsn, guard.WithTimeout(5*time.Second))
//	...
//	err = db.QueryRowContext(ctx, q).Scan(&n)
//	var ce *guard.CrashError
//	if errors.As(err, &ce) { ... } // a fault in the driver's C code: the connection is gone, the pool goes on
//
// What it promises:
//
//   - A native fault in the driver's C code, or a C call stopped at the
//     operation's deadline or cancellation, comes back from the
//     database/sql call as the *guard.CrashError or *guard.InterruptError
//     (errors.As; errors.Is(err, context.DeadlineExceeded) for a deadline).
//     guard.WithTimeout given to Open is the deadline of an operation whose
//     context has none; the other options mean what they mean for
//     guard.DoContext.
//   - The connection such a call used is poisoned: it is never handed out
//     again (driver.Validator, driver.SessionResetter and driver.ErrBadConn
//     tell database/sql), and closing it never calls into the driver. It is
//     abandoned: kept referenced for the life of the process (so that no
//     finalizer of the driver's runs on it), and counted (Abandoned).
//   - The driver's own cancellation is not used: the driver is called
//     through its methods without a context where it has them (Prepare,
//     Stmt.Exec, Stmt.Query, Begin, Open), else with a context that is never
//     done, so that it has no reason to move its C call to a goroutine of
//     its own, where no guard can follow it. A call that returns past its
//     deadline and grace period without having been stopped must have
//     waited outside C on the calling goroutine: it returns ErrUnguarded and
//     the connection is poisoned.
//   - A Go panic in a driver callback (a Go function registered with the
//     driver) propagates as a panic; the connection is poisoned.
//
// Each fault or interrupt also reaches guard's hooks (guard.OnCrash,
// guard.OnInterrupt) before the database/sql call returns, so
// supervise.RestartOnTaint counts every abandoned connection. See
// docs/databases.md for what one abandoned connection costs per driver and
// what cannot be promised.
package guardsql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/internal/optinfo"
)

// ErrUnguarded is returned by a driver call that ran past its deadline and
// grace period and yet was not stopped by the guard: it was waiting outside
// a C call on the calling goroutine, most likely for a C call the driver
// moved to another goroutine, which no guard covers (a fault there is
// fatal). The connection is poisoned. It matches context.DeadlineExceeded.
var ErrUnguarded = errors.New("guardsql: the driver call ran past its deadline without being stopped: it waited outside C on the calling goroutine (does the driver run its C calls on another goroutine?); connection abandoned")

// Open is sql.Open for a registered driver, with every call into the
// driver guarded. A bad option is an error here. The driver is looked up
// through sql.Open, which does not connect (for a driver.DriverContext it
// calls OpenConnector, which parses the name, once unguarded; the guarded
// database calls it again).
func Open(driverName, dataSourceName string, opts ...guard.Option) (*sql.DB, error) {
	if _, _, err := optinfo.Settings(opts); err != nil {
		return nil, err
	}
	probe, err := sql.Open(driverName, dataSourceName)
	if err != nil {
		return nil, err
	}
	d := probe.Driver()
	probe.Close()
	w := Wrap(d, opts...).(*wdriver)
	c, err := w.OpenConnector(dataSourceName)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// OpenDB is sql.OpenDB for a connector, guarded the same way.
func OpenDB(c driver.Connector, opts ...guard.Option) *sql.DB {
	cfg := newConfig(opts)
	return sql.OpenDB(&connector{inner: c, drv: &wdriver{inner: c.Driver(), cfg: cfg}, cfg: cfg})
}

// Wrap returns a guarded driver.Driver, for sql.Register.
func Wrap(d driver.Driver, opts ...guard.Option) driver.Driver {
	return &wdriver{inner: d, cfg: newConfig(opts)}
}

// config is what every guarded call of one driver needs.
type config struct {
	opts      []guard.Option // the caller's, without WithTimeout
	timed     []guard.Option // opts and the WithTimeout (nil: none given)
	timeout   time.Duration
	grace     time.Duration
	optionErr error
	plain     bool // no options at all
}

func newConfig(opts []guard.Option) *config {
	c := &config{}
	var rest []guard.Option
	var last guard.Option
	for _, o := range opts {
		if o == nil {
			continue
		}
		if optinfo.IsTimeout(o) {
			last = o
			continue
		}
		rest = append(rest, o)
	}
	c.opts = rest
	if last != nil {
		c.timed = append(append([]guard.Option(nil), rest...), last)
	}
	c.timeout, c.grace, c.optionErr = optinfo.Settings(opts)
	c.plain = len(rest) == 0 && last == nil
	return c
}

// hopMargin is what a call may overrun its deadline and grace period by
// (scheduling, the Go code after the C call) before it counts as having
// waited outside C.
const hopMargin = 250 * time.Millisecond

// do runs f, a call into the driver, under guard.DoContext(ctx): ctx's
// deadline, else the configured timeout (guard.Do when there is neither
// and no option). It poisons p, the connection f used, when f faulted or
// was stopped (the guard's error is returned), when it overran its
// deadline without being stopped (ErrUnguarded is returned), and when a Go
// panic passes through (which goes on).
func (c *config) do(ctx context.Context, f func(), p poisoner) error {
	if c.plain && ctx.Done() == nil {
		// The common case: no deadline, no cancellation, no options (a
		// context that is never done has no deadline).
		finished := false
		defer func() {
			if !finished {
				p.poison() // a Go panic through the driver: its C state is unknown
			}
		}()
		err := guard.Do(f)
		finished = true
		if err != nil && poisons(err) {
			p.poison()
		}
		return err
	}
	if c.optionErr != nil {
		return c.optionErr
	}
	opts := c.opts
	var deadline time.Time
	dl, hasDeadline := ctx.Deadline()
	switch {
	case hasDeadline:
		deadline = dl
	case c.timed != nil:
		opts = c.timed
		deadline = time.Now().Add(c.timeout)
	}
	finished := false
	defer func() {
		if !finished {
			p.poison() // a Go panic through the driver: its C state is unknown
		}
	}()
	err := guard.DoContext(ctx, f, opts...)
	finished = true
	if err != nil {
		if poisons(err) {
			p.poison()
		}
		return err
	}
	if !deadline.IsZero() && c.grace >= 0 && time.Now().After(deadline.Add(c.grace+hopMargin)) {
		p.poison()
		return unguardedError{}
	}
	return nil
}

// poisons reports whether err, from guard.DoContext, means that f was
// abandoned part way.
func poisons(err error) bool {
	var ce *guard.CrashError
	var ie *guard.InterruptError
	return errors.As(err, &ce) || errors.As(err, &ie)
}

// unguardedError is the error of ErrUnguarded: it matches ErrUnguarded
// and context.DeadlineExceeded.
type unguardedError struct{}

func (unguardedError) Error() string { return ErrUnguarded.Error() }
func (unguardedError) Is(target error) bool {
	return target == ErrUnguarded || target == context.DeadlineExceeded
}

// noCancel is ctx for the driver: its values, never done.
func noCancel(ctx context.Context) context.Context {
	if ctx.Done() == nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}
