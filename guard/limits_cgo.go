//go:build linux && amd64 && cgo

package guard

/*
#include "../csrc/internal.h"
*/
import "C"

import "github.com/cgoguard/cgoguard/guard/internal/minidump"

// Limits and sizes of the C core (include/cgoguard.h) that code built
// without cgo copies: a compile error here when a copy is out of date (a
// negative constant converted to uint). registersFrom's array length is
// checked where reportFromPool calls it.
const (
	_ = uint(MaxDepth-C.CGOGUARD_MAX_DEPTH) + uint(C.CGOGUARD_MAX_DEPTH-MaxDepth)
	_ = uint(maxFramesLimit-C.CGOGUARD_MAX_FRAMES) + uint(C.CGOGUARD_MAX_FRAMES-maxFramesLimit)
	_ = uint(len(minidump.Input{}.Regs)-C.CGOGUARD_NREGS) + uint(C.CGOGUARD_NREGS-len(minidump.Input{}.Regs))
)
