package tests

import (
	"context"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// Benchmarks of the guard's cost, all on the same empty C function so that
// their ratios are meaningful when compared within one run.

func BenchmarkRawCgo(b *testing.B) {
	var arg unsafe.Pointer
	for b.Loop() {
		payload.RawEmpty(arg)
	}
}

func BenchmarkGuardCall(b *testing.B) {
	if err := guard.Install(); err != nil {
		b.Fatal(err)
	}
	var arg unsafe.Pointer
	for b.Loop() {
		if err := guard.Call(payload.Empty, arg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGuardCallFunc(b *testing.B) {
	for b.Loop() {
		if _, err := guard.CallFunc(payload.Sum6, 1, 2, 3, 4, 5, 6); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFaultRecover(b *testing.B) {
	for b.Loop() {
		if err := guard.Call(payload.NullWrite, nil, guard.WithMaxFrames(0)); err == nil {
			b.Fatal("no fault")
		}
	}
}

func BenchmarkFaultRecoverFrames(b *testing.B) {
	for b.Loop() {
		if err := guard.Call(payload.NullWrite, unsafe.Pointer(nil)); err == nil {
			b.Fatal("no fault")
		}
	}
}

func BenchmarkGuardCallDeadline(b *testing.B) {
	var arg unsafe.Pointer
	opt := guard.WithTimeout(time.Second)
	for b.Loop() {
		if err := guard.Call(payload.Empty, arg, opt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGuardCallContext(b *testing.B) {
	var arg unsafe.Pointer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for b.Loop() {
		if err := guard.CallContext(ctx, payload.Empty, arg); err != nil {
			b.Fatal(err)
		}
	}
}
