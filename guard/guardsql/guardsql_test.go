//go:build linux && amd64 && cgo

package guardsql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/guardsql"
	"github.com/cgoguard/cgoguard/guard/internal/examplec"
)

// A fake driver whose calls reach real C through plain cgo calls, as a
// binding's do (examplec: Parse faults on a non-digit, Stall blocks in
// nanosleep for ever). The query text says what a call does:
//
//	fault      SIGSEGV in C
//	stall      blocks in C
//	panic      a Go panic
//	gowait     waits 800ms in Go (as a driver that moved its C call to
//	           another goroutine would)
//	rows:N:F   N rows, a fault in Next on row F (0: none)
//
// Opening a connection named "stall" blocks in C.
type fakeDriver struct {
	mu    sync.Mutex
	conns []*fakeConn
}

func (d *fakeDriver) Open(name string) (driver.Conn, error) {
	if name == "stall" {
		examplec.Stall()
	}
	c := &fakeConn{}
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	return c, nil
}

type fakeConn struct {
	closes     atomic.Int32 // Close calls
	ctxCalls   atomic.Int32 // calls of a context method
	cancelable atomic.Int32 // of those, given a context that can be done
	rowsCloses atomic.Int32
}

func (c *fakeConn) run(q string) {
	switch q {
	case "fault":
		examplec.Parse("4x2")
	case "stall":
		examplec.Stall()
	case "panic":
		panic("fake driver panic")
	case "gowait":
		time.Sleep(800 * time.Millisecond)
	}
}

func (c *fakeConn) Prepare(q string) (driver.Stmt, error) { return &fakeStmt{c: c, q: q}, nil }
func (c *fakeConn) Close() error                          { c.closes.Add(1); return nil }
func (c *fakeConn) Begin() (driver.Tx, error)             { return fakeTx{}, nil }

func (c *fakeConn) Exec(q string, args []driver.Value) (driver.Result, error) {
	c.run(q)
	return driver.RowsAffected(1), nil
}

func (c *fakeConn) Query(q string, args []driver.Value) (driver.Rows, error) {
	c.run(q)
	return c.rows(q), nil
}

func (c *fakeConn) noteCtx(ctx context.Context) {
	c.ctxCalls.Add(1)
	if ctx.Done() != nil {
		c.cancelable.Add(1)
	}
}

func (c *fakeConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.noteCtx(ctx)
	c.run(q)
	return driver.RowsAffected(1), nil
}

func (c *fakeConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.noteCtx(ctx)
	c.run(q)
	return c.rows(q), nil
}

func (c *fakeConn) rows(q string) *fakeRows {
	r := &fakeRows{c: c, n: 1}
	if f := strings.Split(q, ":"); len(f) == 3 && f[0] == "rows" {
		r.n = int(f[1][0] - '0')
		r.fault = int(f[2][0] - '0')
	}
	return r
}

type fakeStmt struct {
	c *fakeConn
	q string
}

func (s *fakeStmt) Close() error  { return nil }
func (s *fakeStmt) NumInput() int { return -1 }
func (s *fakeStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.c.Exec(s.q, args)
}
func (s *fakeStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.c.Query(s.q, args)
}

type fakeRows struct {
	c     *fakeConn
	i, n  int
	fault int
}

func (r *fakeRows) Columns() []string { return []string{"x"} }
func (r *fakeRows) Close() error      { r.c.rowsCloses.Add(1); return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	r.i++
	if r.i == r.fault {
		examplec.Parse("row")
	}
	if r.i > r.n {
		return io.EOF
	}
	dest[0] = int64(r.i)
	return nil
}

type fakeTx struct{}

func (fakeTx) Commit() error   { return nil }
func (fakeTx) Rollback() error { return nil }

var registerOnce sync.Once
var fake = &fakeDriver{}

