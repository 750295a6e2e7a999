package tests

// Go's own faults stay Go's panics while guarded faults happen in C on
// other goroutines. faultLoop, the background of guarded faults, also
// serves notify_test.go, cpuprofile_test.go and deadline_test.go.

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// faultLoop keeps n goroutines taking guarded faults until stop is closed
// (every other one in plain cgo calls inside guard.Do, the rest through Call),
// and reports the first wrong result.
func faultLoop(t *testing.T, n int) (stop func() int64) {
	t.Helper()
	if err := guard.Install(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var count atomic.Int64
	var bad atomic.Value
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			fns := []unsafe.Pointer{payload.NullWrite, payload.Abort, payload.StackOverflw}
			r := payload.NewResult(0)
			defer payload.Free(r)
			for {
				select {
				case <-done:
					return
				default:
				}
				fn := fns[i%len(fns)]
				var err error
				if i%2 == 1 { // every other worker: a plain cgo call inside guard.Do
					err = guard.Do(func() { payload.RawCall(fn, unsafe.Pointer(r)) }, guard.WithMaxFrames(8))
				} else {
					err = guard.Call(fn, unsafe.Pointer(r), guard.WithMaxFrames(8))
				}
				if !errors.Is(err, guard.ErrCrash) {
					bad.Store(errString(err))
					return
				}
				count.Add(1)
			}
		}(i)
	}
	var once sync.Once
	return func() int64 {
		once.Do(func() {
			close(done)
			wg.Wait()
			if b := bad.Load(); b != nil {
				t.Errorf("guarded fault loop: %v", b)
			}
		})
		return count.Load()
	}
}

func nilDeref() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err, _ = r.(error)
		}
	}()
	var p *[16]int
	p[3] = 1
	return nil
}

//go:noinline
func divide(a, b int) int { return a / b }

func divZero() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err, _ = r.(error)
		}
	}()
	divide(1, 0)
	return nil
}

// Go's own faults stay Go panics, recoverable, while other goroutines take
// guarded faults in C.
func TestGoPanicsStayPanics(t *testing.T) {
	stop := faultLoop(t, 4)
	defer stop()
	for i := 0; i < 2000; i++ {
		var re runtime.Error
		if err := nilDeref(); !errors.As(err, &re) || !strings.Contains(err.Error(), "nil pointer dereference") {
			t.Fatalf("nil dereference in Go: recovered %v", err)
		}
		if err := divZero(); !errors.As(err, &re) || !strings.Contains(err.Error(), "integer divide by zero") {
			t.Fatalf("divide by zero in Go: recovered %v", err)
		}
	}
	if n := stop(); n == 0 {
		t.Fatal("no guarded fault happened meanwhile")
	}
}
