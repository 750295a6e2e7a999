package tests

import (
	"errors"
	"math/rand"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/internal/testwait"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// TestConcurrentMix runs 16+ goroutines, half locked to their OS thread,
// each mixing every fault class with healthy calls. Every call must get its
// own result: the right signal for a fault, its own output for a healthy
// call. Cross-talk between threads would show up as a wrong signal, a
// missing fault, or another goroutine's output.
func TestConcurrentMix(t *testing.T) {
	faults := payload.Faults()
	for _, f := range faults {
		setup(t, f)
	}
	payload.QuietStderr(true) // assert and glibc's free check print
	defer payload.QuietStderr(false)

	workers := 2 * max(8, runtime.GOMAXPROCS(0))
	iters := 400
	if testing.Short() {
		iters = 60
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
			rng := rand.New(rand.NewSource(int64(w)))
			r := payload.NewResult(0)
			defer payload.Free(r)
			for i := 0; i < iters; i++ {
				if rng.Intn(2) == 0 {
					in := w*1_000_000 + i
					*r = *payload.NewResultValue(in)
					if err := guard.Call(payload.Healthy, unsafe.Pointer(r)); err != nil {
						errs <- err
						return
					}
					if r.Out() != 2*in+1 {
						errs <- errors.New("healthy call saw another call's result")
						return
					}
					continue
				}
				f := faults[rng.Intn(len(faults))]
				err := guard.Call(f.Fn, unsafe.Pointer(r), guard.WithMaxFrames(4))
				var ce *guard.CrashError
				if !errors.As(err, &ce) || ce.Signal != f.Signal || (f.Code != 0 && ce.Code != f.Code) {
					errs <- &mismatch{f.Name, err}
					return
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

type mismatch struct {
	name string
	err  error
}

func (m *mismatch) Error() string { return m.name + ": unexpected result: " + errString(m.err) }

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
