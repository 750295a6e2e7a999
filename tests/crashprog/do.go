package main

import (
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// doFaults recovers a few faults inside guard.Do.
func doFaults() {
	r := payload.NewResult(0)
	defer payload.Free(r)
	for i := 0; i < 3; i++ {
		for _, fn := range []unsafe.Pointer{payload.NullWrite, payload.Abort} {
			if err := guard.Do(func() { payload.RawCall(fn, unsafe.Pointer(r)) }); !errors.Is(err, guard.ErrCrash) {
				fail(fmt.Sprintf("Do fault %d: got %v, want a CrashError", i, err))
			}
		}
	}
	fmt.Println("Do faults recovered")
}

// doUnguarded: faults recovered inside Do, then a C fault outside any Do.
func doUnguarded() {
	doFaults()
	fmt.Println("unguarded fault next")
	payload.RawNullWriteDeep()
	fmt.Println("survived an unguarded NULL write")
	os.Exit(66)
}

// doOtherGoroutine: another goroutine sits inside Do, blocked in C, while
// this one faults in C outside any Do: the fault is not the region's.
func doOtherGoroutine() {
	doFaults()
	r := payload.NewResult(0)
	started := make(chan bool)
	go func() {
		_ = guard.Do(func() {
			started <- true
			payload.RawCall(payload.SleepUntil, unsafe.Pointer(r))
		})
		fmt.Println("sleeper returned")
		os.Exit(67)
	}()
	<-started
	time.Sleep(20 * time.Millisecond)
	fmt.Println("unguarded fault next")
	payload.RawNullWriteDeep()
	os.Exit(66)
}

// doNoCallback: inside Do, a fault in a function marked #cgo nocallback.
// The runtime forbids the callback Do needs, so the fault is fatal, as
// without cgoguard.
func doNoCallback() {
	doFaults()
	fmt.Println("nocallback fault next")
	_ = guard.Do(func() { payload.RawCallNoCallback(payload.NullWrite, nil) })
	fmt.Println("survived a fault in a nocallback call")
	os.Exit(66)
}
