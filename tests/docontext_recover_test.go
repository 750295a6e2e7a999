package tests

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/internal/testwait"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// What f recovers inside DoContext does not end its deadline or its
// cancellation: the rest of f stays under them (docs/do.md, DoContext).

// recoverCall makes a cgo call of fn and recovers its panic, as a helper
// library that recovers every panic would: it returns what it recovered.
func recoverCall(fn, arg unsafe.Pointer) (v any) {
	defer func() { v = recover() }()
	payload.RawCall(fn, arg)
	return nil
}

// faultyString faults in C when fmt formats it; fmt recovers the panic.
type faultyString struct{}

func (faultyString) String() string {
	payload.RawCall(payload.NullWrite, nil)
	return "not reached"
}

// recoverers are the two ways f recovers a fault: a helper's recover and
// fmt's String-method recover. Each returns "" or what went wrong.
var recoverers = []struct {
	name    string
	recover func() string
}{
	{"helper", func() string {
		if v := recoverCall(payload.NullWrite, nil); !isSEGV(v) {
			return fmt.Sprintf("the helper recovered %v, want a SIGSEGV *guard.CrashError", v)
		}
		return ""
	}},
	{"fmt", func() string {
		if s := fmt.Sprintf("%v", faultyString{}); !strings.HasPrefix(s, "%!v(PANIC=String method: guard: SIGSEGV") {
			return fmt.Sprintf("fmt printed %q, want the recovered fault", s)
		}
		return ""
	}},
}

func isSEGV(v any) bool {
	ce, ok := v.(*guard.CrashError)
	return ok && strings.Contains(ce.Error(), "SIGSEGV")
}

// counted is what the hooks and ReadStats saw while fn ran.
type counted struct {
	crashes, interrupts []error
	stats               guard.Stats // after minus before
}

func countWhile(fn func()) counted {
	var c counted
	rc := guard.OnCrash(func(e *guard.CrashError) { c.crashes = append(c.crashes, e) })
	ri := guard.OnInterrupt(func(e *guard.InterruptError) { c.interrupts = append(c.interrupts, e) })
	before := guard.ReadStats()
	fn()
	after := guard.ReadStats()
	rc()
	ri()
	c.stats.Crashes = after.Crashes - before.Crashes
	c.stats.Interrupts = after.Interrupts - before.Interrupts
	c.stats.Forced = after.Forced - before.Forced
	return c
}

// notInterruptedAfter, on a goroutine locked to the thread DoContext ran
// on: a Do without a deadline waits 500 ms in a system call that only the
// timeout signal can cut short, and is not interrupted (the thread's slot
// is not left armed, and no signal of DoContext's arrives late). Returns
// "" or what went wrong.
func notInterruptedAfter() string {
	r := payload.NewResult(500)
	defer payload.Free(r)
	r.SetInner(int(guard.TimeoutSignal()))
	start := time.Now()
	err := guard.Do(func() { payload.RawCall(payload.PollOnce, unsafe.Pointer(r)) })
	took := time.Since(start)
	if err != nil || r.Out() != 0 || took < 500*time.Millisecond {
		return fmt.Sprintf("a later Do on the same thread: %v, wait returned %d after %v, want nil, 0 after 500ms", err, r.Out(), took)
	}
	return ""
}

// runLocked runs fn on a goroutine of its own, locked to its thread, and
// waits for it with a deadline: a C call that is never stopped fails the
// test (with every goroutine's stack) instead of hanging it.
func runLocked(t *testing.T, what string, fn func() string) {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		runtime.LockOSThread() // exits locked: the thread goes with it
		done <- fn()
	}()
	if msg := testwait.Await(t, done, testwait.Timeout, what); msg != "" {
		t.Fatal(msg)
	}
}

