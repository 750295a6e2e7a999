package tests

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// hasDetails reports what an error of a fault or interrupt lacks of the
// record the handler took ("" when nothing).
func lacksDetails(err error) string {
	var ce *guard.CrashError
	var ie *guard.InterruptError
	switch {
	case errors.As(err, &ce):
		if ce.PC == 0 || ce.SP == 0 || ce.Time.IsZero() || len(ce.Frames) == 0 || ce.Registers.RIP == 0 {
			return fmt.Sprintf("fault without details: pc %#x sp %#x time %v, %d frames", ce.PC, ce.SP, ce.Time, len(ce.Frames))
		}
	case errors.As(err, &ie):
		if ie.PC == 0 || ie.SP == 0 || ie.Time.IsZero() || len(ie.Frames) == 0 {
			return fmt.Sprintf("interrupt without details: pc %#x sp %#x time %v, %d frames", ie.PC, ie.SP, ie.Time, len(ie.Frames))
		}
	default:
		return fmt.Sprintf("not a fault or interrupt: %v", err)
	}
	return ""
}

// A storm of faults and interrupts on many goroutines at once: more errors
// are in flight between the C side handing over their records and the Go
// side reading them than a fixed pool holds (the goroutines wait for a P
// with their record taken), and every error still carries its details.
func TestRecordStorm(t *testing.T) {
	goroutines, rounds := 1500, 12
	if testing.Short() {
		goroutines, rounds = 600, 6
	}
	if err := payload.BlockingSetup(); err != nil {
		t.Fatal(err)
	}
	var calls, bare atomic.Int64
	var first atomic.Value
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := payload.NewResult(0)
			defer payload.Free(r)
			<-start
			for i := 0; i < rounds; i++ {
				var err error
				switch (g + i) % 4 {
				case 0:
					err = guard.Call(payload.NullWrite, nil)
				case 1:
					err = guard.Do(func() { payload.RawCall(payload.NullWrite, nil) })
				case 2:
					err = guard.Call(payload.ReadPipe, unsafe.Pointer(r), guard.WithTimeout(time.Millisecond))
				case 3:
					err = guard.Do(func() { payload.RawCall(payload.ReadPipe, unsafe.Pointer(r)) }, guard.WithTimeout(time.Millisecond))
				}
				calls.Add(1)
				if why := lacksDetails(err); why != "" {
					bare.Add(1)
					first.CompareAndSwap(nil, why)
				}
			}
		}()
	}
	close(start)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the storm did not end in 3 minutes (%d calls)", calls.Load())
	}
	t.Logf("%d calls on %d goroutines, %d without details", calls.Load(), goroutines, bare.Load())
	if bare.Load() != 0 {
		t.Fatalf("%d of %d errors came back without details; first: %v", bare.Load(), calls.Load(), first.Load())
	}
}
