//go:build linux && amd64 && cgo

package guard

import (
	"errors"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// A fault under Do names the kernel thread it happened on, also on a
// thread that never ran a guard point (which records its id when it is
// prepared). Each goroutine locks a thread and exits locked, so the
// thread is discarded and later ones are new.
func TestDoFaultThreadID(t *testing.T) {
	for i := range 20 {
		type res struct {
			tid int
			err error
		}
		ch := make(chan res, 1)
		go func() {
			runtime.LockOSThread() // not unlocked: the thread ends with the goroutine
			ch <- res{syscall.Gettid(), Do(testNullWrite)}
		}()
		var r res
		select {
		case r = <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d: Do did not return in 10s", i)
		}
		var ce *CrashError
		if !errors.As(r.err, &ce) {
			t.Fatalf("run %d: Do(testNullWrite) = %v, want a *CrashError", i, r.err)
		}
		if ce.ThreadID != r.tid {
			t.Fatalf("run %d: CrashError.ThreadID = %d, want the faulting thread's %d", i, ce.ThreadID, r.tid)
		}
	}
}
