package supervise

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The worker's side. Control messages are lines on the control socket:
//
//	worker to master: ready | restart REASON | beat | dumped
//	master to worker: drain NANOSECONDS | dump

// worker is this process's state when it is a worker.
type worker struct {
	ctrl   net.Conn
	logger *log.Logger
	cancel context.CancelCauseFunc

	wmu       sync.Mutex // serializes writes to ctrl
	readyOnce sync.Once
	restarted atomic.Bool
	drainOnce sync.Once
	// drainBound is the drain's bound in nanoseconds, set before the
	// context is cancelled.
	drainBound atomic.Int64
}

var (
	current  atomic.Pointer[worker]
	draining atomic.Bool

	// Work in flight and finished, for the heartbeat (Busy).
	inflight atomic.Int64
	finished atomic.Uint64

	drainHooks struct {
		sync.Mutex
		fs []*func(context.Context)
	}
)

// defaultDrainBound is the drain bound outside a worker (ServeHTTP in a
// test or a program not run under Run).
var defaultDrainBound = 10 * time.Second

func (w *worker) send(msg string) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.ctrl.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := io.WriteString(w.ctrl, msg+"\n")
	return err
}

// IsWorker reports whether this process is a worker started by a master.
func IsWorker() bool { return current.Load() != nil }

// Ready tells the master that this worker serves: the master then drains
// the worker it replaces, or, for the first worker, tells systemd the
// service is ready. Call it once the listeners are being served (ServeHTTP
// accepts on them as soon as it is called; the kernel queues connections
// until then). Later calls do nothing; outside a worker Ready does nothing.
func Ready() {
	w := current.Load()
	if w == nil {
		return
	}
	w.readyOnce.Do(func() {
		if err := w.send("ready"); err != nil {
			w.logger.Printf("worker pid %d: telling the master it is ready: %v", os.Getpid(), err)
		}
	})
}

// Restart asks the master to replace this worker gracefully: the worker
// keeps serving until the new one is ready, and then its context is done.
// Only the first call of a worker counts; outside a worker Restart does
// nothing.
func Restart(reason string) {
	w := current.Load()
	if w == nil || !w.restarted.CompareAndSwap(false, true) {
		return
	}
	reason = strings.ReplaceAll(reason, "\n", " ")
	w.logger.Printf("worker pid %d: asking for a restart: %s", os.Getpid(), reason)
	if err := w.send("restart " + reason); err != nil {
		w.logger.Printf("worker pid %d: asking for a restart: %v", os.Getpid(), err)
	}
}

// Draining reports whether this process has begun to drain. A readiness
// endpoint fails while it is true.
func Draining() bool { return draining.Load() }

// Busy marks the start of a unit of work (ServeHTTP calls it for every
// request) and returns the function that marks its end. With
// Config.Heartbeat set, the worker reports progress only while no work is
// in flight or some finishes.
func Busy() (done func()) {
	inflight.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			finished.Add(1)
			inflight.Add(-1)
		})
	}
}

// OnDrain registers f to be called, on its own goroutine, when the worker
// begins to drain, with a context that is done at the drain's deadline.
// ServeHTTP waits for every f to return (or the deadline) before it
// returns. Use it for connections net/http no longer tracks, such as
// hijacked WebSocket connections; make a hijacked connection known to f
// before answering on it, or a drain that the answer leads to can begin
// before f can see the connection. The returned function removes f.
func OnDrain(f func(ctx context.Context)) (remove func()) {
	p := &f
	drainHooks.Lock()
	drainHooks.fs = append(drainHooks.fs, p)
	drainHooks.Unlock()
	return func() {
		drainHooks.Lock()
		defer drainHooks.Unlock()
		for i, q := range drainHooks.fs {
			if q == p {
				drainHooks.fs = append(drainHooks.fs[:i:i], drainHooks.fs[i+1:]...)
				return
			}
		}
	}
}

// drainBound is how long this process's drain may take.
func drainBound() time.Duration {
	if w := current.Load(); w != nil {
		if d := w.drainBound.Load(); d > 0 {
			return time.Duration(d)
		}
	}
	return defaultDrainBound
}

// drain begins the drain once: it records the bound, marks the process
// draining and cancels serve's context with cause. If the drain overruns
// its bound by a second, the process exits (when the master is gone no one
// else would end it).
func (w *worker) drain(bound time.Duration, cause error) {
	w.drainOnce.Do(func() {
		w.drainBound.Store(int64(bound))
		draining.Store(true)
		w.logger.Printf("worker pid %d: draining (%v, bound %v)", os.Getpid(), cause, bound)
		w.cancel(cause)
		time.AfterFunc(bound+time.Second, func() {
			w.logger.Printf("worker pid %d: drain did not finish within %v; exiting", os.Getpid(), bound)
			os.Exit(3)
		})
	})
}

// readCtrl handles the master's messages until the control socket fails;
// end of file means the master is gone.
func (w *worker) readCtrl(orphanBound time.Duration) {
	sc := bufio.NewScanner(w.ctrl)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "drain":
			ns, err := strconv.ParseInt(arg, 10, 64)
			if err != nil || ns <= 0 {
				ns = int64(orphanBound)
			}
			w.drain(time.Duration(ns), ErrDrain)
		case "dump":
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "supervise: worker pid %d: goroutines, at the master's request:\n%s\n", os.Getpid(), buf)
			w.send("dumped")
		}
	}
	w.drain(orphanBound, ErrOrphaned)
}

// heartbeat reports progress every d/4 while the worker makes it.
func (w *worker) heartbeat(ctx context.Context, d time.Duration, alive func() bool) {
	t := time.NewTicker(max(d/4, 10*time.Millisecond))
	defer t.Stop()
	last := finished.Load()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := finished.Load()
		ok := inflight.Load() == 0 || n != last
		if alive != nil {
			ok = alive()
		}
		last = n
		if ok {
			if w.send("beat") != nil {
				return
			}
		}
	}
}
