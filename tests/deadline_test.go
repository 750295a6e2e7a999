package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/internal/testwait"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

func blockingSetup(t testing.TB) {
	t.Helper()
	if err := payload.BlockingSetup(); err != nil {
		t.Fatal(err)
	}
}

// Every way of never returning is interrupted at its deadline, blocked
// ones in their system call, the CPU loop after its grace period.
func TestDeadlineInterruptsBlockers(t *testing.T) {
	blockingSetup(t)
	for _, b := range payload.Blockers() {
		t.Run(b.Name, func(t *testing.T) {
			for i := 0; i < 3; i++ {
				r := payload.NewResult(0)
				start := time.Now()
				err := guard.Call(b.Fn, unsafe.Pointer(r), guard.WithTimeout(30*time.Millisecond), guard.WithGrace(20*time.Millisecond))
				took := time.Since(start)
				payload.Free(r)
				if !errors.Is(err, guard.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("got %v, want a timeout", err)
				}
				var ie *guard.InterruptError
				if !errors.As(err, &ie) {
					t.Fatalf("%T is not an *InterruptError", err)
				}
				if ie.InSyscall != b.Syscall || ie.Forced == b.Syscall {
					t.Fatalf("InSyscall=%v Forced=%v, want InSyscall=%v: %v", ie.InSyscall, ie.Forced, b.Syscall, err)
				}
				if took < 30*time.Millisecond || took > 5*time.Second {
					t.Fatalf("returned after %v", took)
				}
				if ie.Signal != guard.TimeoutSignal() || ie.PC == 0 || ie.Attempts != 1 || ie.ThreadID == 0 || len(ie.Frames) == 0 {
					t.Fatalf("fields: %+v", *ie)
				}
				// Where it was stopped: the blocking C function is among the
				// symbolized frames.
				if want := "pl_" + map[bool]string{true: "block_", false: ""}[b.Name != "cpu_loop"]; haveSymbols(t) && !hasFunctionPrefix(ie.Frames, want) {
					t.Fatalf("no %s* frame in %v", want, ie.Frames)
				}
				if !strings.Contains(err.Error(), "interrupted") {
					t.Fatalf("Error() = %q", err)
				}
			}
			healthyCall(t, 5)
		})
	}
}

func TestDeadlineNotReached(t *testing.T) {
	r := payload.NewResult(2000) // 2 ms
	defer payload.Free(r)
	if err := guard.Call(payload.SleepUs, unsafe.Pointer(r), guard.WithTimeout(5*time.Second)); err != nil || r.Out() != 2000 {
		t.Fatalf("got %v, out %d", err, r.Out())
	}
	// A fault under a deadline is still a crash.
	if err := guard.Call(payload.NullWrite, nil, guard.WithTimeout(time.Second)); !errors.Is(err, guard.ErrCrash) {
		t.Fatalf("fault under a deadline: %v", err)
	}
}

func TestRetries(t *testing.T) {
	blockingSetup(t)
	start := time.Now()
	err := guard.Call(payload.ReadPipe, unsafe.Pointer(payload.NewResult(0)), guard.WithTimeout(20*time.Millisecond), guard.WithRetries(2))
	var ie *guard.InterruptError
	if !errors.As(err, &ie) || ie.Attempts != 3 {
		t.Fatalf("got %v (attempts %d), want 3 attempts", err, attempts(ie))
	}
	if took := time.Since(start); took < 60*time.Millisecond {
		t.Fatalf("3 attempts of 20 ms took %v", took)
	}
	if !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("Error() = %q", err)
	}
}

func attempts(ie *guard.InterruptError) int {
	if ie == nil {
		return 0
	}
	return ie.Attempts
}

func TestContextCancelInterrupts(t *testing.T) {
	blockingSetup(t)
	cause := errors.New("client went away")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(30*time.Millisecond, func() { cancel(cause) })
	r := payload.NewResult(0)
	defer payload.Free(r)
	err := guard.CallContext(ctx, payload.ReadPipe, unsafe.Pointer(r))
	if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) || errors.Is(err, guard.ErrTimeout) {
		t.Fatalf("got %v, want context.Canceled with the cause", err)
	}
	var ie *guard.InterruptError
	if !errors.As(err, &ie) || !ie.InSyscall {
		t.Fatalf("got %#v", err)
	}
}

