// Command unknownruntimeprog is the program of TestUnknownRuntime
// (tests/unknownruntime_test.go), built with -tags
// cgoguard_testunknownruntime so that the package takes its runtime's cgo
// boundary for one it does not know. Do and DoContext must refuse with
// ErrRuntimeUnsupported, naming the Go version; Call and CallContext must
// recover faults and interrupt a blocked call as usual; an unguarded fault
// must still be Go's. It prints one line per check and "ok" last, then
// (with the argument "unguarded") faults outside any guard.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

func fail(format string, args ...any) {
	fmt.Printf("FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	r := payload.NewResult(0)
	defer payload.Free(r)

	ran := false
	err := guard.Do(func() { ran = true })
	if !errors.Is(err, guard.ErrRuntimeUnsupported) || !errors.Is(err, guard.ErrUnsupported) || ran {
		fail("Do: got %v (f ran: %v), want ErrRuntimeUnsupported without running f", err, ran)
	}
	if !strings.Contains(err.Error(), runtime.Version()) {
		fail("Do's error does not name %s: %v", runtime.Version(), err)
	}
	fmt.Printf("Do refused: %v\n", err)
	err = guard.DoContext(context.Background(), func() { ran = true }, guard.WithTimeout(time.Second))
	if !errors.Is(err, guard.ErrRuntimeUnsupported) || !errors.Is(err, guard.ErrUnsupported) || ran {
		fail("DoContext: got %v (f ran: %v), want ErrRuntimeUnsupported", err, ran)
	}
	fmt.Println("DoContext refused")

	for i := 0; i < 3; i++ {
		for _, fn := range []unsafe.Pointer{payload.NullWrite, payload.Abort} {
			var ce *guard.CrashError
			if err := guard.Call(fn, unsafe.Pointer(r)); !errors.As(err, &ce) {
				fail("Call fault %d: got %v, want a CrashError", i, err)
			}
		}
	}
	if err := guard.Call(payload.Empty, unsafe.Pointer(r)); err != nil {
		fail("Call of a healthy function: %v", err)
	}
	fmt.Println("Call recovered 6 faults")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = guard.CallContext(ctx, payload.SleepUntil, unsafe.Pointer(r))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, guard.ErrTimeout) {
		fail("CallContext past its deadline: got %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		fail("CallContext returned after %v", d)
	}
	fmt.Println("CallContext interrupted a blocked call")
	fmt.Println("ok")

	if len(os.Args) > 1 && os.Args[1] == "unguarded" {
		payload.RawNullWriteDeep()
		fmt.Println("survived an unguarded NULL write")
		os.Exit(66)
	}
}
