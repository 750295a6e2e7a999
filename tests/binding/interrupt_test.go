package binding

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/guardsql"
)

// Each case below is measured twice with the same 100ms deadline: first
// with go-sqlite3's own cancellation (the context given to the driver:
// sqlite3_interrupt, which SQLite's virtual machine checks between
// instructions), then with DoContext owning it, through guardsql (the
// binding gets a context that is never done). Figures are logged as "measured:" lines.
const deadline = 100 * time.Millisecond

// A write waits on another connection's exclusive lock. SQLite's busy
// handler sleeps (nanosleep) up to the busy timeout, 2s here, and never
// looks at sqlite3_interrupt: go-sqlite3's cancellation returns only at
// the busy timeout. DoContext stops the sleep at the deadline.
func TestBusyLockCancelled(t *testing.T) {
	dir := t.TempDir()
	holder := openDB(t, dir, "busy.db", "")
	mustExec(t, holder, "CREATE TABLE t(x)")
	ctx := context.Background()
	const busy = 2 * time.Second
	waiter := openDB(t, dir, "busy.db", fmt.Sprintf("_busy_timeout=%d", busy.Milliseconds()))
	// Connections are opened before the lock is taken: opening one reads
	// the database, and would wait on the lock itself.
	wc, err := waiter.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g := openGuarded(t, dir, "busy.db", fmt.Sprintf("_busy_timeout=%d", busy.Milliseconds()))
	g.SetMaxIdleConns(10)
	var conns []*sql.Conn
	for i := 0; i < 5; i++ {
		c, err := g.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close() // back in the pool, idle
	}
	hc, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hc.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}

	// go-sqlite3's own cancellation.
	var own time.Duration
	var ownErr error
	if !within(10*time.Second, func() {
		tctx, cancel := context.WithTimeout(ctx, deadline)
		defer cancel()
		start := time.Now()
		_, ownErr = wc.ExecContext(tctx, "INSERT INTO t VALUES (1)")
		own = time.Since(start)
	}) {
		t.Fatal("go-sqlite3's cancelled exec did not return within 10s")
	}
	t.Logf("measured: busy lock, go-sqlite3 cancellation at %v: returned after %v: %v", deadline, own, ownErr)
	if ownErr == nil || own < busy-100*time.Millisecond {
		t.Errorf("go-sqlite3's cancellation returned after %v (%v); want the full busy timeout %v", own, ownErr, busy)
	}
	wc.Close() // its call ended normally: the connection is sound

	// DoContext.
	var worst time.Duration
	var all []time.Duration
	before := guardsql.Abandoned()
	for i := 0; i < 5; i++ {
		tctx, cancel := context.WithTimeout(ctx, deadline)
		start := time.Now()
		_, err := g.ExecContext(tctx, "INSERT INTO t VALUES (2)")
		took := time.Since(start)
		cancel()
		ie := wantInterrupt(t, err)
		if !errors.Is(err, context.DeadlineExceeded) || !ie.InSyscall || ie.Forced {
			t.Fatalf("%v: want a deadline stop in a system call, not forced (%+v)", err, ie)
		}
		if i == 0 {
			t.Logf("%v\nframes:\n%s", ie, frameNames(ie.Frames))
		}
		worst = max(worst, took)
		all = append(all, took.Round(time.Millisecond))
	}
	t.Logf("measured: busy lock, DoContext deadline %v: returned after %v", deadline, all)
	if worst > busy/2 {
		t.Errorf("DoContext returned after %v; want well before the busy timeout %v", worst, busy)
	}
	if n := guardsql.Abandoned() - before; n != 5 {
		t.Errorf("%d connections abandoned, want 5", n)
	}
	if _, err := hc.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	hc.Close()
	var n int
	if _, err = g.ExecContext(ctx, "INSERT INTO t VALUES (3)"); err == nil {
		err = g.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n)
	}
	if err != nil || n != 1 {
		t.Fatalf("a new connection after the lock is released: %v, %d rows (want 1)", err, n)
	}
	closeWithin(t, g, 5*time.Second)
	checkFresh(t)
}