func TestContextDeadlineInterrupts(t *testing.T) {
	blockingSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := guard.CallContext(ctx, payload.ReadPipe, unsafe.Pointer(payload.NewResult(0)))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, guard.ErrTimeout) {
		t.Fatalf("got %v", err)
	}
	// CallFuncContext too, with a C function that sleeps 10 s.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel2()
	_, err = guard.CallFuncContext(ctx2, unsafe.Pointer(payload.SleepSeconds), []uintptr{10})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CallFuncContext: %v", err)
	}
}

// A cancellable context that is never cancelled costs nothing but time.
func TestContextNotCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 1000; i++ {
		r := payload.NewResult(i)
		if err := guard.CallContext(ctx, payload.Healthy, unsafe.Pointer(r)); err != nil || r.Out() != 2*i+1 {
			t.Fatalf("got %v", err)
		}
		payload.Free(r)
	}
}

// A context already done when the call starts: no C runs, a
// *NotStartedError carrying the context's error and cause.
func TestContextDoneBeforeCall(t *testing.T) {
	cause := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	r := payload.NewResult(5)
	defer payload.Free(r)
	err := guard.CallContext(ctx, payload.Healthy, unsafe.Pointer(r))
	if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
		t.Fatalf("got %v, want context.Canceled and the cause", err)
	}
	var ns *guard.NotStartedError
	if !errors.As(err, &ns) {
		t.Fatalf("%T is not a *NotStartedError", err)
	}
	if r.Out() != 0 {
		t.Fatal("the function ran")
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 0)
	defer dcancel()
	if _, err := guard.CallFuncContext(dctx, payload.Sum6, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("expired ctx: %v", err)
	}
	if err := guard.CallContext(context.Background(), payload.Healthy, unsafe.Pointer(r)); err != nil || r.Out() != 11 {
		t.Fatalf("live ctx: %v, out %d", err, r.Out())
	}
}

