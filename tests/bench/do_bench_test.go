package bench

import (
	"context"
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/bench/cfuncs"
)

// guard.Do around one plain cgo call of the empty C function: what a
// binding's call costs when protected.
func BenchmarkDo(b *testing.B) {
	var arg unsafe.Pointer
	f := func() { cfuncs.RawEmpty(arg) }
	for b.Loop() {
		if err := guard.Do(f); err != nil {
			b.Fatal(err)
		}
	}
}

// DoContext with a deadline that never fires.
func BenchmarkDoDeadline(b *testing.B) {
	var arg unsafe.Pointer
	f := func() { cfuncs.RawEmpty(arg) }
	opt := guard.WithTimeout(time.Second)
	ctx := context.Background()
	for b.Loop() {
		if err := guard.DoContext(ctx, f, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// DoContext with a cancellable context that is never cancelled.
func BenchmarkDoContext(b *testing.B) {
	var arg unsafe.Pointer
	f := func() { cfuncs.RawEmpty(arg) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for b.Loop() {
		if err := guard.DoContext(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
}

// A NULL write in a plain cgo call, recovered by Do, no frames recorded:
// compare with BenchmarkFaultRecover (guard.Call).
func BenchmarkDoFaultRecover(b *testing.B) {
	opt := guard.WithMaxFrames(0)
	f := func() { cfuncs.RawNullWrite() }
	for b.Loop() {
		if err := guard.Do(f, opt); !errors.Is(err, guard.ErrCrash) {
			b.Fatal("no crash error:", err)
		}
	}
}

// The same with the default frames: compare with
// BenchmarkFaultRecoverFrames.
func BenchmarkDoFaultRecoverFrames(b *testing.B) {
	warmSymbolizer(b)
	f := func() { cfuncs.RawNullWrite() }
	for b.Loop() {
		if err := guard.Do(f); !errors.Is(err, guard.ErrCrash) {
			b.Fatal("no crash error:", err)
		}
	}
}
