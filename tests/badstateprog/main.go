// Command badstateprog is a helper for tests/badstate_test.go: C faults
// that leave the machine state broken (a stack pointer at an unmapped
// page, a PC with no code, a call through an unmapped pointer), guarded
// and unguarded, and a probing library with its own SIGSEGV handler. A
// mode that recovers prints "ok <mode>" and exits 0; an unguarded mode
// dies as Go decides. It is not meant to be run by hand.
//
//	badstateprog call-badrsp|call-badriprsp|call-unmapped   guard.Call, then a healthy call
//	badstateprog do-badrsp|do-badriprsp|do-unmapped         guard.Do, then a healthy Do
//	badstateprog [-install] unguarded-badrsp|unguarded-badriprsp|unguarded-unmapped
//	badstateprog [-install] profile-spin                    C spins with a broken stack under a CPU profile
//	badstateprog [-how N] [-then-unguarded] probe           a probing library installed after cgoguard
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

func main() {
	_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{Cur: 0, Max: 0})
	install := flag.Bool("install", false, "install the guard and recover a guarded fault first")
	how := flag.Int("how", 0, "probe: the probing library's flavour (payload.ProbeInstall)")
	thenUnguarded := flag.Bool("then-unguarded", false, "probe: end with an unguarded NULL write")
	flag.Parse()
	if flag.NArg() != 1 {
		fail("usage: badstateprog [-install] [-how N] mode")
	}
	mode := flag.Arg(0)
	fns := map[string]unsafe.Pointer{
		"badrsp":    payload.BadRSP,
		"badriprsp": payload.BadRIPRSP,
		"unmapped":  payload.CallUnmapped,
	}
	var kind, what string
	for k := range fns {
		for _, p := range []string{"call-", "do-", "unguarded-"} {
			if mode == p+k {
				kind, what = p, k
			}
		}
	}
	switch {
	case mode == "profile-spin":
		// A CPU profile at a high rate while C code runs with a broken
		// stack: every SIGPROF there runs the cgo traceback.
		runtime.SetCPUProfileRate(2000)
		if *install {
			if err := guard.Install(); err != nil {
				fail("install: " + err.Error())
			}
		}
		for i := 0; i < 5; i++ {
			payload.SpinBadRSP(300_000_000)
		}
		runtime.SetCPUProfileRate(0)
	case mode == "probe":
		probe(*how)
		if *thenUnguarded {
			fmt.Println("unguarded fault next")
			payload.RawCall(payload.NullWrite, nil)
			fmt.Println("survived an unguarded fault")
			os.Exit(66)
		}
	case kind == "call-":
		for i := 0; i < 3; i++ {
			wantCrash(mode, guard.Call(fns[what], nil))
			healthyCall(mode)
		}
	case kind == "do-":
		for i := 0; i < 3; i++ {
			wantCrash(mode, guard.Do(func() { payload.RawCall(fns[what], nil) }))
			healthyDo(mode)
		}
	case kind == "unguarded-":
		if *install {
			if err := guard.Install(); err != nil {
				fail("install: " + err.Error())
			}
			wantCrash("guarded NULL write", guard.Call(payload.NullWrite, nil))
			fmt.Println("guarded fault recovered")
		}
		fmt.Println("unguarded fault next")
		payload.RawCall(fns[what], nil)
		fmt.Println("survived an unguarded fault")
		os.Exit(66)
	default:
		fail("unknown mode " + mode)
	}
	fmt.Println("ok", mode)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "badstateprog:", msg)
	os.Exit(65)
}

func wantCrash(what string, err error) {
	var ce *guard.CrashError
	if !errors.As(err, &ce) {
		fail(fmt.Sprintf("%s: got %v, want a CrashError", what, err))
	}
	fmt.Printf("%s: recovered: %v\n", what, ce)
}

func healthyCall(what string) {
	r := payload.NewResult(20)
	defer payload.Free(r)
	if err := guard.Call(payload.Healthy, unsafe.Pointer(r)); err != nil || r.Out() != 41 {
		fail(fmt.Sprintf("%s: the next call: %v, out %d, want nil, 41", what, err, r.Out()))
	}
}

func healthyDo(what string) {
	r := payload.NewResult(20)
	defer payload.Free(r)
	if err := guard.Do(func() { payload.RawCall(payload.Healthy, unsafe.Pointer(r)) }); err != nil || r.Out() != 41 {
		fail(fmt.Sprintf("%s: the next Do: %v, out %d, want nil, 41", what, err, r.Out()))
	}
}

// probe: a library installs its own SIGSEGV handler after cgoguard and
// probes memory with it (siglongjmp out of the handler); guarded faults on
// the same thread and on others must keep working, and so must probes.
func probe(how int) {
	if err := guard.Install(); err != nil {
		fail("install: " + err.Error())
	}
	if err := payload.ProbeInstall(how); err != nil {
		fail(err.Error())
	}
	var word int64
	for round := 0; round < 3; round++ {
		if payload.ProbeRead(0) {
			fail("probe of address 0 succeeded")
		}
		if !payload.ProbeRead(uintptr(unsafe.Pointer(&word))) {
			fail("probe of a Go variable failed")
		}
		wantCrash(fmt.Sprintf("Call after probe round %d", round), guard.Call(payload.NullWrite, nil))
		healthyCall("probe")
		wantCrash(fmt.Sprintf("Do after probe round %d", round), guard.Do(func() { payload.RawCall(payload.NullWrite, nil) }))
		healthyDo("probe")
	}
	if n := payload.ProbeFaults(); n != 3 {
		fail(fmt.Sprintf("the probing handler saw %d faulting probes, want 3", n))
	}
	fmt.Println("probe faults:", payload.ProbeFaults())
}