// Deadlines that expire just as calls return must never interrupt a later
// call on the same thread: many goroutines make calls lasting about their
// deadline, each followed by healthy calls (with and without a deadline of
// their own) that must all succeed.
func TestStaleDeadlineSignals(t *testing.T) {
	workers, rounds, healthy := 16, 60, 200
	if testing.Short() {
		rounds, healthy = 15, 50
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			if w%2 == 0 {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			r := payload.NewResult(0)
			defer payload.Free(r)
			for i := 0; i < rounds; i++ {
				*r = *payload.NewResultValue(1000 + (w*37+i*11)%200) // 1.0-1.2 ms
				fn := payload.SleepUs
				if i%2 == 1 {
					fn = payload.SpinUs
				}
				err := guard.Call(fn, unsafe.Pointer(r), guard.WithTimeout(1100*time.Microsecond), guard.WithGrace(0))
				if err != nil && !errors.Is(err, guard.ErrTimeout) {
					errs <- err
					return
				}
				for j := 0; j < healthy; j++ {
					in := w*1000000 + i*1000 + j
					*r = *payload.NewResultValue(in)
					var opts []guard.Option
					if j%2 == 0 {
						opts = []guard.Option{guard.WithTimeout(time.Hour)}
					}
					if err := guard.Call(payload.Healthy, unsafe.Pointer(r), opts...); err != nil {
						errs <- err
						return
					}
					if r.Out() != 2*in+1 {
						errs <- errors.New("healthy call returned another call's result")
						return
					}
				}
			}
		}(w)
	}
	testwait.AwaitGroup(t, &wg, 2*time.Minute, "the test's goroutines")
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// (a) With forcing disabled, a loop that mallocs, frees and makes one short
// blocking system call per iteration is always interrupted in the system
// call, and the allocator never deadlocks.
func TestMallocLoopInterruptedAtSyscall(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 300
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := payload.NewResult(7)
	defer payload.Free(r)
	for i := 0; i < n; i++ {
		err := guard.Call(payload.MallocLoop, unsafe.Pointer(r), guard.WithTimeout(time.Millisecond), guard.WithGrace(-1), guard.WithMaxFrames(0))
		var ie *guard.InterruptError
		if !errors.As(err, &ie) || !ie.InSyscall || ie.Forced {
			t.Fatalf("iteration %d: %v", i, err)
		}
	}
	healthyCall(t, 3) // the allocator still works on this thread
}

// (b) A pure CPU loop is still stopped after the grace period.
func TestCPULoopForcedAfterGrace(t *testing.T) {
	start := time.Now()
	err := guard.Call(payload.Spin, unsafe.Pointer(payload.NewResult(0)), guard.WithTimeout(20*time.Millisecond), guard.WithGrace(80*time.Millisecond))
	took := time.Since(start)
	var ie *guard.InterruptError
	if !errors.As(err, &ie) || !ie.Forced || ie.InSyscall {
		t.Fatalf("got %v", err)
	}
	if took < 100*time.Millisecond {
		t.Fatalf("forced after %v, before deadline + grace (100 ms)", took)
	}
}

func TestDeadlineBadInput(t *testing.T) {
	for _, o := range []guard.Option{guard.WithTimeout(0), guard.WithTimeout(-time.Second), guard.WithRetries(-1)} {
		if err := guard.Call(payload.Empty, nil, o); err == nil || errors.Is(err, guard.ErrTimeout) {
			t.Errorf("bad option accepted: %v", err)
		}
	}
	if err := guard.SetTimeoutSignal(syscall.SIGSEGV); !errors.Is(err, guard.ErrSetup) {
		t.Errorf("SetTimeoutSignal(SIGSEGV): %v", err)
	}
	if err := guard.SetTimeoutSignal(syscall.SIGURG); !errors.Is(err, guard.ErrSetup) {
		t.Errorf("SetTimeoutSignal(SIGURG): %v", err)
	}
	// The signal is in use by now (earlier tests): it cannot change.
	guard.Call(payload.Empty, nil, guard.WithTimeout(time.Second))
	if err := guard.SetTimeoutSignal(syscall.Signal(40)); !errors.Is(err, guard.ErrSetup) {
		t.Errorf("SetTimeoutSignal after use: %v", err)
	}
	if s := guard.TimeoutSignal(); s < 35 {
		t.Errorf("TimeoutSignal() = %d, want a real-time signal >= 35", s)
	}
}

// 100,000 timed-out calls leave open fds, POSIX timers, OS threads and RSS
// flat. Tolerances: threads +2 (the Go runtime may start a thread for
// sysmon-driven work meanwhile), RSS +16 MiB (Go's heap grows and returns
// memory lazily; a leak of even 200 bytes per call would add 19 MiB);
// fds and timers: none.
func TestDeadlineNoLeaks(t *testing.T) {
	blockingSetup(t)
	n := 100000
	if testing.Short() {
		n = 1000
	}
	r := payload.NewResult(0)
	defer payload.Free(r)
	call := func() {
		if err := guard.Call(payload.ReadPipe, unsafe.Pointer(r), guard.WithTimeout(50*time.Microsecond), guard.WithMaxFrames(0)); !errors.Is(err, guard.ErrTimeout) {
			t.Fatalf("%v", err)
		}
	}
	for i := 0; i < 2000; i++ { // warm up: watchdog, slots, heap
		call()
	}
	// The samplers themselves first: the first file opened makes the Go
	// runtime create its poller's two descriptors for good.
	countDir(t, "/proc/self/fd")
	countTimers(t)
	rssKiB(t)
	runtime.GC()
	fds0, thr0, tim0, rss0 := countDir(t, "/proc/self/fd"), countDir(t, "/proc/self/task"), countTimers(t), rssKiB(t)
	for i := 0; i < n; i++ {
		call()
	}
	runtime.GC()
	fds1, thr1, tim1, rss1 := countDir(t, "/proc/self/fd"), countDir(t, "/proc/self/task"), countTimers(t), rssKiB(t)
	t.Logf("after %d timeouts: fds %d -> %d, threads %d -> %d, timers %d -> %d, RSS %d -> %d KiB", n, fds0, fds1, thr0, thr1, tim0, tim1, rss0, rss1)
	if fds1 > fds0 || tim1 > tim0 || thr1 > thr0+2 || rss1 > rss0+16*1024 {
		t.Fatal("resources grew")
	}
}

func rssKiB(t testing.TB) int { return statusKiB(t, "VmRSS:") }

// statusKiB reads one "Name: N kB" field of /proc/self/status.
func statusKiB(t testing.TB, field string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

func countDir(t testing.TB, dir string) int {
	t.Helper()
	e, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(e)
}

// countTimers counts the process's POSIX timers.
func countTimers(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/timers")
	if err != nil {
		t.Fatal(err)
	}
	// Go's CPU profiler (go test -cpuprofile) gives every thread a timer
	// of its own signalling SIGPROF; those come and go with threads. Count
	// the others: cgoguard creates none, and must leak none.
	n := 0
	prof := fmt.Sprintf("signal: %d/", int(syscall.SIGPROF))
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "signal: ") && !strings.HasPrefix(line, prof) {
			n++
		}
	}
	return n
}

