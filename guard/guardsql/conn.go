package guardsql

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"
	"sync/atomic"
)

// abandoned holds every poisoned connection's driver objects for the life
// of the process: calling into them again could hang on a lock the
// abandoned call still holds, and so could a finalizer of the driver's
// (go-sqlite3 sets one on its connections and statements) if they became
// unreachable.
var abandoned struct {
	mu   sync.Mutex
	list []any
	n    atomic.Int64
}

// Abandoned returns how many driver connections guardsql has abandoned in
// this process (a connection poisoned by a fault, a stopped call, a Go
// panic through the driver or ErrUnguarded, or one that faulted or was
// stopped while it was being opened). Each one still holds what the driver
// had allocated for it until the process exits: see docs/databases.md.
func Abandoned() int64 { return abandoned.n.Load() }

func abandon(x any) {
	abandoned.mu.Lock()
	abandoned.list = append(abandoned.list, x)
	abandoned.mu.Unlock()
	abandoned.n.Add(1)
}

// poisoner is what config.do marks when the call it ran was abandoned.
type poisoner interface{ poison() }

// wdriver is the guarded driver.Driver.
type wdriver struct {
	inner driver.Driver
	cfg   *config
}

func (d *wdriver) Open(name string) (driver.Conn, error) {
	return (&connector{name: name, drv: d, cfg: d.cfg}).Connect(context.Background())
}

// OpenConnector makes database/sql connect through connector.Connect,
// which guards the inner driver's Connect or Open with the context of the
// operation that needs the connection.
func (d *wdriver) OpenConnector(name string) (driver.Connector, error) {
	dc, ok := d.inner.(driver.DriverContext)
	if !ok {
		return &connector{name: name, drv: d, cfg: d.cfg}, nil
	}
	var ic driver.Connector
	var err error
	var p opening
	if gerr := d.cfg.do(context.Background(), func() { ic, err = dc.OpenConnector(name) }, &p); gerr != nil {
		return nil, gerr
	}
	if err != nil {
		return nil, err
	}
	return &connector{inner: ic, drv: d, cfg: d.cfg}, nil
}

// opening is the poisoner of a call that opens something: what it had
// opened when it was abandoned is counted as an abandoned connection.
type opening struct {
	got      any
	poisoned bool
}

func (o *opening) poison() {
	if !o.poisoned {
		o.poisoned = true
		abandon(o.got)
	}
}

// connector is the guarded driver.Connector: inner, or the inner driver's
// Open(name) when it has no connectors.
type connector struct {
	inner driver.Connector
	name  string
	drv   *wdriver
	cfg   *config
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	var ic driver.Conn
	var err error
	var p opening
	var gerr error
	if c.inner != nil {
		gerr = c.cfg.do(ctx, func() { ic, err = c.inner.Connect(noCancel(ctx)); p.got = ic }, &p)
	} else {
		gerr = c.cfg.do(ctx, func() { ic, err = c.drv.inner.Open(c.name); p.got = ic }, &p)
	}
	if gerr != nil {
		// Not started (nothing was opened), or abandoned: what the
		// driver had opened is counted (p) and kept.
		return nil, gerr
	}
	if err != nil {
		return nil, err
	}
	return newConn(ic, c.cfg), nil
}

func (c *connector) Driver() driver.Driver { return c.drv }

// conn is a guarded driver connection.
type conn struct {
	inner    driver.Conn
	cfg      *config
	first    bool // no WithTimeout: a query may read its first row (fetch)
	poisoned atomic.Bool

	// What inner implements, found once.
	execer     driver.Execer  //nolint:staticcheck // the context-free form on purpose
	queryer    driver.Queryer //nolint:staticcheck
	execerCtx  driver.ExecerContext
	queryerCtx driver.QueryerContext
	beginTx    driver.ConnBeginTx
	pinger     driver.Pinger
	resetter   driver.SessionResetter
	validator  driver.Validator
	checker    driver.NamedValueChecker

	mu       sync.Mutex
	retained []any // the driver's statements and rows of a poisoned conn

	// rows1 serves the connection's queries one at a time without an
	// allocation (database/sql calls nothing on rows once they are
	// closed), and holds their first row (fetch); a query while it is
	// busy gets rows of its own. Like the rest of a driver.Conn, it is
	// used by one goroutine at a time (database/sql holds the
	// connection's lock around every call).
	rows1     rows
	rows1Busy bool
}

