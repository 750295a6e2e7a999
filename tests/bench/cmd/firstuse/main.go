// Command firstuse measures, in a fresh process, what the first uses of
// cgoguard cost: installing the handlers, the first call with a deadline
// (the watchdog thread, the thread's slot, the timeout signal's handler;
// the TSC is calibrated in the background afterwards), the first
// cancellable call, the first fault without frames, and the first fault
// with frames, which loads the symbolizer's tables (and the memory that
// takes). Build it with go build (go run strips the symbols the
// symbolizer reads).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/bench/cfuncs"
)

func rssKiB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func main() {
	var arg unsafe.Pointer
	step := func(name string, f func() error) {
		r0 := rssKiB()
		t0 := time.Now()
		err := f()
		d := time.Since(t0)
		fmt.Printf("first use: %-44s %9.1f µs  RSS %+6d KiB\n", name, float64(d)/1e3, rssKiB()-r0)
		if err != nil {
			fmt.Fprintln(os.Stderr, name, err)
			os.Exit(1)
		}
	}
	step("guard.Install", guard.Install)
	step("guard.Call", func() error { return guard.Call(cfuncs.Empty, arg) })
	step("guard.Call, WithTimeout (watchdog start)", func() error {
		return guard.Call(cfuncs.Empty, arg, guard.WithTimeout(time.Second))
	})
	step("guard.Call, WithTimeout, second", func() error {
		return guard.Call(cfuncs.Empty, arg, guard.WithTimeout(time.Second))
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	step("guard.CallContext, cancellable", func() error { return guard.CallContext(ctx, cfuncs.Empty, arg) })
	crash := func(opts ...guard.Option) func() error {
		return func() error {
			if err := guard.Call(cfuncs.NullWrite, nil, opts...); !errors.Is(err, guard.ErrCrash) {
				return fmt.Errorf("no crash: %v", err)
			}
			return nil
		}
	}
	step("fault, WithMaxFrames(0)", crash(guard.WithMaxFrames(0)))
	step("fault with frames (loads the symbolizer)", crash())
	step("fault with frames, second", crash())
	// The deadline clock: calibrated in the background over 10 ms.
	time.Sleep(30 * time.Millisecond)
	step("guard.Call, WithTimeout, after calibration", func() error {
		return guard.Call(cfuncs.Empty, arg, guard.WithTimeout(time.Second))
	})
}