// The timeout signal stays usable by the application: instances cgoguard
// did not send for a live call reach os/signal.
func TestTimeoutSignalStillNotifies(t *testing.T) {
	blockingSetup(t)
	// Make sure the timeout signal's handler is installed.
	guard.Call(payload.ReadPipe, unsafe.Pointer(payload.NewResult(0)), guard.WithTimeout(time.Millisecond))
	sig := guard.TimeoutSignal()
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, sig)
	defer signal.Stop(ch)
	stop := faultLoop(t, 2)
	defer stop()
	for i := 0; i < 3; i++ {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-ch:
			if got != sig {
				t.Fatalf("got %v", got)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the timeout signal sent with kill did not reach os/signal")
		}
	}
	// And deadlines still work.
	if err := guard.Call(payload.ReadPipe, unsafe.Pointer(payload.NewResult(0)), guard.WithTimeout(5*time.Millisecond)); !errors.Is(err, guard.ErrTimeout) {
		t.Fatal(err)
	}
}

// A deadline that passes while the guarded C code is in a Go callback does
// not interrupt the callback; the call is interrupted once it is back in C
// and blocks.
func TestDeadlineDuringGoCallback(t *testing.T) {
	blockingSetup(t)
	var completed atomic.Bool
	payload.SetCallback(func(in int) int {
		time.Sleep(40 * time.Millisecond) // past the deadline, in Go
		x := 0
		for i := 0; i < 20_000_000; i++ { // and running Go code
			x += i
		}
		completed.Store(true)
		return x & 1
	})
	defer payload.SetCallback(nil)
	r := payload.NewResult(0)
	defer payload.Free(r)
	start := time.Now()
	err := guard.Call(payload.CallGoThenBlock, unsafe.Pointer(r), guard.WithTimeout(10*time.Millisecond), guard.WithGrace(-1))
	var ie *guard.InterruptError
	if !errors.As(err, &ie) || !ie.InSyscall {
		t.Fatalf("got %v", err)
	}
	if !completed.Load() {
		t.Fatal("the Go callback was interrupted")
	}
	if time.Since(start) < 40*time.Millisecond {
		t.Fatal("returned before the callback could have finished")
	}
}

func hasFunctionPrefix(frames []runtime.Frame, prefix string) bool {
	for _, f := range frames {
		if strings.HasPrefix(f.Function, prefix) {
			return true
		}
	}
	return false
}