// open is guardsql.Open over the fake driver, one connection at most (so
// that the test knows which fake connection a call used).
func open(t *testing.T, name string, opts ...guard.Option) *sql.DB {
	t.Helper()
	registerOnce.Do(func() { sql.Register("guardsql_fake", fake) })
	db, err := guardsql.Open("guardsql_fake", name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func lastConn() *fakeConn {
	fake.mu.Lock()
	defer fake.mu.Unlock()
	return fake.conns[len(fake.conns)-1]
}

func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("did not return within %v", d)
	}
}

func wantCrash(t *testing.T, err error) {
	t.Helper()
	var ce *guard.CrashError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *guard.CrashError", err)
	}
}

// A fault comes back from the database/sql call; the connection is never
// used again and never closed through the driver; the next call gets a
// new one.
func TestFaultAbandonsConnection(t *testing.T) {
	db := open(t, "a")
	before := guardsql.Abandoned()
	var v int
	var err error
	within(t, 10*time.Second, func() { err = db.QueryRow("SELECT 1").Scan(&v) })
	if err != nil {
		t.Fatal(err)
	}
	first := lastConn()
	within(t, 10*time.Second, func() { err = db.QueryRow("fault").Scan(&v) })
	wantCrash(t, err)
	within(t, 10*time.Second, func() { _, err = db.Exec("SELECT 1") })
	if err != nil {
		t.Fatal(err)
	}
	if lastConn() == first {
		t.Fatal("no new connection after the fault")
	}
	if n := first.closes.Load(); n != 0 {
		t.Errorf("the poisoned connection was closed through the driver %d times", n)
	}
	if n := guardsql.Abandoned() - before; n != 1 {
		t.Errorf("%d abandoned, want 1", n)
	}
	within(t, 5*time.Second, func() { db.Close() })
}

// A fault in Rows.Next on row 3: two rows read, the error from rows.Err,
// and the driver's rows never closed (their connection is poisoned).
func TestRowsNextFault(t *testing.T) {
	db := open(t, "b")
	var n int
	var err error
	within(t, 10*time.Second, func() {
		rows, qerr := db.Query("rows:5:3")
		if qerr != nil {
			err = qerr
			return
		}
		for rows.Next() {
			n++
		}
		err = rows.Err()
		rows.Close()
	})
	wantCrash(t, err)
	if n != 2 {
		t.Errorf("%d rows before the fault, want 2", n)
	}
	if c := lastConn(); c.rowsCloses.Load() != 0 || c.closes.Load() != 0 {
		t.Errorf("the poisoned connection's rows closed %d times, the connection %d", c.rowsCloses.Load(), c.closes.Load())
	}
}

// WithTimeout is the deadline of a call whose context has none, and only
// then: a context deadline later than it is the one that holds.
func TestTimeoutIsADefault(t *testing.T) {
	db := open(t, "c", guard.WithTimeout(100*time.Millisecond))
	for _, tc := range []struct {
		ctxTimeout time.Duration
		min, max   time.Duration
	}{{0, 90 * time.Millisecond, 2 * time.Second}, {400 * time.Millisecond, 380 * time.Millisecond, 3 * time.Second}} {
		ctx := context.Background()
		if tc.ctxTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, tc.ctxTimeout)
			defer cancel()
		}
		var err error
		start := time.Now()
		within(t, 10*time.Second, func() { _, err = db.ExecContext(ctx, "stall") })
		took := time.Since(start)
		var ie *guard.InterruptError
		if !errors.As(err, &ie) || !errors.Is(err, context.DeadlineExceeded) || !ie.InSyscall {
			t.Fatalf("context timeout %v: %v, want an InterruptError at the deadline", tc.ctxTimeout, err)
		}
		if took < tc.min || took > tc.max {
			t.Errorf("context timeout %v: stopped after %v, want %v..%v", tc.ctxTimeout, took, tc.min, tc.max)
		}
	}
}

