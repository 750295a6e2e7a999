//go:build linux && amd64 && cgo

package guard

/*
#include <stdlib.h>
#include "../csrc/internal.h"
*/
import "C"

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Lazy cancellation. Registering a context's cancellation for every call
// (context.AfterFunc and its removal) costs about ten raw cgo calls, and
// almost every call ends long before anyone cancels it. So a call with a
// cancellable context registers nothing: its thread's slot carries the
// context's two interface words and a threshold (lazyThreshold). When the
// call is still running at the threshold, the watchdog hands it to the
// registrar goroutine below (through an eventfd), which registers the
// cancellation then; the call's end removes the registration again. The
// C side holds the call in place (it cannot return) while the registrar
// turns the words back into the context, so the context is alive and
// reachable from the caller's stack throughout.
//
// A context cancelled before the threshold interrupts the call at the
// threshold; cancellation latency is at most lazyThreshold plus the
// registrar's wake-up.

// lazyThreshold is how long a cancellable call runs before its
// cancellation is registered (ns). CGOGUARD_LAZY_CANCEL (a Go duration)
// changes it, for measurements.
var lazyThreshold = int64(time.Millisecond)

var (
	lazyOnce  sync.Once
	lazyReady atomic.Bool
)

// lazyStart starts the registrar once. Without an eventfd (descriptors
// exhausted) the registrar polls every millisecond instead.
func lazyStart() {
	if lazyReady.Load() {
		return
	}
	lazyOnce.Do(func() {
		if v := os.Getenv("CGOGUARD_LAZY_CANCEL"); v != "" {
			if d, err := time.ParseDuration(v); err == nil && d > 0 {
				lazyThreshold = int64(d)
			}
		}
		const efdCloexec, efdNonblock = 0x80000, 0x800
		var f *os.File
		fd, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, efdCloexec|efdNonblock, 0)
		if errno == 0 {
			f = os.NewFile(fd, "cgoguard-lazy-cancel")
			C.cg_lazy_set_notify_fd(C.int(fd))
		}
		go lazyRegistrar(f)
		lazyReady.Store(true)
	})
}

// lazyWords are ctx's interface words, for the C slot.
func lazyWords(ctx *context.Context) [2]uintptr {
	lazyRelease()
	return *(*[2]uintptr)(unsafe.Pointer(ctx))
}

type lazyKey struct {
	slot *C.struct_cg_slot
	gen  uint64
}

// lazyRegistrar registers and removes the cancellations the watchdog hands
// over. Only it touches regs.
func lazyRegistrar(f *os.File) {
	regs := make(map[lazyKey]func() bool)
	var buf [8]byte
	ev := (*[64]C.struct_cg_lazy_event)(C.calloc(64, C.size_t(unsafe.Sizeof(C.struct_cg_lazy_event{}))))
	for {
		if f == nil {
			time.Sleep(time.Millisecond)
		} else if _, err := f.Read(buf[:]); err != nil {
			time.Sleep(time.Millisecond) // not expected; do not spin
		}
		for {
			n := int(C.cg_lazy_take(&ev[0], C.int(len(ev))))
			for i := range n {
				e := &ev[i]
				k := lazyKey{e.slot, uint64(e.gen)}
				if e.stop != 0 {
					if stop, ok := regs[k]; ok {
						stop()
						delete(regs, k)
					}
					continue
				}
				// The caller waits in C (TAKEN) until cg_lazy_registered:
				// its context is alive.
				lazyAcquire()
				w := [2]uintptr{uintptr(e.ctx[0]), uintptr(e.ctx[1])}
				ctx := *(*context.Context)(unsafe.Pointer(&w))
				slot, gen := e.slot, e.gen
				regs[k] = context.AfterFunc(ctx, func() { C.cg_lazy_cancel(slot, gen) })
				C.cg_lazy_registered(slot, gen)
			}
			if n < len(ev) {
				break
			}
		}
	}
}