// Signals the watchdog sent for a call that has ended must not cut short
// the thread's next system call: poll() is not restarted after a handler
// and would return EINTR. Calls that get signalled several times (running
// user code past the deadline, then blocking) are each followed by a
// wait with a 15 ms timeout (ppoll, which only the timeout signal can
// interrupt) that must time out normally.
func TestNoEINTRAfterInterrupt(t *testing.T) {
	blockingSetup(t)
	workers, n := 8, 60
	if testing.Short() {
		workers, n = 4, 15
	}
	// Several threads at once: each arm wakes the watchdog, and every scan
	// re-signals calls it has already signalled, so signals are often in
	// flight as a call ends.
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			r := payload.NewResult(0)
			defer payload.Free(r)
			for i := 0; i < n; i++ {
				*r = *payload.NewResultValue(1500 + i%7*100) // spin 1.5-2.1 ms, then block
				err := guard.Call(payload.SpinThenBlock, unsafe.Pointer(r), guard.WithTimeout(500*time.Microsecond), guard.WithGrace(-1), guard.WithMaxFrames(0))
				if !errors.Is(err, guard.ErrTimeout) {
					errs <- err
					return
				}
				*r = *payload.NewResultValue(15)
				r.SetInner(int(guard.TimeoutSignal()))
				start := time.Now()
				if err := guard.Call(payload.PollOnce, unsafe.Pointer(r)); err != nil {
					errs <- err
					return
				}
				if r.Out() != 0 || time.Since(start) < 15*time.Millisecond {
					errs <- fmt.Errorf("iteration %d: wait returned %d after %v: a stale timeout signal cut it short", i, r.Out(), time.Since(start))
					return
				}
			}
		}()
	}
	testwait.AwaitGroup(t, &wg, 2*time.Minute, "the test's goroutines")
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Cancellation is registered only for a call still running after a
// threshold (1 ms; CGOGUARD_LAZY_CANCEL): calls lasting about that long,
// cancelled before, around or after it, or never, on many goroutines.
// Every cancelled call that was still running is interrupted with
// context.Canceled; a call whose context was not cancelled always
// completes; none hangs (the hand-over to the registrar races with the
// call's end). Whether a short call is cancelled depends on how late the
// machine's timers fire, so every tenth call sleeps 2 s and is cancelled
// at 1 ms: it must be interrupted, however loaded the machine.
func TestLazyCancelAroundThreshold(t *testing.T) {
	workers, rounds := 8, 150
	if testing.Short() {
		rounds = 30
	}
	var wg sync.WaitGroup
	var cancelled, completed atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				us := 200 + (w*rounds+i)*37%2600 // 0.2-2.8 ms
				long := i%10 == 1
				if long {
					us = 2_000_000
				}
				r := payload.NewResult(us)
				ctx, cancel := context.WithCancel(context.Background())
				cancelAt := time.Duration(-1)
				if long {
					cancelAt = time.Millisecond
					time.AfterFunc(cancelAt, cancel)
				} else if i%3 != 0 {
					cancelAt = time.Duration((w*7+i*13)%3000) * time.Microsecond
					time.AfterFunc(cancelAt, cancel)
				}
				start := time.Now()
				err := guard.CallContext(ctx, payload.SleepUs, unsafe.Pointer(r))
				took := time.Since(start)
				switch {
				case err == nil:
					completed.Add(1)
					if long {
						t.Errorf("a 2 s call cancelled at 1 ms completed")
					}
					if r.Out() != us {
						t.Errorf("out %d, want %d", r.Out(), us)
					}
				case errors.Is(err, context.Canceled):
					cancelled.Add(1)
					if cancelAt < 0 {
						t.Errorf("a call whose context was never cancelled: %v", err)
					}
				default:
					t.Errorf("sleep %d µs, cancel at %v: %v", us, cancelAt, err)
				}
				if took > 5*time.Second {
					t.Errorf("took %v", took)
				}
				cancel()
				payload.Free(r)
			}
		}(w)
	}
	testwait.AwaitGroup(t, &wg, 2*time.Minute, "the test's goroutines")
	t.Logf("%d completed, %d cancelled", completed.Load(), cancelled.Load())
	if cancelled.Load() == 0 {
		t.Fatal("no call was cancelled")
	}
}

// A call blocked for good whose context is cancelled before the lazy
// threshold is interrupted once the threshold passes.
func TestLazyCancelBeforeThreshold(t *testing.T) {
	blockingSetup(t)
	r := payload.NewResult(0)
	defer payload.Free(r)
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Microsecond, cancel)
		if err := guard.CallContext(ctx, payload.ReadPipe, unsafe.Pointer(r)); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	}
}
