//go:build linux && amd64 && cgo

package guard

/*
#include "../csrc/internal.h"
*/
import "C"

import (
	"fmt"
	"syscall"
	"time"
)

// resultError turns a C result into an error; c configured the call (nil:
// the defaults).
func resultError(r int64, c *callConfig) error {
	switch {
	case r == 0:
		return nil
	case r > 0:
		return reportFromPool(r, c)
	}
	switch r {
	case C.CGOGUARD_ENULLFN:
		return ErrNilFunction
	case C.CGOGUARD_EDEPTH:
		return ErrTooDeep
	case C.CGOGUARD_EUNSUPPORTED:
		return ErrUnsupported
	case C.CGOGUARD_EINSTALL:
		return errInstall
	case C.CGOGUARD_EALTSTACK:
		return errAltStack
	case C.CGOGUARD_ELINKMODE:
		return errLinkMode
	case C.CGOGUARD_ESIGNAL:
		return errTimeoutSignal
	case C.CGOGUARD_EWATCHDOG:
		return errWatchdog
	case C.CGOGUARD_ENESTEDDEADLINE:
		return ErrNestedDeadline
	}
	return &resultCodeError{int(r)}
}

type resultCodeError struct{ code int }

func (e *resultCodeError) Error() string {
	return "guard: " + C.GoString(C.cgoguard_strerror(C.int(e.code)))
}

// unpackPublished decodes cg_pool_publish's result (cg_pub_pack in
// csrc/internal.h): the pool slot (-1: none), the signal and the guard's
// result.
func unpackPublished(r int64) (slot, sig, rc int) {
	return int(r&C.CG_PUB_SLOT_MASK) - 1, int(r >> C.CG_PUB_SIG_SHIFT & C.CG_PUB_SIG_MASK),
		int(r >> C.CG_PUB_RC_SHIFT & C.CG_PUB_RC_MASK)
}

// reportFromPool reads the fault record the C side left in the pool: a
// *CrashError for a fault, an *InterruptError for an interrupted call, with
// taint, the caller's Go stack and, when one is due, a crash dump.
func reportFromPool(r int64, c *callConfig) error {
	slot, sig, rc := unpackPublished(r)
	e := &CrashError{Signal: syscall.Signal(sig)}
	var interrupt int
	if slot >= 0 { // else the pool was exhausted: only the signal is known
		f := C.cg_pool_get(C.int(slot))
		e.Code = int(f.code)
		e.Addr = uintptr(f.addr)
		e.PC = uintptr(f.pc)
		e.SP = uintptr(f.sp)
		e.ThreadID = int(f.tid)
		e.SenderPID = int(f.sender_pid)
		e.Depth = int(f.depth)
		e.Time = time.Unix(0, int64(f.time_ns))
		interrupt = int(f.interrupt)
		var regs [C.CGOGUARD_NREGS]uint64 // registersFrom takes as many
		for i := range regs {
			regs[i] = uint64(f.regs[i])
		}
		e.Registers = registersFrom(&regs)
		pcs := make([]uintptr, int(f.nframes))
		for i := range pcs {
			pcs[i] = uintptr(f.frames[i])
		}
		id := f.capture
		C.cg_pool_release(C.int(slot))
		e.Frames = symbolize(pcs)
		// A dump is due for a fault or a forced interrupt; the handler
		// captured one if captures were on and a slot was free.
		dir := ""
		if rc == C.CGOGUARD_FAULT || interrupt == C.CGOGUARD_FORCED {
			dir = dumpDirFor(c)
		}
		switch {
		case dir == "":
			if id != 0 {
				C.cg_capture_drop(id)
			}
		case id == 0:
			stats.dumpsSkipped.Add(1)
			e.DumpErr = fmt.Errorf("%w: every capture slot was in use", ErrDumpSkipped)
		default:
			if in := takeCapture(id); in == nil {
				stats.dumpsSkipped.Add(1)
				e.DumpErr = fmt.Errorf("%w: the capture was taken over by a later fault", ErrDumpSkipped)
			} else {
				in.Requested = rc != C.CGOGUARD_FAULT
				e.DumpPath, e.DumpErr = writeDumpFile(dir, in, e)
			}
		}
	}
	e.GoStack = callerStack()
	if rc == C.CGOGUARD_FAULT {
		e.Taint = computeTaint(e.Frames, e.Signal, stopFault, objectOf)
		return e
	}
	kind := stopInSyscall
	if interrupt == C.CGOGUARD_FORCED {
		kind = stopForced
	}
	return &InterruptError{
		Signal: e.Signal, PC: e.PC, SP: e.SP, Frames: e.Frames, Registers: e.Registers,
		ThreadID: e.ThreadID, Time: e.Time,
		InSyscall: interrupt == C.CGOGUARD_IN_SYSCALL, Forced: interrupt == C.CGOGUARD_FORCED,
		Err:     ErrTimeout,
		Taint:   computeTaint(e.Frames, e.Signal, kind, objectOf),
		GoStack: e.GoStack, DumpPath: e.DumpPath, DumpErr: e.DumpErr,
	}
}