// The driver is called through its context-free methods, or given a
// context that is never done: it has no reason to move a call to a
// goroutine of its own.
func TestDriverGetsNoCancellation(t *testing.T) {
	db := open(t, "d")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var v int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	c := lastConn()
	if c.ctxCalls.Load() != 0 {
		t.Errorf("%d calls of the driver's context methods, want 0", c.ctxCalls.Load())
	}
	// Named arguments need the context method: its context is never done.
	if _, err := db.ExecContext(ctx, "SELECT :a", sql.Named("a", 1)); err != nil {
		t.Fatal(err)
	}
	if c.ctxCalls.Load() != 1 || c.cancelable.Load() != 0 {
		t.Errorf("named arguments: %d context calls, %d with a cancellable context; want 1, 0", c.ctxCalls.Load(), c.cancelable.Load())
	}
}

// A call that overruns its deadline and grace period without being
// stopped waited outside C: ErrUnguarded, and the connection is
// abandoned.
func TestUnguardedWait(t *testing.T) {
	db := open(t, "e", guard.WithTimeout(50*time.Millisecond), guard.WithGrace(0))
	before := guardsql.Abandoned()
	var err error
	within(t, 10*time.Second, func() { _, err = db.Exec("gowait") })
	if !errors.Is(err, guardsql.ErrUnguarded) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrUnguarded", err)
	}
	if n := guardsql.Abandoned() - before; n != 1 {
		t.Errorf("%d abandoned, want 1", n)
	}
}

// A Go panic in the driver passes through database/sql as a panic; the
// connection is abandoned.
func TestPanicPassesThrough(t *testing.T) {
	db := open(t, "f")
	before := guardsql.Abandoned()
	var got any
	within(t, 10*time.Second, func() {
		defer func() { got = recover() }()
		db.Exec("panic")
	})
	if got != "fake driver panic" {
		t.Fatalf("recovered %v, want the driver's panic", got)
	}
	c := lastConn()
	var err error
	within(t, 10*time.Second, func() { _, err = db.Exec("SELECT 1") })
	if err != nil {
		t.Fatal(err)
	}
	if lastConn() == c || c.closes.Load() != 0 {
		t.Errorf("after the panic: a new connection %v, the old one closed %d times; want a new one, 0", lastConn() != c, c.closes.Load())
	}
	if n := guardsql.Abandoned() - before; n != 1 {
		t.Errorf("%d abandoned, want 1", n)
	}
}

// A connect that blocks in C is stopped at WithTimeout and counted.
func TestConnectStopped(t *testing.T) {
	db := open(t, "stall", guard.WithTimeout(100*time.Millisecond))
	before := guardsql.Abandoned()
	var err error
	within(t, 10*time.Second, func() { err = db.Ping() })
	if !errors.Is(err, guard.ErrTimeout) {
		t.Fatalf("got %v, want a timeout", err)
	}
	if n := guardsql.Abandoned() - before; n != 1 {
		t.Errorf("%d abandoned, want 1", n)
	}
	within(t, 5*time.Second, func() { db.Close() })
}

// A bad option is refused by Open.
func TestBadOption(t *testing.T) {
	registerOnce.Do(func() { sql.Register("guardsql_fake", fake) })
	if _, err := guardsql.Open("guardsql_fake", "g", guard.WithTimeout(-1)); err == nil {
		t.Error("Open accepted WithTimeout(-1)")
	}
}

// fakeConnector is a driver.Connector over the fake driver; it records
// whether Connect was given a context that can be done.
type fakeConnector struct{ cancelable atomic.Int32 }

func (c *fakeConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if ctx.Done() != nil {
		c.cancelable.Add(1)
	}
	return fake.Open("connector")
}

func (c *fakeConnector) Driver() driver.Driver { return fake }

