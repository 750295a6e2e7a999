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

// A recover() inside Do, by a helper or by fmt's String-method recover,
// leaves the region working: a second fault in the same Do comes back from
// Do (before the fix it reached Go's handler, exit 2). A fault f recovers
// reaches the OnCrash hooks and ReadStats; a fault in a deferred call
// while a fault's panic unwinds f replaces it; 8 goroutines recovering
// their own faults in a loop lose none.
func TestDoRecoverInside(t *testing.T) {
	bins := crashprog(t)
	cases := []struct {
		mode string
		want []string
	}{
		{"do-recover-helper", []string{"helper recovered: guard: SIGSEGV", "second fault next",
			"second fault recovered by Do", "next Do recovered"}},
		{"do-recover-fmt", []string{"fmt printed: %!v(PANIC=String method: guard: SIGSEGV: segmentation violation",
			"second fault next", "second fault recovered by Do"}},
		{"do-recover-hooks", []string{"hook saw: guard: SIGSEGV", "stats: crashes +1, taint library",
			"hooks and stats saw every fault"}},
		{"do-recover-goroutines", []string{"faults 8000, hooks 8000, crashes 8000",
			"every fault recovered and counted"}},
		{"do-defer-fault", []string{"deferred fault recovered by Do: aborted"}},
		{"do-recover-nested", []string{"nested: inner, deferred and outer faults each returned by their own Do"}},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			out, ws := runChild(t, childEnv(""), bins.std, c.mode)
			wantExit0(t, c.mode, ws, out)
			wantContains(t, c.mode, out, c.want...)
		})
	}
}

// An interrupt that f recovers inside DoContext reaches the OnInterrupt
// hooks once, completed with DoContext's context and timeout, and Do
// returns nil; a fault later in the same f is still taken.
func TestDoContextRecoveredInterrupt(t *testing.T) {
	blockingSetup(t)
	var seen []*guard.InterruptError
	remove := guard.OnInterrupt(func(e *guard.InterruptError) { seen = append(seen, e) })
	defer remove()
	r := payload.NewResult(0)
	defer payload.Free(r)
	var got any
	var second error
	err := guard.DoContext(context.Background(), func() {
		got = func() (v any) {
			defer func() { v = recover() }()
			payload.RawCall(payload.ReadPipe, unsafe.Pointer(r))
			return nil
		}()
		second = guard.Do(func() { payload.RawCall(payload.NullWrite, nil) })
	}, guard.WithTimeout(20*time.Millisecond))
	if err != nil {
		t.Fatalf("DoContext returned %v after f recovered the interrupt, want nil", err)
	}
	ie, ok := got.(*guard.InterruptError)
	if !ok {
		t.Fatalf("f recovered %v, want an *InterruptError", got)
	}
	if len(seen) != 1 || seen[0] != ie {
		t.Fatalf("OnInterrupt saw %d interrupts, want the one f recovered", len(seen))
	}
	if ie.Timeout != 20*time.Millisecond || ie.Attempts != 1 || !errors.Is(ie, context.DeadlineExceeded) || len(ie.Frames) == 0 {
		t.Fatalf("interrupt not completed: %+v", *ie)
	}
	if !errors.Is(second, guard.ErrCrash) {
		t.Fatalf("a fault after the recovered interrupt: %v, want a CrashError", second)
	}
}