func newConn(ic driver.Conn, cfg *config) *conn {
	c := &conn{inner: ic, cfg: cfg, first: cfg.timed == nil}
	c.rows1.c = c
	c.execer, _ = ic.(driver.Execer)   //nolint:staticcheck
	c.queryer, _ = ic.(driver.Queryer) //nolint:staticcheck
	c.execerCtx, _ = ic.(driver.ExecerContext)
	c.queryerCtx, _ = ic.(driver.QueryerContext)
	c.beginTx, _ = ic.(driver.ConnBeginTx)
	c.pinger, _ = ic.(driver.Pinger)
	c.resetter, _ = ic.(driver.SessionResetter)
	c.validator, _ = ic.(driver.Validator)
	c.checker, _ = ic.(driver.NamedValueChecker)
	return c
}

func (c *conn) newRows(inner driver.Rows, f *fetch, ctx context.Context) *rows {
	if !c.rows1Busy {
		c.rows1Busy = true
		r := &c.rows1
		r.inner, r.cols, r.ctx, r.err, r.pre = inner, f.cols, ctx, nil, f.state == fetched
		return r
	}
	return &rows{inner: inner, cols: f.cols, c: c, ctx: ctx}
}

// fetch is what a query's guarded call reads after the driver's query
// has returned its rows, to save a guarded call of its own for each: the
// column names (database/sql asks for them before the first Next in any
// case) and, when the connection's rows1 are free (into), the first row
// (which database/sql's first Next then takes). With go-sqlite3 the first
// row is already stepped by the query; another driver fetches it a call
// earlier than it would have, under the same context. Not with
// WithTimeout, whose deadline is each call's own: the query and its
// first Next would share one.
type fetch struct {
	cols  []string
	into  *rows // rows1, to read the first row into; nil: not read
	state int8  // fetching, fetched: of the first row
}

const (
	fetching = 1 + iota // the first row's Next is running
	fetched             // it has returned: into.first, into.firstErr
)

// read runs in the query's guarded call, after the query.
func (f *fetch) read(rs driver.Rows, err error) {
	if err != nil || rs == nil {
		return
	}
	f.cols = rs.Columns()
	r := f.into
	if r == nil {
		return
	}
	if n := len(f.cols); len(r.first) != n {
		if cap(r.first) < n {
			r.first = make([]driver.Value, n)
		}
		r.first = r.first[:n]
	}
	f.state = fetching
	r.firstErr = rs.Next(r.first)
	f.state = fetched
}

// queried is the end of a query whose guarded call returned rs and err
// (the driver's) and gerr (the guard's). A fault or stop while the first
// row was being read (the query itself had returned) is that first
// Next's error, as it would have been without fetch.
func (c *conn) queried(ctx context.Context, rs driver.Rows, err, gerr error, f *fetch) (driver.Rows, error) {
	if gerr != nil {
		if rs == nil {
			return nil, gerr
		}
		c.retain(rs)
		if f.state != fetching {
			if f.into != nil {
				f.into.dropFirst()
			}
			return nil, gerr
		}
		f.state = 0
		r := c.newRows(rs, f, ctx)
		r.err = gerr
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	return c.newRows(rs, f, ctx), nil
}

func (c *conn) poison() {
	if c.poisoned.CompareAndSwap(false, true) {
		abandon(c)
	}
}

// retain keeps x, a driver object of c's, reachable for good once c is
// poisoned.
func (c *conn) retain(x any) {
	c.mu.Lock()
	c.retained = append(c.retained, x)
	c.mu.Unlock()
}

// call runs f, a call into the driver on c, under the guard (c.cfg.do).
func (c *conn) call(ctx context.Context, f func()) error {
	if c.poisoned.Load() {
		return driver.ErrBadConn
	}
	return c.cfg.do(ctx, f, c)
}

// noCancel is noCancel(ctx), or for c.plain (nothing to see in ctx but
// Done) context.Background().
func (c *conn) noCancel(ctx context.Context) context.Context {
	if c.cfg.plain {
		return context.Background()
	}
	return noCancel(ctx)
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var s driver.Stmt
	var err error
	if gerr := c.call(ctx, func() { s, err = c.inner.Prepare(query) }); gerr != nil {
		if s != nil {
			c.retain(s)
		}
		return nil, gerr
	}
	if err != nil {
		return nil, err
	}
	return &stmt{inner: s, c: c}, nil
}

// Close closes the driver connection, unless it is poisoned: then it was
// abandoned when it was poisoned, and Close does nothing.
func (c *conn) Close() error {
	var err error
	gerr := c.call(context.Background(), func() { err = c.inner.Close() })
	if c.poisoned.Load() {
		return nil
	}
	if gerr != nil {
		return gerr
	}
	return err
}

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var t driver.Tx
	var err error
	var gerr error
	if opts == (driver.TxOptions{}) {
		gerr = c.call(ctx, func() { t, err = c.inner.Begin() })
	} else if bt := c.beginTx; bt != nil {
		gerr = c.call(ctx, func() { t, err = bt.BeginTx(noCancel(ctx), opts) })
	} else if opts.ReadOnly {
		return nil, errors.New("sql: driver does not support read-only transactions")
	} else {
		return nil, errors.New("sql: driver does not support non-default isolation level")
	}
	if gerr != nil {
		return nil, gerr
	}
	if err != nil {
		return nil, err
	}
	return &tx{inner: t, c: c, ctx: ctx}, nil
}

