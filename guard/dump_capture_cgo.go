//go:build linux && amd64 && cgo

package guard

/*
#include "../csrc/internal.h"
*/
import "C"

import (
	"fmt"
	"os"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard/internal/minidump"
)

// takeCapture copies the capture the handler took for a fault out of the
// C pool and frees its slot; nil when a later fault took the slot over.
func takeCapture(id C.int32_t) *minidump.Input {
	c := C.cg_capture_get(id)
	if c == nil {
		return nil
	}
	defer C.cg_capture_release(c)
	in := &minidump.Input{ThreadID: int(c.tid)}
	for i := range in.Regs {
		in.Regs[i] = uint64(c.regs[i])
	}
	if c.has_fpregs != 0 {
		in.FPRegs = C.GoBytes(unsafe.Pointer(&c.fpregs[0]), C.int(len(c.fpregs)))
	}
	in.StackStart = uint64(c.stack_start)
	in.Stack = C.GoBytes(unsafe.Pointer(&c.stack[0]), C.int(c.stack_len))
	in.CodeStart = uint64(c.code_start)
	in.CodeBytes = C.GoBytes(unsafe.Pointer(&c.code[0]), C.int(c.code_len))
	return in
}

// writeDumpFile writes the dump of the fault e (for an interrupt: its
// signal, thread and time) into dir.
func writeDumpFile(dir string, in *minidump.Input, e *CrashError) (string, error) {
	in.Signal = int(e.Signal)
	in.Code = e.Code
	in.Addr = uint64(e.Addr)
	in.Time = e.Time
	if in.Time.IsZero() {
		in.Time = time.Now()
	}
	return saveDump(dir, in.ThreadID, func(f *os.File) error { return minidump.Write(f, in) })
}

// enableCapture makes the signal handler capture what crash dumps need.
func enableCapture() error {
	if err := Install(); err != nil {
		return err
	}
	if C.cg_capture_enable() != 0 {
		return fmt.Errorf("guard: crash dumps: could not map %d KiB for captures", C.CG_CAPTURE_SLOTS*C.sizeof_struct_cgoguard_capture/1024)
	}
	return nil
}
