package tests

import (
	"errors"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// Another library installs its own SIGSEGV handler after the guard (with
// sigaction), chaining to ours. The next guarded call notices and puts the
// guard back in front; faults outside guards still reach both that library
// and, through it, the Go runtime.
func TestHandlerReplacedBySigaction(t *testing.T) {
	testReplacement(t, syscall.SIGSEGV, false)
}

// The same with signal(), which installs a handler without SA_SIGINFO.
func TestHandlerReplacedBySignal(t *testing.T) {
	testReplacement(t, syscall.SIGBUS, true)
}

func testReplacement(t *testing.T, sig syscall.Signal, viaSignal bool) {
	if err := guard.Install(); err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := guard.ReadStats().HandlerRepairs
	if err := payload.ReplaceHandler(sig, viaSignal); err != nil {
		t.Fatal(err)
	}
	fault := payload.NullWrite
	if sig == syscall.SIGBUS {
		f := faultNamed(t, "sigbus")
		setup(t, f)
		fault = f.Fn
	}
	r := payload.NewResult(0)
	defer payload.Free(r)
	err := guard.Call(fault, unsafe.Pointer(r))
	var ce *guard.CrashError
	if !errors.As(err, &ce) || ce.Signal != sig {
		t.Fatalf("guarded fault after replacement: %v", err)
	}
	if got := guard.ReadStats().HandlerRepairs - before; got < 1 {
		t.Fatalf("HandlerRepairs grew by %d, want >= 1", got)
	}
	if payload.ReplacementSeen(sig) != 0 {
		t.Fatalf("the replacement saw a guarded fault (%d)", payload.ReplacementSeen(sig))
	}
	if sig == syscall.SIGSEGV {
		// A Go fault: guard -> replacement -> guard again (it chains
		// back to what it replaced) -> Go runtime -> recoverable panic.
		var re runtime.Error
		if err := nilDeref(); !errors.As(err, &re) {
			t.Fatalf("Go nil dereference after replacement: %v", err)
		}
		if payload.ReplacementSeen(sig) < 1 {
			t.Fatalf("the replacement did not see the Go fault")
		}
	}
	if n, err := guard.VerifyHandlers(); err != nil || n != 0 {
		t.Fatalf("VerifyHandlers after repair = %d, %v; want 0, nil", n, err)
	}
}

// A signal sent with kill() while a handler installed with signal() (no
// SA_SIGINFO) sits in the chain behind the guard: the guard calls it with
// the siginfo and context (as the x86-64 kernel calls every handler), it
// hands them back to the guard, which passes the signal on to Go, and
// os/signal delivers it. The replacement once got neither, and the guard
// died reading the context it handed back.
func TestSentSignalThroughSignalReplacement(t *testing.T) {
	if err := guard.Install(); err != nil {
		t.Fatal(err)
	}
	sig := syscall.SIGBUS
	if err := payload.ReplaceHandler(sig, true); err != nil {
		t.Fatal(err)
	}
	if _, err := guard.VerifyHandlers(); err != nil { // the guard in front again
		t.Fatal(err)
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sig)
	defer signal.Stop(ch)
	for i := range 3 {
		seen := payload.ReplacementSeen(sig)
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-ch:
			if got != sig {
				t.Fatalf("send %d: got %v, want %v", i, got, sig)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("send %d: %v not delivered in 10s", i, sig)
		}
		if payload.ReplacementSeen(sig) <= seen {
			t.Fatalf("send %d: the replacement in the chain did not see it", i)
		}
	}
}

// signal.Ignore replaces the handler with SIG_IGN; the next guarded call
// repairs it and abort() is still recovered.
func TestSignalIgnoreThenGuard(t *testing.T) {
	if err := guard.Install(); err != nil {
		t.Fatal(err)
	}
	before := guard.ReadStats().HandlerRepairs
	signal.Ignore(syscall.SIGABRT)
	defer signal.Reset(syscall.SIGABRT)
	err := guard.Call(payload.Abort, nil)
	var ce *guard.CrashError
	if !errors.As(err, &ce) || ce.Signal != syscall.SIGABRT {
		t.Fatalf("guarded abort after signal.Ignore: %v", err)
	}
	if guard.ReadStats().HandlerRepairs == before {
		t.Fatal("no repair counted")
	}
}

func faultNamed(t *testing.T, name string) payload.Fault {
	t.Helper()
	for _, f := range payload.Faults() {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no fault %q", name)
	return payload.Fault{}
}
