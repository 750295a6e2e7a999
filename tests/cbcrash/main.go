// Command cbcrash faults in C code called, without a guard, from a Go
// callback that guarded C code made. The outer guard must not take that
// fault (jumping over the Go callback's frames would corrupt the runtime):
// the process must crash the way Go crashes for any unguarded C fault.
//
// The inner-* modes guard the C code the callback calls instead
// (C -> Go -> guard.Call -> C that breaks RSP, or RIP and RSP, and faults):
// the callback's own guard takes the fault, the callback goes on with a
// healthy guarded call and returns, and the process prints "ok <mode>"
// and exits 0:
//
//	cbcrash inner-guarded-badrsp[-noframes]     the outer C is guard.Call's
//	cbcrash inner-guarded-badriprsp[-noframes]
//	cbcrash inner-raw-badrsp[-noframes]         the outer C is a plain cgo call
//	cbcrash inner-raw-badriprsp[-noframes]
//	cbcrash inner-do-badrsp[-noframes]          a plain cgo call inside guard.Do
//	cbcrash inner-do-badriprsp[-noframes]
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

func main() {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "inner-") {
		inner(os.Args[1])
		return
	}
	payload.SetCallback(func(int) int {
		payload.RawNullWrite()
		return 0
	})
	r := payload.NewResult(0)
	var opts []guard.Option
	if len(os.Args) > 1 && os.Args[1] == "noframes" {
		// No frames wanted: the handler then checks for Go frames with
		// a scan of the stack instead of a walk.
		opts = append(opts, guard.WithMaxFrames(0))
	}
	err := guard.Call(payload.CallGo, unsafe.Pointer(r), opts...)
	if errors.Is(err, guard.ErrCrash) {
		fmt.Println("recovered by the outer guard:", err)
		os.Exit(0)
	}
	fmt.Println("returned:", err)
}

// inner runs one inner-* mode (see the package comment).
func inner(mode string) {
	rest := strings.TrimPrefix(mode, "inner-")
	var opts []guard.Option
	if r, ok := strings.CutSuffix(rest, "-noframes"); ok {
		rest = r
		opts = append(opts, guard.WithMaxFrames(0))
	}
	outer, what, _ := strings.Cut(rest, "-")
	fn := map[string]unsafe.Pointer{"badrsp": payload.BadRSP, "badriprsp": payload.BadRIPRSP}[what]
	if fn == nil || (outer != "guarded" && outer != "raw" && outer != "do") {
		fmt.Fprintln(os.Stderr, "cbcrash: unknown mode", mode)
		os.Exit(65)
	}
	for round := 0; round < 3; round++ {
		var innerErr, healthyErr error
		healthyOut := 0
		payload.SetCallback(func(int) int {
			innerErr = guard.Call(fn, nil, opts...)
			h := payload.NewResult(20)
			healthyErr = guard.Call(payload.Healthy, unsafe.Pointer(h))
			healthyOut = h.Out()
			payload.Free(h)
			return 7
		})
		var outerErr error
		got := 0
		if outer == "guarded" {
			r := payload.NewResult(0)
			outerErr = guard.Call(payload.CallGo, unsafe.Pointer(r))
			got = r.Out()
			payload.Free(r)
		} else if outer == "do" {
			outerErr = guard.Do(func() { got = payload.RawCallGo(0) })
		} else {
			got = payload.RawCallGo(0)
		}
		var ce *guard.CrashError
		if !errors.As(innerErr, &ce) {
			fmt.Fprintf(os.Stderr, "cbcrash %s: inner call: got %v, want a CrashError\n", mode, innerErr)
			os.Exit(1)
		}
		if healthyErr != nil || healthyOut != 41 || outerErr != nil {
			fmt.Fprintf(os.Stderr, "cbcrash %s: after the fault: healthy %v (out %d), outer %v\n",
				mode, healthyErr, healthyOut, outerErr)
			os.Exit(1)
		}
		if got != 7 {
			fmt.Fprintf(os.Stderr, "cbcrash %s: the C caller got %d from the callback, want 7\n", mode, got)
			os.Exit(1)
		}
		fmt.Printf("round %d: inner recovered: %v; callback returned %d\n", round, ce, got)
	}
	fmt.Println("ok", mode)
}
