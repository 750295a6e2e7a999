//go:build linux && amd64 && cgo

package guard_test

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/internal/examplec"
)

// Do protects every cgo call the closure makes, here one inside a binding
// (examplec.Parse) that faults on bad input.
func ExampleDo() {
	var n int
	err := guard.Do(func() { n = examplec.Parse("42") })
	fmt.Println(n, err)

	err = guard.Do(func() { n = examplec.Parse("4x2") })
	var ce *guard.CrashError
	if errors.As(err, &ce) {
		fmt.Println("recovered:", ce.Signal)
	}
	fmt.Println(errors.Is(err, guard.ErrCrash))
	// Output:
	// 42 <nil>
	// recovered: segmentation fault
	// true
}

// DoContext also stops a C call that is still blocked when the context's
// deadline passes.
func ExampleDoContext() {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()

	err := guard.DoContext(ctx, func() { examplec.Stall() })
	var ie *guard.InterruptError
	if errors.As(err, &ie) {
		fmt.Println("interrupted in a system call:", ie.InSyscall)
	}
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output:
	// interrupted in a system call: true
	// true
}

// Call runs one C function of type void (*)(void *) under a guard point.
func ExampleCall() {
	req := examplec.NewRequest("1234")
	err := guard.Call(examplec.ParseRequest, unsafe.Pointer(req))
	fmt.Println(req.Out, err)

	req = examplec.NewRequest("12?4")
	err = guard.Call(examplec.ParseRequest, unsafe.Pointer(req))
	var ce *guard.CrashError
	if errors.As(err, &ce) {
		fmt.Println("recovered:", ce.Signal, ce.CodeName())
	}
	// Output:
	// 1234 <nil>
	// recovered: segmentation fault SEGV_MAPERR
}

// CallFunc calls a C function of up to six integer or pointer arguments
// without a thunk, with Call's options; here long divide(long, long),
// which raises SIGFPE on a division by zero.
func ExampleCallFunc() {
	n, err := guard.CallFunc(examplec.Divide, []uintptr{84, 2}, guard.WithTimeout(time.Second))
	fmt.Println(n, err)

	_, err = guard.CallFunc(examplec.Divide, []uintptr{1, 0}, guard.WithMaxFrames(0))
	var ce *guard.CrashError
	if errors.As(err, &ce) {
		fmt.Println("recovered:", ce.Signal, ce.CodeName())
	}
	// Output:
	// 42 <nil>
	// recovered: floating point exception FPE_INTDIV
}

// CallContext stops the C function when the context is done: here it is
// cancelled while the function waits in nanosleep.
func ExampleCallContext() {
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(50*time.Millisecond, func() { cancel(errors.New("client went away")) })

	err := guard.CallContext(ctx, examplec.StallFunc, nil)
	fmt.Println(errors.Is(err, context.Canceled))
	fmt.Println(context.Cause(ctx))
	fmt.Println(errors.Is(err, context.Cause(ctx)))
	// Output:
	// true
	// client went away
	// true
}
