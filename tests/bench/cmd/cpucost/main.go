// Command cpucost measures the per-call cost of guarded calls in thread CPU
// time (CLOCK_THREAD_CPUTIME_ID) rather than wall time, with the goroutine
// locked to its thread, interleaving the variants round by round: on a
// shared machine the time other processes take the CPU is not counted, and
// each ratio compares runs made moments apart.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/bench/cfaultloop"
	"github.com/cgoguard/cgoguard/tests/bench/cfuncs"
)

func cpuNow() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

func main() {
	rounds := flag.Int("rounds", 15, "rounds")
	n := flag.Int("n", 2_000_000, "calls per variant per round")
	only := flag.String("only", "", "run only this variant (for perf stat)")
	flag.Parse()
	runtime.LockOSThread()
	if err := guard.Install(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dl := guard.WithTimeout(time.Second)
	nf := guard.WithMaxFrames(0)
	var arg unsafe.Pointer
	type variant struct {
		name string
		div  int // fewer calls per round
		per  int // operations per call of f (0: 1)
		f    func()
	}
	vs := []variant{
		{"RawCgo", 1, 0, func() { cfuncs.RawEmpty(arg) }},
		{"GuardCall", 1, 0, func() { _ = guard.Call(cfuncs.Empty, arg) }},
		{"GuardCallDeadline", 1, 0, func() { _ = guard.Call(cfuncs.Empty, arg, dl) }},
		{"GuardCallContext", 1, 0, func() { _ = guard.CallContext(ctx, cfuncs.Empty, arg) }},
		{"FaultRecover", 100, 0, func() {
			if err := guard.Call(cfuncs.NullWrite, nil, nf); !errors.Is(err, guard.ErrCrash) {
				panic(err)
			}
		}},
		{"FaultRecoverCLoop", 10000, 100, func() { cfaultloop.Loop(100, 0) }},
		{"FaultRecoverFrames", 100, 0, func() {
			if err := guard.Call(cfuncs.NullWrite, nil); !errors.Is(err, guard.ErrCrash) {
				panic(err)
			}
		}},
	}
	for _, d := range doVariants(arg, ctx) {
		vs = append(vs, variant{name: d.name, div: d.div, f: d.f})
	}
	if *only != "" {
		for _, v := range vs {
			if v.name == *only {
				for range *n / v.div {
					v.f()
				}
				return
			}
		}
		fmt.Fprintln(os.Stderr, "no variant", *only)
		os.Exit(2)
	}
	res := make([][]float64, len(vs))
	for r := 0; r < *rounds; r++ {
		for i, v := range vs {
			k := *n / v.div
			t0 := cpuNow()
			for range k {
				v.f()
			}
			res[i] = append(res[i], float64(cpuNow()-t0)/float64(k*max(v.per, 1)))
		}
	}
	for i, v := range vs {
		ratios := make([]float64, len(res[i]))
		for r := range res[i] {
			ratios[r] = res[i][r] / res[0][r]
		}
		slices.Sort(ratios)
		s := slices.Clone(res[i])
		slices.Sort(s)
		fmt.Printf("%-20s %9.2f ns (thread CPU, median of %d)  x raw %.2f\n", v.name, s[len(s)/2], len(s), ratios[len(ratios)/2])
	}
}
