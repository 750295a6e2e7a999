//go:build linux && amd64 && cgo

package guard

/*
#include "../csrc/internal.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cgoguard/cgoguard/guard/internal/gotext"
)

// modulesErr is why the handler cannot walk the runtime's module list
// (nil when it can).
var modulesErr error

var (
	installed   atomic.Bool
	installMu   sync.Mutex
	installErr  error
	installDone bool
)

// Install installs the fault handlers now, chaining to the handlers already
// in place (the Go runtime's). Calls do this on first use; call Install to
// see an error early, or to control when signal handlers change. It is safe
// to call more than once and from several goroutines.
func Install() error {
	if installed.Load() {
		return nil
	}
	installMu.Lock()
	defer installMu.Unlock()
	if installDone {
		return installErr
	}
	start, end := gotext.Range()
	C.cg_set_go_text(C.uintptr_t(start), C.uintptr_t(end))
	// The other Go modules (plugins): walked by the handler, or, on a
	// runtime whose module list is not known, every fault goes to Go once
	// one is loaded (modulesErr says why).
	var mods gotext.ModuleList
	mods, modulesErr = gotext.Modules()
	setGoModules(mods)
	installErr = resultError(int64(C.cgoguard_install()), nil)
	installDone = true
	if installErr == nil {
		installed.Store(true)
	}
	return installErr
}

// Supported reports whether guarding works on this platform: amd64 Linux
// with cgo. Call, CallContext and CallFunc then work; Do and DoContext may
// still return ErrRuntimeUnsupported (which matches ErrUnsupported) on a
// Go release whose cgo boundary cgoguard does not know.
func Supported() bool { return true }

// SetTimeoutSignal chooses the signal that interrupts calls at their
// deadline: a real-time signal (SIGRTMIN and above as glibc counts them,
// 34-64; the default is SIGRTMIN+3 = 37) or SIGUSR1/SIGUSR2. It must be
// called before the first call with a deadline or a cancellable context.
// Instances of that signal that cgoguard did not send for a live call go to
// the handler installed before (os/signal keeps working for it). Another
// signal, or a call after the first, returns an error matching ErrSetup.
func SetTimeoutSignal(sig syscall.Signal) error {
	switch C.cgoguard_set_timeout_signal(C.int(sig)) {
	case C.CGOGUARD_OK:
		return nil
	case C.CGOGUARD_EUNSUPPORTED:
		return ErrUnsupported
	}
	return &setupError{fmt.Sprintf("guard: SetTimeoutSignal(%d): unusable timeout signal (want SIGRTMIN..SIGRTMAX or SIGUSR1/SIGUSR2, set before first use)", int(sig))}
}

// TimeoutSignal is the signal that interrupts calls at their deadline.
func TimeoutSignal() syscall.Signal { return syscall.Signal(C.cgoguard_timeout_signal()) }

// VerifyHandlers checks the kernel's handler table for the guarded signals
// and puts cgoguard's handler back in front of any that replaced it. It
// returns how many it repaired. Guarded calls already do this when a
// replacement was made through sigaction or signal; VerifyHandlers also
// catches raw system calls.
func VerifyHandlers() (int, error) {
	if err := Install(); err != nil {
		return 0, err
	}
	n := int(C.cgoguard_verify_handlers())
	if n < 0 {
		return 0, resultError(int64(n), nil)
	}
	return n, nil
}

// setGoModules hands the handler a module list (Install; tests give their
// own).
func setGoModules(l gotext.ModuleList) {
	C.cg_set_go_modules(C.uintptr_t(l.First), C.uintptr_t(l.OffText), C.uintptr_t(l.OffEtext),
		C.uintptr_t(l.OffNext), C.uintptr_t(l.LastP), C.uintptr_t(l.Last))
}