// DoContext with a 300 ms deadline, or a cancellation 300 ms in: f faults
// in C and recovers the fault's panic, at once or after 20 ms (after the
// cancellation was registered with ctx), then blocks in read() on a pipe.
// The read is stopped at the deadline or the cancellation; the fault and
// the interrupt reach the hooks and ReadStats once each; the thread is not
// left armed.
func TestDoContextDeadlineAfterRecoveredFault(t *testing.T) {
	blockingSetup(t)
	const in = 300 * time.Millisecond
	cause := errors.New("client went away")
	for _, rec := range recoverers {
		for _, stop := range []string{"deadline", "cancel"} {
			for _, late := range []bool{false, true} {
				name := rec.name + "/" + stop + "/fault at once"
				if late {
					name = rec.name + "/" + stop + "/fault after 20ms"
				}
				t.Run(name, func(t *testing.T) {
					runLocked(t, name, func() string {
						var ctx context.Context
						start := time.Now()
						if stop == "deadline" {
							var cancel context.CancelFunc
							ctx, cancel = context.WithTimeout(context.Background(), in)
							defer cancel()
						} else {
							var cancel context.CancelCauseFunc
							ctx, cancel = context.WithCancelCause(context.Background())
							defer cancel(nil)
							stopTimer := time.AfterFunc(in, func() { cancel(cause) })
							defer stopTimer.Stop()
						}
						r := payload.NewResult(0)
						defer payload.Free(r)
						var err error
						var took time.Duration
						failed, after := "", false
						c := countWhile(func() {
							err = guard.DoContext(ctx, func() {
								if late {
									time.Sleep(20 * time.Millisecond)
								}
								if failed = rec.recover(); failed != "" {
									return
								}
								payload.RawCall(payload.ReadPipe, unsafe.Pointer(r))
								after = true
							})
							took = time.Since(start)
						})
						if failed != "" {
							return failed
						}
						var ie *guard.InterruptError
						switch {
						case !errors.As(err, &ie):
							return fmt.Sprintf("DoContext returned %v after %v, want an *InterruptError", err, took)
						case stop == "deadline" && (!errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, guard.ErrTimeout)):
							return fmt.Sprintf("got %v, want it to match context.DeadlineExceeded and guard.ErrTimeout", err)
						case stop == "cancel" && (!errors.Is(err, context.Canceled) || !errors.Is(err, cause) || errors.Is(err, guard.ErrTimeout)):
							return fmt.Sprintf("got %v, want context.Canceled with the cause", err)
						case !ie.InSyscall || ie.Forced || len(ie.Frames) == 0:
							return fmt.Sprintf("interrupt fields: %+v, want InSyscall and frames", *ie)
						case after:
							return "the Go code after the interrupted read ran"
						case took < in || took > in+2*time.Second:
							return fmt.Sprintf("DoContext returned after %v, want soon after %v", took, in)
						}
						t.Logf("stopped %v after the %s", took-in, stop)
						if len(c.crashes) != 1 || len(c.interrupts) != 1 || c.interrupts[0] != err ||
							c.stats.Crashes != 1 || c.stats.Interrupts != 1 || c.stats.Forced != 0 {
							return fmt.Sprintf("hooks saw %d crashes and %d interrupts, ReadStats +%d crashes +%d interrupts +%d forced; want 1, 1 (the one returned), 1, 1, 0",
								len(c.crashes), len(c.interrupts), c.stats.Crashes, c.stats.Interrupts, c.stats.Forced)
						}
						return notInterruptedAfter()
					})
				})
			}
		}
	}
}

// f recovers an interrupt (the deadline passed, or ctx was cancelled,
// while it was blocked in C) and calls C again: that call is stopped at
// once (a blocking one at the next timeout signal; one in user code once
// the grace period, which began at the first signal, has ended), as a
// deadline that passed while f ran Go code stops its next C call. Both
// interrupts reach the hooks and ReadStats.
func TestDoContextRecoveredInterruptStopsNextCall(t *testing.T) {
	blockingSetup(t)
	const in, grace = 100 * time.Millisecond, 50 * time.Millisecond
	cause := errors.New("client went away")
	for _, stop := range []string{"deadline", "cancel"} {
		for _, next := range []struct {
			name    string
			fn      unsafe.Pointer
			syscall bool
		}{{"read_pipe", payload.ReadPipe, true}, {"cpu_loop", payload.Spin, false}} {
			name := stop + "/" + next.name
			t.Run(name, func(t *testing.T) {
				runLocked(t, name, func() string {
					ctx := context.Background()
					opts := []guard.Option{guard.WithGrace(grace)}
					if stop == "deadline" {
						opts = append(opts, guard.WithTimeout(in))
					} else {
						var cancel context.CancelCauseFunc
						ctx, cancel = context.WithCancelCause(ctx)
						defer cancel(nil)
						stopTimer := time.AfterFunc(in, func() { cancel(cause) })
						defer stopTimer.Stop()
					}
					r := payload.NewResult(0)
					defer payload.Free(r)
					var err error
					var first any
					var second time.Duration
					after := false
					start := time.Now()
					c := countWhile(func() {
						err = guard.DoContext(ctx, func() {
							first = recoverCall(payload.ReadPipe, unsafe.Pointer(r))
							t1 := time.Now()
							defer func() { second = time.Since(t1) }()
							payload.RawCall(next.fn, unsafe.Pointer(r))
							after = true
						}, opts...)
					})
					took := time.Since(start)
					fie, ok := first.(*guard.InterruptError)
					if !ok {
						return fmt.Sprintf("f recovered %v, want an *InterruptError", first)
					}
					var ie *guard.InterruptError
					switch {
					case !errors.As(err, &ie) || ie == fie:
						return fmt.Sprintf("DoContext returned %v after %v, want a second *InterruptError", err, took)
					case stop == "deadline" && !(errors.Is(fie, context.DeadlineExceeded) && errors.Is(err, context.DeadlineExceeded)):
						return fmt.Sprintf("got %v then %v, want both to match context.DeadlineExceeded", fie, err)
					case stop == "cancel" && !(errors.Is(fie, cause) && errors.Is(err, context.Canceled) && errors.Is(err, cause)):
						return fmt.Sprintf("got %v then %v, want both context.Canceled with the cause", fie, err)
					case ie.InSyscall != next.syscall || ie.Forced == next.syscall:
						return fmt.Sprintf("the second interrupt: InSyscall=%v Forced=%v, want InSyscall=%v", ie.InSyscall, ie.Forced, next.syscall)
					case after:
						return "the Go code after the second C call ran"
					case second > time.Second:
						return fmt.Sprintf("the next C call was stopped %v after it began, want at once", second)
					}
					t.Logf("first interrupt after %v, the next C call stopped %v after it began", took-second, second)
					forced := uint64(0)
					if !next.syscall {
						forced = 1
					}
					if len(c.crashes) != 0 || len(c.interrupts) != 2 || c.interrupts[0] != fie || c.interrupts[1] != err ||
						c.stats.Interrupts != 2 || c.stats.Forced != forced || c.stats.Crashes != 0 {
						return fmt.Sprintf("hooks saw %d crashes and %d interrupts, ReadStats +%d interrupts +%d forced +%d crashes; want 0, 2 (the recovered one, then the one returned), 2, %d, 0",
							len(c.crashes), len(c.interrupts), c.stats.Interrupts, c.stats.Forced, c.stats.Crashes, forced)
					}
					return notInterruptedAfter()
				})
			})
		}
	}
}