// A query spins in C (the extension's spin(), no system call): SQLite
// never regains control to see sqlite3_interrupt, so go-sqlite3's
// cancellation waits for the function to end; DoContext forces it after
// the grace period. A runaway recursive CTE, in contrast, is SQLite's own
// loop: go-sqlite3's cancellation stops it, and so does DoContext (forced,
// unless the thread was in a system call at that moment).
func TestSpinForced(t *testing.T) {
	ctx := context.Background()
	const grace = 100 * time.Millisecond
	dir := t.TempDir()
	db := openDB(t, dir, "spin.db", "")
	g := openGuarded(t, dir, "spin.db", "", guard.WithGrace(grace))
	before := guardsql.Abandoned()

	var own time.Duration
	var ownErr error
	if !within(10*time.Second, func() {
		tctx, cancel := context.WithTimeout(ctx, deadline)
		defer cancel()
		start := time.Now()
		var v int
		ownErr = db.QueryRowContext(tctx, "SELECT spin(1500)").Scan(&v)
		own = time.Since(start)
	}) {
		t.Fatal("go-sqlite3's cancelled spin did not return within 10s")
	}
	t.Logf("measured: spin(1500ms) in C, go-sqlite3 cancellation at %v: returned after %v: %v", deadline, own, ownErr)
	if own < 1400*time.Millisecond {
		t.Errorf("go-sqlite3's cancellation returned after %v; want the spin's full 1.5s", own)
	}

	tctx, cancel := context.WithTimeout(ctx, deadline)
	start := time.Now()
	var v int
	err := g.QueryRowContext(tctx, "SELECT spin(-1)").Scan(&v) // for ever
	took := time.Since(start)
	cancel()
	ie := wantInterrupt(t, err)
	t.Logf("measured: spin() for ever, DoContext deadline %v grace %v: returned after %v: %v\nframes:\n%s", deadline, grace, took, ie, frameNames(ie.Frames))
	if !ie.Forced || ie.InSyscall || took < deadline+grace-10*time.Millisecond || took > 5*time.Second {
		t.Errorf("want a forced stop after deadline+grace; Forced=%v InSyscall=%v after %v", ie.Forced, ie.InSyscall, took)
	}

	const cte = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 100000000) SELECT count(*) FROM c"
	if !within(30*time.Second, func() {
		tctx, cancel := context.WithTimeout(ctx, deadline)
		defer cancel()
		start := time.Now()
		var v int
		ownErr = db.QueryRowContext(tctx, cte).Scan(&v)
		own = time.Since(start)
	}) {
		t.Fatal("go-sqlite3's cancelled CTE did not return within 30s")
	}
	t.Logf("measured: recursive CTE, go-sqlite3 cancellation at %v: returned after %v: %v", deadline, own, ownErr)
	if !errors.Is(ownErr, context.DeadlineExceeded) || own > 3*time.Second {
		t.Errorf("go-sqlite3's cancellation of SQLite's own loop: %v after %v; want DeadlineExceeded promptly", ownErr, own)
	}
	tctx, cancel = context.WithTimeout(ctx, deadline)
	start = time.Now()
	err = g.QueryRowContext(tctx, cte).Scan(&v)
	took = time.Since(start)
	cancel()
	ie = wantInterrupt(t, err)
	t.Logf("measured: recursive CTE, DoContext deadline %v grace %v: returned after %v (forced %v)", deadline, grace, took, ie.Forced)
	if took > 5*time.Second {
		t.Errorf("DoContext returned after %v", took)
	}
	if n := guardsql.Abandoned() - before; n != 2 {
		t.Errorf("%d connections abandoned, want 2", n)
	}
	closeWithin(t, g, 5*time.Second)
	checkFresh(t)
}

// A C function blocked in read() on a pipe (the extension's sleepread()):
// go-sqlite3's cancellation cannot reach it, and the query returns only
// when a byte arrives (1s later here); DoContext stops the read at the
// deadline.
func TestBlockedReadStopped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir, "read.db", "")
	g := openGuarded(t, dir, "read.db", "")
	before := guardsql.Abandoned()
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil { // blocking, unlike os.Pipe's
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	const feed = time.Second

	var own time.Duration
	var ownErr error
	var timer *time.Timer
	ok := within(10*time.Second, func() {
		tctx, cancel := context.WithTimeout(ctx, deadline)
		defer cancel()
		start := time.Now()
		timer = time.AfterFunc(feed, func() { syscall.Write(p[1], []byte{1}) })
		var v int
		ownErr = db.QueryRowContext(tctx, "SELECT sleepread(?)", p[0]).Scan(&v)
		own = time.Since(start)
	})
	if !ok {
		t.Fatal("go-sqlite3's cancelled read did not return within 10s")
	}
	t.Logf("measured: read() on a pipe, go-sqlite3 cancellation at %v: returned after %v (a byte written at %v): %v", deadline, own, feed, ownErr)
	timer.Stop()
	if own < feed {
		t.Errorf("go-sqlite3's cancellation returned after %v; want it to wait for the byte at %v", own, feed)
	}

	var worst time.Duration
	var all []time.Duration
	for i := 0; i < 5; i++ {
		tctx, cancel := context.WithTimeout(ctx, deadline)
		start := time.Now()
		var v int
		err := g.QueryRowContext(tctx, "SELECT sleepread(?)", p[0]).Scan(&v)
		took := time.Since(start)
		cancel()
		ie := wantInterrupt(t, err)
		if !ie.InSyscall || ie.Forced || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%v: want a deadline stop in the system call, not forced", err)
		}
		worst = max(worst, took)
		all = append(all, took.Round(time.Millisecond))
	}
	t.Logf("measured: read() on a pipe, DoContext deadline %v: returned after %v", deadline, all)
	if worst > 3*time.Second { // only an interrupt ends these reads: the feed stopped
		t.Errorf("DoContext returned after %v", worst)
	}
	// Cancellation rather than a deadline: the error is context.Canceled.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(deadline, cancel)
	var v int
	err := g.QueryRowContext(cctx, "SELECT sleepread(?)", p[0]).Scan(&v)
	if wantInterrupt(t, err); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v, want context.Canceled", err)
	}
	if n := guardsql.Abandoned() - before; n != 6 {
		t.Errorf("%d connections abandoned, want 6", n)
	}
	closeWithin(t, g, 5*time.Second)
	checkFresh(t)
}
