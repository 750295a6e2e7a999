// Command crashprog is the program of the subprocess tests of crashes: it
// crashes (or waits to be crashed) in the ways those tests need, so that
// the test process can check how it died. It is not meant to be run by hand.
// Its modes serve tests/crash_test.go (unguarded), kill_test.go (sleepers),
// symbols_test.go (ownsymbolizer, dladdr), do_test.go (do-*),
// recover_test.go (do-recover-*) and dumpdir_test.go (dump-dir).
//
//	crashprog [-install] [-labels] unguarded
//	                                    guarded faults first (with -install), then an unguarded C NULL write
//	                                    (with -labels, on a goroutine carrying pprof labels)
//	crashprog [-install] [-n N] sleepers  N goroutines blocked in C (guarded with -install, raw cgo without),
//	                                    the first on the main thread; prints "tids: ..." and "ready",
//	                                    then waits to be killed
//	crashprog ownsymbolizer             (built with -tags cgoguard_nosymbolizer) registers its own
//	                                    cgo traceback, then prints the frames of a guarded NULL write
//	crashprog dladdr                    (nosymbolizer build) frames of a guarded abort, named by dladdr
//	crashprog do-unguarded              faults recovered in guard.Do, then an unguarded C NULL write
//	crashprog do-other-goroutine        the same while another goroutine is inside Do, blocked in C
//	crashprog do-nocallback             inside Do, a NULL write in a #cgo nocallback call
//	crashprog do-recover-*              recover() inside Do (recover.go)
//
// Frames are printed one a line as "frame: <function>\t<file>:<line>".
package main

/*
#include <stdint.h>

// Calls a payload function pointer with plain cgo, no guard.
static void crashprog_raw_call(uintptr_t fn, void *arg) {
	((void (*)(void *))fn)(arg);
}
*/
import "C"

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// registerOwnTraceback is set by the cgoguard_nosymbolizer build (owntb.go).
var registerOwnTraceback func()

// waitLimit bounds how long a waiting mode lives if nobody kills it.
const waitLimit = 50 * time.Second

func main() {
	// A crash test must not leave core files behind (GOTRACEBACK=crash ends
	// in SIGABRT with the default action).
	_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{Cur: 0, Max: 0})

	install := flag.Bool("install", false, "install the guard and recover a few guarded faults first")
	n := flag.Int("n", 4, "sleepers: number of blocked goroutines")
	labels := flag.Bool("labels", false, "unguarded: fault on a goroutine with pprof labels")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: crashprog [-install] [-n N] unguarded|sleepers|ownsymbolizer|dladdr|do-*")
		os.Exit(64)
	}
	switch flag.Arg(0) {
	case "unguarded":
		if *labels {
			pprof.Do(context.Background(), pprof.Labels("request", "r1", "peer addr", "10.0.0.1:5"),
				func(context.Context) { unguarded(*install) })
		}
		unguarded(*install)
	case "sleepers":
		sleepers(*install, *n)
	case "ownsymbolizer":
		if registerOwnTraceback == nil {
			fail("ownsymbolizer needs the cgoguard_nosymbolizer build")
		}
		registerOwnTraceback()
		printFrames(guard.Call(payload.NullWrite, nil))
	case "do-unguarded":
		doUnguarded()
	case "do-other-goroutine":
		doOtherGoroutine()
	case "do-nocallback":
		doNoCallback()
	case "dladdr":
		printFrames(guard.Call(payload.Abort, nil))
	default:
		if m := modes[flag.Arg(0)]; m != nil {
			m()
			return
		}
		fail("unknown mode " + flag.Arg(0))
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "crashprog:", msg)
	os.Exit(65)
}

// unguarded optionally recovers guarded faults, then faults in C with no
// guard: Go must report it as it would without cgoguard.
func unguarded(install bool) {
	if install {
		if err := guard.Install(); err != nil {
			fail("install: " + err.Error())
		}
		for i := 0; i < 3; i++ {
			for _, fn := range []unsafe.Pointer{payload.NullWrite, payload.Abort} {
				if err := guard.Call(fn, nil); !errors.Is(err, guard.ErrCrash) {
					fail(fmt.Sprintf("guarded fault %d: got %v, want a CrashError", i, err))
				}
			}
		}
		fmt.Println("guarded faults recovered")
	}
	fmt.Println("unguarded fault next")
	payload.RawNullWriteDeep()
	fmt.Println("survived an unguarded NULL write")
	os.Exit(66)
}

func init() {
	// The main goroutine keeps the main thread: in sleepers mode it is one
	// of the sleepers, so that a signal sent to the process with kill, which
	// the kernel gives to the main thread when it can take it, lands in C
	// code (inside a guarded call with -install).
	runtime.LockOSThread()
}

// sleepers blocks n goroutines in C (guarded with install, raw cgo calls
// without) and waits for the test to send signals. The main goroutine is
// sleeper 0, on the main thread, so the first tid printed is the pid. A
// guarded call that returns a CrashError prints "recovered" and exits 7: a
// signal from another process must never count as a guarded fault.
func sleepers(install bool, n int) {
	if n < 1 {
		fail("sleepers: -n must be at least 1")
	}
	if install {
		if err := guard.Install(); err != nil {
			fail("install: " + err.Error())
		}
	}
	results := make([]*payload.Result, n)
	for i := range results {
		results[i] = payload.NewResult(i)
	}
	sleep := func(r *payload.Result) {
		if !install {
			C.crashprog_raw_call(C.uintptr_t(uintptr(payload.SleepUntil)), unsafe.Pointer(r))
			fmt.Println("raw sleeper returned")
			os.Exit(8)
		}
		err := guard.Call(payload.SleepUntil, unsafe.Pointer(r))
		var ce *guard.CrashError
		if errors.As(err, &ce) {
			fmt.Printf("recovered: %+v\n", ce)
			os.Exit(7)
		}
		fmt.Printf("guarded sleeper returned: %v\n", err)
		os.Exit(8)
	}
	for _, r := range results[1:] {
		go sleep(r)
	}
	go func() {
		tids := make([]string, n)
		deadline := time.Now().Add(10 * time.Second)
		for i, r := range results {
			for r.TID() == 0 {
				if time.Now().After(deadline) {
					fail("sleepers did not start")
				}
				time.Sleep(time.Millisecond)
			}
			tids[i] = fmt.Sprint(r.TID())
		}
		fmt.Printf("tids: %s\n", strings.Join(tids, " "))
		fmt.Println("ready")
		time.Sleep(waitLimit)
		fmt.Println("nobody killed me")
		os.Exit(9)
	}()
	sleep(results[0])
}

// printFrames prints a guarded call's CrashError and one line per frame.
func printFrames(err error) {
	var ce *guard.CrashError
	if !errors.As(err, &ce) {
		fail(fmt.Sprintf("guarded call: got %v, want a CrashError", err))
	}
	fmt.Printf("recovered: %v\n", ce)
	for _, f := range ce.Frames {
		fmt.Printf("frame: %s\t%s:%d\n", f.Function, f.File, f.Line)
	}
}
