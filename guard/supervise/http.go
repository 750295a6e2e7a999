package supervise

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// idleGrace is how long a drain lets an idle keep-alive connection bring
// one more request (answered with "Connection: close") before closing it.
const idleGrace = 500 * time.Millisecond

// ServeHTTP serves srv on ls until ctx is done, then drains: until the
// drain's deadline, a connection srv accepted is closed only after
// answering a request, or when it is idle 500ms or more into the drain.
// It wraps srv.Handler (calling Busy for each request) and srv.ConnState
// (calling the previous one), so srv must not be serving yet.
//
// The drain closes the listeners and waits for srv.Serve to return; answers
// every later response with "Connection: close"; after 500ms turns
// keep-alives off, which closes idle connections; waits for the connections
// left to finish, and for the OnDrain functions, until the drain's deadline
// (the master's bound in a worker, else 10s); and then closes srv. It does
// not call srv.Shutdown, which closes a connection whose request arrives
// during the shutdown without an answer.
//
// ServeHTTP returns nil after a drain, or the error of a listener that
// failed (after draining the rest).
func ServeHTTP(ctx context.Context, srv *http.Server, ls ...net.Listener) error {
	t := &connTracker{conns: make(map[net.Conn]http.ConnState)}
	var stopping atomic.Bool
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		t.set(c, s)
		if prev != nil {
			prev(c, s)
		}
	}
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := Busy()
		defer done()
		if stopping.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})

	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errc <- srv.Serve(l) }()
	}
	var failed error
	running := len(ls)
	select {
	case <-ctx.Done():
	case failed = <-errc:
		running--
	}
	stopping.Store(true)
	draining.Store(true)
	start := time.Now()
	deadline := start.Add(drainBound())
	for _, l := range ls {
		l.Close()
	}
	for ; running > 0; running-- {
		if err := <-errc; failed == nil && ctx.Err() == nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			failed = err
		}
	}
	// Every connection srv accepted is now tracked.

	hctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var hooks sync.WaitGroup
	drainHooks.Lock()
	for _, f := range drainHooks.fs {
		hooks.Add(1)
		go func() {
			defer hooks.Done()
			(*f)(hctx)
		}()
	}
	drainHooks.Unlock()

	for t.open() > 0 && time.Now().Before(deadline) {
		if time.Since(start) >= idleGrace {
			// Closes the idle connections (each time round: one
			// that finishes a request is closed by net/http itself
			// once keep-alives are off).
			srv.SetKeepAlivesEnabled(false)
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv.Close()
	hooksDone := make(chan struct{})
	go func() { hooks.Wait(); close(hooksDone) }()
	select {
	case <-hooksDone:
	case <-hctx.Done():
	}
	return failed
}

// connTracker follows the states of srv's connections.
type connTracker struct {
	mu    sync.Mutex
	conns map[net.Conn]http.ConnState
}

func (t *connTracker) set(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(t.conns, c)
	default:
		t.conns[c] = s
	}
}

func (t *connTracker) open() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}
