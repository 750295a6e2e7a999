//go:build linux && amd64 && cgo && !cgoguard_nosymbolizer

package guard

// cgosymbolizer registers the process's cgo traceback and symbolizer: C
// frames in CrashError and in Go's own crash reports get names and
// file:line. Build with -tags cgoguard_nosymbolizer to leave it out when the
// program registers its own (runtime.SetCgoTraceback may be called only
// once) or defines C functions named cgoTraceback or cgoSymbolizer.
//
// Its traceback is replaced by a checked one (csrc/traceback.c): the
// runtime's reference to cgoTraceback is bound to __wrap_cgoTraceback at
// link time, so that a fault with a broken stack gets Go's report instead
// of a second fault in the unwinder.
import _ "github.com/ianlancetaylor/cgosymbolizer"

// #cgo LDFLAGS: -Wl,--wrap=cgoTraceback
import "C"
