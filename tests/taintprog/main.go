// Command taintprog is the program of TestTaintForcedInAllocator
// (tests/taint_test.go): it stops a C allocate/free loop at its deadline,
// with no grace, until a stop lands inside the allocator, and prints how
// each stop was classified. Such a stop may leave the allocator's lock
// held, so this runs in a process of its own that exits right after. It is not meant to be run by hand. With -do, the
// loop is a plain cgo call inside guard.Do with the same options instead of
// a guard.Call.
//
// Output, one line per stop:
//
//	stop forced=<0|1> alloc=<0|1> level=<level> heap=<0|1> locked=<0|1> fn=<function>
//
// and, after the first stop inside the allocator, one more line for a call
// of the same loop with a deadline and no forcing ("next ..."): it shows
// whether the allocator was left locked (interrupted blocked in a lock wait)
// or not (forced is impossible: it never forces, so it times out in a system
// call or keeps running until its grace... which is never).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

var viaDo = flag.Bool("do", false, "run the loop in a plain cgo call inside guard.Do")

// mallocSpin runs the allocate/free loop under a guard with opts.
func mallocSpin(r *payload.Result, opts ...guard.Option) error {
	if *viaDo {
		return guard.Do(func() { payload.RawCall(payload.MallocSpin, unsafe.Pointer(r)) }, opts...)
	}
	return guard.CallContext(context.Background(), payload.MallocSpin, unsafe.Pointer(r), opts...)
}

func main() {
	flag.Parse()
	runtime.LockOSThread()
	r := payload.NewResult(0) // the last C allocation made outside a guard
	for i := 0; i < 500; i++ {
		err := mallocSpin(r, guard.WithTimeout(time.Millisecond), guard.WithGrace(0))
		var ie *guard.InterruptError
		if !errors.As(err, &ie) {
			fmt.Println("unexpected", err)
			os.Exit(1)
		}
		alloc := inAllocator(ie)
		fmt.Printf("stop forced=%d alloc=%d level=%s heap=%d locked=%d fn=%s\n", b(ie.Forced), b(alloc),
			ie.Taint.Level, b(ie.Taint.HeapSuspect), b(ie.Taint.AllocatorLocked), ie.Taint.Function)
		if alloc {
			break
		}
	}
	// The same loop again, on the same thread, never forced: if the stop
	// above left an arena lock held, malloc now waits for it in a futex and
	// is interrupted there at the deadline.
	err := mallocSpin(r, guard.WithTimeout(20*time.Millisecond), guard.WithGrace(300*time.Millisecond))
	var ie *guard.InterruptError
	if errors.As(err, &ie) {
		var names []string
		for _, f := range ie.Frames {
			names = append(names, f.Function)
		}
		fmt.Printf("next forced=%d insyscall=%d alloc=%d level=%s fn=%s frames=%s\n", b(ie.Forced), b(ie.InSyscall),
			b(inAllocator(ie)), ie.Taint.Level, ie.Taint.Function, strings.Join(names, ","))
	} else {
		fmt.Println("next", err)
	}
	os.Exit(0)
}

// inAllocator reports whether the thread was stopped inside malloc or free,
// by the names its frames have: glibc's exported entry points as dladdr
// names them, or with glibc's debug symbols installed, its internal names
// (__GI___libc_malloc, _int_free.part.0).
func inAllocator(ie *guard.InterruptError) bool {
	for _, f := range ie.Frames {
		name := strings.TrimPrefix(f.Function, "__GI_")
		if i := strings.IndexByte(name, '.'); i > 0 {
			name = name[:i]
		}
		switch name {
		case "malloc", "free", "cfree", "__libc_malloc", "__libc_free", "_int_malloc", "_int_free",
			"tcache_get", "tcache_put", "malloc_consolidate", "unlink_chunk", "_int_free_merge_chunk",
			"_int_free_create_chunk", "_int_free_maybe_consolidate", "sysmalloc", "systrim":
			return true
		}
	}
	return false
}

func b(v bool) int {
	if v {
		return 1
	}
	return 0
}
