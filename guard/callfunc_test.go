//go:build linux && amd64 && cgo

package guard_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/internal/examplec"
)

// CallFunc and CallFuncContext take the options Call and CallContext take.
func TestCallFuncOptions(t *testing.T) {
	if n, err := guard.CallFunc(examplec.Divide, []uintptr{84, 2}); n != 42 || err != nil {
		t.Fatalf("CallFunc(divide, 84, 2) = %d, %v", n, err)
	}

	// WithMaxFrames: 0 records no C frames; the default records some.
	var ce *guard.CrashError
	_, err := guard.CallFunc(examplec.Divide, []uintptr{1, 0})
	if !errors.As(err, &ce) || ce.Signal != syscall.SIGFPE || len(ce.Frames) == 0 {
		t.Fatalf("divide by 0: %v (frames %d)", err, len(ce.Frames))
	}
	_, err = guard.CallFunc(examplec.Divide, []uintptr{1, 0}, guard.WithMaxFrames(0))
	if !errors.As(err, &ce) || ce.Signal != syscall.SIGFPE || len(ce.Frames) != 0 {
		t.Fatalf("divide by 0, WithMaxFrames(0): %v (frames %d)", err, len(ce.Frames))
	}

	// WithTimeout and WithRetries: two attempts of a call that never
	// returns, each stopped in its system call.
	var ie *guard.InterruptError
	start := time.Now()
	_, err = guard.CallFunc(examplec.StallFunc, nil, guard.WithTimeout(20*time.Millisecond), guard.WithRetries(1))
	if !errors.As(err, &ie) || !errors.Is(err, guard.ErrTimeout) || !ie.InSyscall || ie.Attempts != 2 ||
		ie.Timeout != 20*time.Millisecond {
		t.Fatalf("stall with WithTimeout and WithRetries(1): %v (%+v)", err, ie)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v", took)
	}

	// A bad option, like too many arguments, runs nothing.
	if _, err := guard.CallFunc(examplec.Divide, []uintptr{1, 0}, guard.WithTimeout(-time.Second)); err == nil ||
		errors.Is(err, guard.ErrCrash) {
		t.Errorf("WithTimeout(-1s): %v, want the option's error", err)
	}
	if _, err := guard.CallFunc(examplec.Divide, make([]uintptr, 7)); !errors.Is(err, guard.ErrTooManyArgs) {
		t.Errorf("7 arguments: %v", err)
	}
	if _, err := guard.CallFunc(nil, nil, guard.WithTimeout(time.Second)); !errors.Is(err, guard.ErrNilFunction) {
		t.Errorf("nil function: %v", err)
	}

	// CallFuncContext: the same shape with a context in front.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = guard.CallFuncContext(ctx, examplec.StallFunc, nil, guard.WithMaxFrames(0))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ie) || len(ie.Frames) != 0 {
		t.Fatalf("CallFuncContext past its deadline: %v", err)
	}
	if _, err := guard.CallFuncContext(ctx, examplec.Divide, []uintptr{84, 2}); !errors.As(err, new(*guard.NotStartedError)) {
		t.Errorf("CallFuncContext with a done ctx: %v", err)
	}
}

// Stats count each *CrashError and each interrupted attempt once, a fault
// that Go code in Do's f recovered too.
func TestStatsCountWhatIsReturned(t *testing.T) {
	before := guard.ReadStats()
	guard.CallFunc(examplec.Divide, []uintptr{1, 0})
	guard.Do(func() {
		defer func() { recover() }()
		examplec.Parse("4x2")
	})
	guard.Call(examplec.StallFunc, nil, guard.WithTimeout(10*time.Millisecond), guard.WithRetries(1))
	s := guard.ReadStats()
	if s.Crashes-before.Crashes != 2 || s.Interrupts-before.Interrupts != 2 || s.Forced != before.Forced {
		t.Errorf("before %+v\nafter %+v\nwant Crashes +2, Interrupts +2, Forced +0", before, s)
	}
	if s.LastTaint.Level != guard.TaintLibrary || !s.LastTime.After(before.LastTime) {
		t.Errorf("last taint %v at %v", s.LastTaint.Level, s.LastTime)
	}
}
