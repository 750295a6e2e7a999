//go:build !(linux && amd64 && cgo)

package guard

import (
	"context"
	"syscall"
	"unsafe"
)

// Install reports ErrUnsupported: guarding needs linux/amd64 with cgo.
func Install() error { return ErrUnsupported }

// Supported reports whether guarding works on this platform: amd64 Linux
// with cgo. Here it does not.
func Supported() bool { return false }

// Call reports ErrUnsupported without running fn (nil fn: ErrNilFunction).
func Call(fn, arg unsafe.Pointer, opts ...Option) error {
	if fn == nil {
		return ErrNilFunction
	}
	if c := buildConfig(opts); c.err != nil {
		return c.err
	}
	return ErrUnsupported
}

// CallContext reports the context's error if it is done, else ErrUnsupported.
func CallContext(ctx context.Context, fn, arg unsafe.Pointer, opts ...Option) error {
	if err := contextError(ctx); err != nil {
		return err
	}
	return Call(fn, arg, opts...)
}

// Do reports ErrUnsupported without running f (nil f: ErrNilFunction).
func Do(f func(), opts ...Option) error {
	return DoContext(context.Background(), f, opts...)
}

// DoContext reports the context's error if it is done, else
// ErrUnsupported, without running f.
func DoContext(ctx context.Context, f func(), opts ...Option) error {
	if f == nil {
		return ErrNilFunction
	}
	if err := contextError(ctx); err != nil {
		return err
	}
	c := buildConfig(opts)
	if c.err != nil {
		return c.err
	}
	if c.retries != 0 {
		return errDoRetries
	}
	return ErrUnsupported
}

// CallFunc reports ErrUnsupported without running fn.
func CallFunc(fn unsafe.Pointer, args []uintptr, opts ...Option) (uintptr, error) {
	return CallFuncContext(context.Background(), fn, args, opts...)
}

// CallFuncContext reports ErrUnsupported without running fn.
func CallFuncContext(ctx context.Context, fn unsafe.Pointer, args []uintptr, opts ...Option) (uintptr, error) {
	if fn == nil {
		return 0, ErrNilFunction
	}
	if len(args) > 6 {
		return 0, ErrTooManyArgs
	}
	if err := contextError(ctx); err != nil {
		return 0, err
	}
	return 0, Call(fn, nil, opts...)
}

// VerifyHandlers reports ErrUnsupported.
func VerifyHandlers() (int, error) { return 0, ErrUnsupported }

// ReadStats returns zero counters: nothing is ever guarded here.
func ReadStats() Stats { return Stats{} }

func enableCapture() error { return ErrUnsupported }

// SetTimeoutSignal reports ErrUnsupported.
func SetTimeoutSignal(sig syscall.Signal) error { return ErrUnsupported }

// TimeoutSignal reports 0: there is no timeout signal here.
func TimeoutSignal() syscall.Signal { return 0 }