// OpenDB guards a connector's connections the same way; Connect gets a
// context that is never done.
func TestOpenDB(t *testing.T) {
	fc := &fakeConnector{}
	db := guardsql.OpenDB(fc)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var v int
	var err error
	within(t, 10*time.Second, func() { err = db.QueryRowContext(ctx, "fault").Scan(&v) })
	wantCrash(t, err)
	if fc.cancelable.Load() != 0 {
		t.Errorf("Connect was given a cancellable context %d times", fc.cancelable.Load())
	}
	within(t, 10*time.Second, func() { err = db.QueryRowContext(ctx, "SELECT 1").Scan(&v) })
	if err != nil || v != 1 {
		t.Fatalf("after the fault: %v, %d", err, v)
	}
}

// Wrap, registered under a name of its own, is the same driver guarded.
func TestWrapRegistered(t *testing.T) {
	sql.Register("guardsql_wrapped", guardsql.Wrap(&fakeDriver{}, guard.WithTimeout(100*time.Millisecond)))
	db, err := sql.Open("guardsql_wrapped", "h")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	within(t, 10*time.Second, func() { _, err = db.Exec("stall") })
	if !errors.Is(err, guard.ErrTimeout) {
		t.Fatalf("got %v, want a timeout", err)
	}
	within(t, 10*time.Second, func() { _, err = db.Exec("fault") })
	wantCrash(t, err)
}

// The first row is read in the query's guarded call (fetch): a fault
// there is still the first Next's error (the query returns rows), the
// connection is abandoned, and the driver's rows are never closed.
func TestFirstRowFault(t *testing.T) {
	db := open(t, "i")
	before := guardsql.Abandoned()
	var n int
	var qerr, err error
	within(t, 10*time.Second, func() {
		rows, e := db.Query("rows:5:1")
		if qerr = e; e != nil {
			return
		}
		for rows.Next() {
			n++
		}
		err = rows.Err()
		rows.Close()
	})
	if qerr != nil {
		t.Fatalf("the query: %v, want its rows (the fault is the first Next's)", qerr)
	}
	wantCrash(t, err)
	if n != 0 {
		t.Errorf("%d rows before the fault, want 0", n)
	}
	if c := lastConn(); c.rowsCloses.Load() != 0 || c.closes.Load() != 0 {
		t.Errorf("the poisoned connection's rows closed %d times, the connection %d", c.rowsCloses.Load(), c.closes.Load())
	}
	if d := guardsql.Abandoned() - before; d != 1 {
		t.Errorf("%d abandoned, want 1", d)
	}
	var v int
	if err := db.QueryRow("SELECT 1").Scan(&v); err != nil || v != 1 {
		t.Fatalf("after the fault: %v, %d", err, v)
	}
}

// Rows read with and without their first row in the query's call: two
// open at once on one connection (the second cannot use the connection's
// own rows), an empty result, and the rows reused after Close.
func TestRowsFirstRow(t *testing.T) {
	db := open(t, "j")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	read := func(rows *sql.Rows) []int64 {
		t.Helper()
		var got []int64
		for rows.Next() {
			var x int64
			if err := rows.Scan(&x); err != nil {
				t.Fatal(err)
			}
			got = append(got, x)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return got
	}
	for round := 0; round < 3; round++ {
		a, err := c.QueryContext(ctx, "rows:3:0")
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.QueryContext(ctx, "rows:2:0")
		if err != nil {
			t.Fatal(err)
		}
		if got := read(b); len(got) != 2 || got[0] != 1 || got[1] != 2 {
			t.Errorf("round %d, the second rows: %v, want [1 2]", round, got)
		}
		if got := read(a); len(got) != 3 || got[0] != 1 || got[2] != 3 {
			t.Errorf("round %d, the first rows: %v, want [1 2 3]", round, got)
		}
		a.Close()
		b.Close()
		e, err := c.QueryContext(ctx, "rows:0:0")
		if err != nil {
			t.Fatal(err)
		}
		if got := read(e); len(got) != 0 {
			t.Errorf("round %d, an empty result: %v", round, got)
		}
		e.Close()
		// Closed before its first Next: the row read with the query is dropped.
		u, err := c.QueryContext(ctx, "rows:4:0")
		if err != nil {
			t.Fatal(err)
		}
		u.Close()
	}
}
