package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// modes are the modes defined outside main.go, by name.
var modes = map[string]func(){
	"do-recover-helper":     doRecoverHelper,
	"do-recover-fmt":        doRecoverFmt,
	"do-recover-hooks":      doRecoverHooks,
	"do-recover-goroutines": doRecoverGoroutines,
	"do-defer-fault":        doDeferFault,
	"do-recover-nested":     doRecoverNested,
}

// recoverFault makes a faulting cgo call and recovers its panic, as a
// helper library that recovers every panic would: it returns what it
// recovered.
func recoverFault() (v any) {
	defer func() { v = recover() }()
	payload.RawCall(payload.NullWrite, nil)
	return "not reached"
}

// wantCrash fails unless err is a CrashError of a SIGSEGV.
func wantCrash(what string, err error) {
	var ce *guard.CrashError
	if !errors.As(err, &ce) || !strings.Contains(ce.Error(), "SIGSEGV") {
		fail(fmt.Sprintf("%s: got %v, want a SIGSEGV CrashError", what, err))
	}
}

// doRecoverHelper: a helper inside Do recovers the fault's panic; a second
// fault in the same Do must come back from Do.
func doRecoverHelper() {
	ran := false
	err := guard.Do(func() {
		v := recoverFault()
		ce, ok := v.(*guard.CrashError)
		if !ok {
			fail(fmt.Sprintf("helper recovered %v, want a *guard.CrashError", v))
		}
		fmt.Println("helper recovered:", ce)
		fmt.Println("second fault next")
		payload.RawCall(payload.NullWrite, nil)
		ran = true
	})
	if ran {
		fail("code after the second fault ran")
	}
	wantCrash("second fault", err)
	fmt.Println("second fault recovered by Do")
	// The region works again for the next Do too.
	wantCrash("next Do", guard.Do(func() { payload.RawCall(payload.NullWrite, nil) }))
	fmt.Println("next Do recovered")
	os.Exit(0)
}

// faultyStringer faults in C when fmt formats it; fmt recovers the panic.
type faultyStringer struct{}

func (faultyStringer) String() string {
	payload.RawCall(payload.NullWrite, nil)
	return "not reached"
}

// doRecoverFmt: fmt recovers the panic of a fault in a String method, then
// a second fault in the same Do.
func doRecoverFmt() {
	err := guard.Do(func() {
		s := fmt.Sprintf("%v", faultyStringer{})
		fmt.Println("fmt printed:", s)
		if !strings.HasPrefix(s, "%!v(PANIC=String method: guard: SIGSEGV") {
			fail("fmt did not print the recovered fault")
		}
		fmt.Println("second fault next")
		payload.RawCall(payload.NullWrite, nil)
	})
	wantCrash("second fault", err)
	fmt.Println("second fault recovered by Do")
	os.Exit(0)
}

// doRecoverHooks: a fault that f recovers reaches the OnCrash hooks and
// ReadStats, and Do returns nil.
func doRecoverHooks() {
	var seen []*guard.CrashError
	remove := guard.OnCrash(func(ce *guard.CrashError) { seen = append(seen, ce) })
	defer remove()
	before := guard.ReadStats()
	var got any
	err := guard.Do(func() { got = recoverFault() })
	after := guard.ReadStats()
	if err != nil {
		fail(fmt.Sprintf("Do returned %v after f recovered the fault, want nil", err))
	}
	if len(seen) != 1 || any(seen[0]) != got {
		fail(fmt.Sprintf("hooks saw %d faults (%v), want the one f recovered (%v)", len(seen), seen, got))
	}
	fmt.Printf("hook saw: %v\n", seen[0])
	fmt.Printf("stats: crashes +%d, taint %v\n", after.Crashes-before.Crashes, after.LastTaint.Level)
	if after.Crashes-before.Crashes != 1 || after.LastTaint.Level != guard.TaintLibrary {
		fail("ReadStats did not count the fault f recovered")
	}
	// A fault Do recovers is seen once too.
	wantCrash("Do's own", guard.Do(func() { payload.RawCall(payload.NullWrite, nil) }))
	if len(seen) != 2 || guard.ReadStats().Crashes-before.Crashes != 2 {
		fail(fmt.Sprintf("after a fault Do recovered: hooks %d, crashes +%d, want 2 each", len(seen), guard.ReadStats().Crashes-before.Crashes))
	}
	fmt.Println("hooks and stats saw every fault")
	os.Exit(0)
}

