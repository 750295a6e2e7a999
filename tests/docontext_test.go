package tests

import (
	"context"
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// Every blocker reached through a plain cgo call inside DoContext is
// interrupted at the deadline (blocked ones in their system call, the CPU
// loop after the grace period), and Go code after it in f does not run.
func TestDoContextInterruptsBlockers(t *testing.T) {
	blockingSetup(t)
	for _, b := range payload.Blockers() {
		t.Run(b.Name, func(t *testing.T) {
			for i := 0; i < 3; i++ {
				r := payload.NewResult(0)
				after := false
				start := time.Now()
				err := guard.Do(func() {
					payload.RawCall(b.Fn, unsafe.Pointer(r))
					after = true
				}, guard.WithTimeout(30*time.Millisecond), guard.WithGrace(20*time.Millisecond))
				took := time.Since(start)
				payload.Free(r)
				var ie *guard.InterruptError
				if !errors.As(err, &ie) || !errors.Is(err, guard.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("got %v, want an *InterruptError matching ErrTimeout", err)
				}
				if after {
					t.Fatal("code after the interrupted call ran")
				}
				if ie.InSyscall != b.Syscall || ie.Forced == b.Syscall {
					t.Fatalf("InSyscall=%v Forced=%v, want InSyscall=%v", ie.InSyscall, ie.Forced, b.Syscall)
				}
				if took < 30*time.Millisecond || took > 5*time.Second {
					t.Fatalf("returned after %v", took)
				}
				if ie.Timeout != 30*time.Millisecond || ie.Attempts != 1 || len(ie.Frames) == 0 {
					t.Fatalf("fields: %+v", *ie)
				}
			}
			if err := guard.Do(func() { payload.RawCall(payload.Empty, nil) }, guard.WithTimeout(time.Second)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDoContextCancel(t *testing.T) {
	blockingSetup(t)
	cause := errors.New("client went away")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(30*time.Millisecond, func() { cancel(cause) })
	r := payload.NewResult(0)
	defer payload.Free(r)
	err := guard.DoContext(ctx, func() { payload.RawCall(payload.ReadPipe, unsafe.Pointer(r)) })
	var ie *guard.InterruptError
	if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) || !errors.Is(err, cause) || errors.Is(err, guard.ErrTimeout) {
		t.Fatalf("got %v, want context.Canceled with the cause", err)
	}
	// Already done: f does not run.
	ran := false
	err = guard.DoContext(ctx, func() { ran = true })
	var ns *guard.NotStartedError
	if !errors.As(err, &ns) || ran {
		t.Fatalf("done context: %v (ran %v)", err, ran)
	}
}

// The deadline covers all of f: Go code that takes most of it, then a
// blocking C call, which is stopped when the deadline passes.
func TestDoContextDeadlineCoversF(t *testing.T) {
	blockingSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r := payload.NewResult(0)
	defer payload.Free(r)
	start := time.Now()
	calls := 0
	err := guard.DoContext(ctx, func() {
		for calls == 0 || time.Since(start) < 50*time.Millisecond {
			payload.RawCall(payload.Empty, nil) // C calls before the deadline run normally
			calls++
		}
		payload.RawCall(payload.ReadPipe, unsafe.Pointer(r))
	})
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || took < 300*time.Millisecond || took > 3*time.Second || calls == 0 {
		t.Fatalf("got %v after %v (%d calls before)", err, took, calls)
	}
}

// A deadline that passed while f ran Go code stops its next C call: at
// once with WithGrace(0), even a healthy one.
func TestDoContextNextCallAfterDeadline(t *testing.T) {
	err := guard.Do(func() {
		deadline := time.Now().Add(20 * time.Millisecond)
		for time.Now().Before(deadline) {
		}
		time.Sleep(5 * time.Millisecond)
		for i := 0; i < 1e6; i++ {
			payload.RawCall(payload.SpinUs, unsafe.Pointer(payload.NewResultValue(100)))
		}
	}, guard.WithTimeout(20*time.Millisecond), guard.WithGrace(0))
	var ie *guard.InterruptError
	if !errors.As(err, &ie) || !ie.Forced {
		t.Fatalf("got %v, want a forced interrupt", err)
	}
}

// A fault inside DoContext is a CrashError as in Do; a deadline that does
// not pass changes nothing; Call with a deadline of its own inside it is
// refused (one deadline per thread).
func TestDoContextFaultsAndNesting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 100; i++ {
		err := guard.DoContext(ctx, func() { payload.RawCall(payload.NullWrite, nil) }, guard.WithTimeout(time.Second))
		if !errors.Is(err, guard.ErrCrash) {
			t.Fatalf("fault in DoContext: %v", err)
		}
		r := payload.NewResult(i)
		err = guard.DoContext(ctx, func() { payload.RawCall(payload.Healthy, unsafe.Pointer(r)) })
		if err != nil || r.Out() != 2*i+1 {
			t.Fatalf("healthy DoContext: %v", err)
		}
		payload.Free(r)
	}
	var inner error
	err := guard.DoContext(ctx, func() {
		inner = guard.Call(payload.Empty, nil, guard.WithTimeout(time.Second))
	})
	if err != nil || !errors.Is(inner, guard.ErrNestedDeadline) {
		t.Fatalf("Call with a deadline inside DoContext: %v / %v", inner, err)
	}
	// Plain Call and Do inside DoContext are fine.
	err = guard.DoContext(ctx, func() {
		inner = guard.Do(func() { payload.RawCall(payload.NullWrite, nil) })
	})
	if err != nil || !errors.Is(inner, guard.ErrCrash) {
		t.Fatalf("Do inside DoContext: %v / %v", inner, err)
	}
}