// ExecContext uses the driver's Execer (no context) for positional
// arguments, its ExecerContext (with a context that is never done) for
// named ones, or neither: database/sql then prepares the statement and
// executes it (Prepare and Stmt.Exec take no context), which keeps a
// driver whose ExecContext runs the statement on a goroutine of its own
// from doing so.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	var r driver.Result
	var err error
	var gerr error
	ex, exc := c.execer, c.execerCtx
	hasEx, hasExc := ex != nil, exc != nil
	switch {
	case hasEx && (!named(args) || !hasExc):
		vals, verr := values(args)
		if verr != nil {
			return nil, verr
		}
		gerr = c.call(ctx, func() { r, err = ex.Exec(query, vals) })
	case hasExc && named(args):
		gerr = c.call(ctx, func() { r, err = exc.ExecContext(noCancel(ctx), query, args) })
	default:
		return nil, driver.ErrSkip
	}
	if gerr != nil {
		return nil, gerr
	}
	if err != nil {
		return nil, err
	}
	return &result{inner: r, c: c}, nil
}

// QueryContext is ExecContext for queries.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	var rs driver.Rows
	var err error
	var gerr error
	var f fetch
	if c.first && !c.rows1Busy {
		f.into = &c.rows1
	}
	q, qc := c.queryer, c.queryerCtx
	hasQ, hasQc := q != nil, qc != nil
	switch {
	case hasQ && (!named(args) || !hasQc):
		vals, verr := values(args)
		if verr != nil {
			return nil, verr
		}
		gerr = c.call(ctx, func() { rs, err = q.Query(query, vals); f.read(rs, err) })
	case hasQc && named(args):
		gerr = c.call(ctx, func() { rs, err = qc.QueryContext(noCancel(ctx), query, args); f.read(rs, err) })
	default:
		// Without a context-free Query, prepare and query the statement
		// (Prepare and Stmt.Query take no context): a driver's
		// QueryContext may run the query on a goroutine of its own
		// whatever the context (github.com/alexbrainman/odbc does).
		return nil, driver.ErrSkip
	}
	if gerr == nil && err == nil {
		return c.newRows(rs, &f, ctx), nil
	}
	return c.queried(ctx, rs, err, gerr, &f)
}

func (c *conn) Ping(ctx context.Context) error {
	p := c.pinger
	if p == nil {
		if c.poisoned.Load() {
			return driver.ErrBadConn
		}
		return nil
	}
	var err error
	if gerr := c.call(ctx, func() { err = p.Ping(noCancel(ctx)) }); gerr != nil {
		return gerr
	}
	return err
}

// ResetSession tells database/sql that a poisoned connection is bad
// before it is handed out again.
func (c *conn) ResetSession(ctx context.Context) error {
	if c.poisoned.Load() {
		return driver.ErrBadConn
	}
	sr := c.resetter
	if sr == nil {
		return nil
	}
	var err error
	if gerr := c.call(ctx, func() { err = sr.ResetSession(noCancel(ctx)) }); gerr != nil {
		if c.poisoned.Load() {
			return driver.ErrBadConn
		}
		return gerr
	}
	return err
}

// IsValid tells database/sql not to put a poisoned connection back into
// its pool.
func (c *conn) IsValid() bool {
	if c.poisoned.Load() {
		return false
	}
	v := c.validator
	if v == nil {
		return true
	}
	valid := false
	if gerr := c.call(context.Background(), func() { valid = v.IsValid() }); gerr != nil {
		return false
	}
	return valid
}

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if c.checker != nil {
		return c.checker.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func named(args []driver.NamedValue) bool {
	for i := range args {
		if args[i].Name != "" {
			return true
		}
	}
	return false
}

func values(args []driver.NamedValue) ([]driver.Value, error) {
	if len(args) == 0 {
		return nil, nil
	}
	vals := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errors.New("sql: driver does not support the use of Named Parameters")
		}
		vals[i] = a.Value
	}
	return vals, nil
}

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
	_ driver.DriverContext      = (*wdriver)(nil)
)