// doRecoverGoroutines: 8 goroutines, each in a loop of Do calls in which f
// recovers several faults of its own, then leaves one to Do.
func doRecoverGoroutines() {
	const workers, rounds, inner = 8, 200, 4
	var hooked atomic.Int64
	defer guard.OnCrash(func(*guard.CrashError) { hooked.Add(1) })()
	before := guard.ReadStats()
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				recovered := 0
				err := guard.Do(func() {
					for j := 0; j < inner; j++ {
						if _, ok := recoverFault().(*guard.CrashError); ok {
							recovered++
						}
					}
					payload.RawCall(payload.NullWrite, nil)
				})
				var ce *guard.CrashError
				if recovered != inner || !errors.As(err, &ce) {
					errs <- fmt.Sprintf("round %d: f recovered %d of %d, Do returned %v", i, recovered, inner, err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		fail("goroutines did not finish in 40s")
	}
	close(errs)
	for e := range errs {
		fail(e)
	}
	want := int64(workers * rounds * (inner + 1))
	s := guard.ReadStats()
	fmt.Printf("faults %d, hooks %d, crashes %d\n", want, hooked.Load(), s.Crashes-before.Crashes)
	if hooked.Load() != want || int64(s.Crashes-before.Crashes) != want {
		fail("not every fault was counted")
	}
	fmt.Println("every fault recovered and counted")
	os.Exit(0)
}

// doDeferFault: while a fault's panic unwinds f, a deferred call faults in
// C too: the second fault replaces the first, as a Go panic in a deferred
// call does, and Do returns it.
func doDeferFault() {
	err := guard.Do(func() {
		defer payload.RawCall(payload.Abort, nil)
		payload.RawCall(payload.NullWrite, nil)
	})
	var ce *guard.CrashError
	if !errors.As(err, &ce) || !strings.Contains(ce.Error(), "SIGABRT") {
		fail(fmt.Sprintf("got %v, want the deferred call's SIGABRT", err))
	}
	fmt.Println("deferred fault recovered by Do:", ce.Signal)
	os.Exit(0)
}

// doRecoverNested: recovered faults and nested Do calls in every order.
// An inner Do whose f recovers a fault and then faults again returns the
// second; the outer f goes on and its own fault comes back from the outer
// Do. While the outer fault's panic unwinds, a deferred call runs a Do
// that faults: that Do takes its fault, and the outer Do still recovers
// the panic in flight.
func doRecoverNested() {
	var inner, deferred error
	err := guard.Do(func() {
		inner = guard.Do(func() {
			if _, ok := recoverFault().(*guard.CrashError); !ok {
				fail("inner f did not recover its fault")
			}
			payload.RawCall(payload.Abort, nil)
		})
		defer func() {
			deferred = guard.Do(func() { payload.RawCall(payload.Abort, nil) })
		}()
		payload.RawCall(payload.NullWrite, nil)
	})
	var ce *guard.CrashError
	if !errors.As(inner, &ce) || ce.Depth != 2 || !strings.Contains(ce.Error(), "SIGABRT") {
		fail(fmt.Sprintf("inner Do: %v, want its SIGABRT at depth 2", inner))
	}
	if !errors.As(deferred, &ce) || ce.Depth != 2 || !strings.Contains(ce.Error(), "SIGABRT") {
		fail(fmt.Sprintf("Do in a deferred call: %v, want its SIGABRT at depth 2", deferred))
	}
	if !errors.As(err, &ce) || ce.Depth != 1 || !strings.Contains(ce.Error(), "SIGSEGV") {
		fail(fmt.Sprintf("outer Do: %v, want its SIGSEGV at depth 1", err))
	}
	fmt.Println("nested: inner, deferred and outer faults each returned by their own Do")
	os.Exit(0)
}