// A fault that a Do inside DoContext returns leaves the outer deadline in
// force for the rest of the outer f, as it leaves the thread's one
// deadline in place: Call with a deadline of its own is still refused.
func TestDoContextDeadlineAfterInnerDoFault(t *testing.T) {
	blockingSetup(t)
	const in = 200 * time.Millisecond
	runLocked(t, "DoContext after an inner Do's fault", func() string {
		r := payload.NewResult(0)
		defer payload.Free(r)
		var inner, nested error
		start := time.Now()
		err := guard.DoContext(context.Background(), func() {
			inner = guard.Do(func() { payload.RawCall(payload.NullWrite, nil) })
			nested = guard.Call(payload.Empty, nil, guard.WithTimeout(time.Second))
			payload.RawCall(payload.ReadPipe, unsafe.Pointer(r))
		}, guard.WithTimeout(in))
		took := time.Since(start)
		switch {
		case !errors.Is(inner, guard.ErrCrash):
			return fmt.Sprintf("inner Do: %v, want a CrashError", inner)
		case !errors.Is(nested, guard.ErrNestedDeadline):
			return fmt.Sprintf("Call with a deadline after the inner fault: %v, want ErrNestedDeadline", nested)
		case !errors.Is(err, guard.ErrTimeout) || took < in || took > in+2*time.Second:
			return fmt.Sprintf("DoContext returned %v after %v, want a timeout soon after %v", err, took, in)
		}
		return notInterruptedAfter()
	})
}

// A deferred call that blocks in C while a fault's or an interrupt's panic
// unwinds f is under the same deadline: stopped when it passes (after a
// fault), or at once (after an interrupt: it has passed). DoContext
// returns the deferred call's interrupt, which replaced the first panic,
// and both errors reach the hooks.
func TestDoContextDeadlineCoversDeferredCalls(t *testing.T) {
	blockingSetup(t)
	const in = 200 * time.Millisecond
	for _, first := range []string{"fault", "interrupt"} {
		t.Run(first, func(t *testing.T) {
			runLocked(t, first, func() string {
				r := payload.NewResult(0)
				defer payload.Free(r)
				var err error
				var deferred time.Duration
				start := time.Now()
				c := countWhile(func() {
					err = guard.DoContext(context.Background(), func() {
						defer func() {
							t1 := time.Now()
							defer func() { deferred = time.Since(t1) }()
							payload.RawCall(payload.ReadPipe, unsafe.Pointer(r)) // a cleanup that hangs
						}()
						if first == "fault" {
							payload.RawCall(payload.NullWrite, nil)
						} else {
							payload.RawCall(payload.ReadPipe, unsafe.Pointer(r))
						}
					}, guard.WithTimeout(in))
				})
				took := time.Since(start)
				var ie *guard.InterruptError
				switch {
				case !errors.As(err, &ie) || !errors.Is(err, guard.ErrTimeout):
					return fmt.Sprintf("DoContext returned %v after %v, want the deferred call's timeout", err, took)
				case took < in || took > in+2*time.Second:
					return fmt.Sprintf("DoContext returned after %v, want soon after %v", took, in)
				case first == "interrupt" && deferred > time.Second:
					return fmt.Sprintf("the deferred call was stopped %v after it began, want at once", deferred)
				}
				wantCrashes, wantInterrupts := 1, 1
				if first == "interrupt" {
					wantCrashes, wantInterrupts = 0, 2
				}
				if len(c.crashes) != wantCrashes || len(c.interrupts) != wantInterrupts || c.interrupts[len(c.interrupts)-1] != err {
					return fmt.Sprintf("hooks saw %d crashes and %d interrupts, want %d and %d (the last the one returned)",
						len(c.crashes), len(c.interrupts), wantCrashes, wantInterrupts)
				}
				t.Logf("the deferred call was stopped %v after it began, DoContext returned after %v", deferred, took)
				return notInterruptedAfter()
			})
		})
	}
}
