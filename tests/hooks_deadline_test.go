package tests

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// The hooks of a DoContext's fault or interrupt run after its deadline is
// disarmed: a hook's C call is neither stopped nor cut short by the
// deadline of the call it observes, and a guarded call in a hook may have
// a deadline of its own.

// hookPoll polls an empty pipe for 300 ms in a plain cgo call and reports
// how that went: poll's result (0: it timed out; -1: a signal cut it
// short) and how long it took.
func hookPoll() (int, time.Duration) {
	r := payload.NewResult(300)
	defer payload.Free(r)
	start := time.Now()
	payload.RawCall(payload.PollOnce, unsafe.Pointer(r))
	return r.Out(), time.Since(start)
}

func TestHooksRunOutsideTheDeadline(t *testing.T) {
	blockingSetup(t)
	cases := []struct {
		name string
		f    func()
		want error
	}{
		{"fault", func() { payload.RawCall(payload.NullWrite, nil) }, guard.ErrCrash},
		{"interrupt", func() {
			r := payload.NewResult(0)
			defer payload.Free(r)
			payload.RawCall(payload.ReadPipe, unsafe.Pointer(r))
		}, context.DeadlineExceeded},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runLocked(t, c.name, func() string {
				var polled int
				var took time.Duration
				var callErr error
				hook := func() {
					polled, took = hookPoll()
					callErr = guard.Call(payload.Empty, nil, guard.WithTimeout(time.Second))
				}
				removeCrash := guard.OnCrash(func(*guard.CrashError) { hook() })
				removeInt := guard.OnInterrupt(func(*guard.InterruptError) { hook() })
				defer removeCrash()
				defer removeInt()
				err := guard.DoContext(context.Background(), c.f, guard.WithTimeout(50*time.Millisecond))
				switch {
				case !errors.Is(err, c.want):
					return fmt.Sprintf("DoContext = %v, want an error matching %v", err, c.want)
				case polled != 0 || took < 250*time.Millisecond:
					return fmt.Sprintf("the hook's 300 ms poll returned %d after %v: cut short by the deadline", polled, took)
				case callErr != nil:
					return fmt.Sprintf("guard.Call with a deadline in the hook: %v, want nil", callErr)
				}
				return ""
			})
		})
	}
}
