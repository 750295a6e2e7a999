// Command callbackguardprog is a helper for tests/callback_inner_test.go:
// C calls a Go callback, which guards the C code it calls (C -> Go ->
// guard.Call -> C that breaks RSP, or RIP and RSP, and faults). The
// callback's own guard takes the fault, the callback goes on with a
// healthy guarded call and returns, three times; then the program prints
// "ok <mode>" and exits 0. It is not meant to be run by hand.
//
//	callbackguardprog inner-guarded-badrsp[-noframes]     the outer C is guard.Call's
//	callbackguardprog inner-guarded-badriprsp[-noframes]
//	callbackguardprog inner-raw-badrsp[-noframes]         the outer C is a plain cgo call
//	callbackguardprog inner-raw-badriprsp[-noframes]
//	callbackguardprog inner-do-badrsp[-noframes]          a plain cgo call inside guard.Do
//	callbackguardprog inner-do-badriprsp[-noframes]
//
// -noframes: guard.WithMaxFrames(0) for the inner call (the handler then
// looks for Go frames with a scan of the stack instead of a walk).
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
	if len(os.Args) != 2 || !strings.HasPrefix(os.Args[1], "inner-") {
		fmt.Fprintln(os.Stderr, "usage: callbackguardprog inner-<outer>-<what>[-noframes]")
		os.Exit(65)
	}
	mode := os.Args[1]
	rest := strings.TrimPrefix(mode, "inner-")
	var opts []guard.Option
	if r, ok := strings.CutSuffix(rest, "-noframes"); ok {
		rest = r
		opts = append(opts, guard.WithMaxFrames(0))
	}
	outer, what, _ := strings.Cut(rest, "-")
	fn := map[string]unsafe.Pointer{"badrsp": payload.BadRSP, "badriprsp": payload.BadRIPRSP}[what]
	if fn == nil || (outer != "guarded" && outer != "raw" && outer != "do") {
		fmt.Fprintln(os.Stderr, "callbackguardprog: unknown mode", mode)
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
			fmt.Fprintf(os.Stderr, "callbackguardprog %s: inner call: got %v, want a CrashError\n", mode, innerErr)
			os.Exit(1)
		}
		if healthyErr != nil || healthyOut != 41 || outerErr != nil {
			fmt.Fprintf(os.Stderr, "callbackguardprog %s: after the fault: healthy %v (out %d), outer %v\n",
				mode, healthyErr, healthyOut, outerErr)
			os.Exit(1)
		}
		if got != 7 {
			fmt.Fprintf(os.Stderr, "callbackguardprog %s: the C caller got %d from the callback, want 7\n", mode, got)
			os.Exit(1)
		}
		fmt.Printf("round %d: inner recovered: %v; callback returned %d\n", round, ce, got)
	}
	fmt.Println("ok", mode)
}
