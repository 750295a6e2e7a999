//go:build goexperiment.runtimesecret

package tests

import (
	"errors"
	"runtime/secret"
	"testing"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// Under GOEXPERIMENT=runtimesecret (Go 1.27), asmcgocall erases registers
// and reloads g before the stack switch of a goroutine inside secret.Do,
// and its call site moves. Do finds it at run time: faults inside
// secret.Do, and outside it, come back as CrashErrors.
func TestDoUnderRuntimeSecret(t *testing.T) {
	r := payload.NewResult(1)
	defer payload.Free(r)
	for i := 0; i < 50; i++ {
		var err error
		secret.Do(func() {
			err = guard.Do(func() { payload.RawCall(payload.NullWrite, unsafe.Pointer(r)) })
		})
		if !errors.Is(err, guard.ErrCrash) {
			t.Fatalf("inside secret.Do, fault %d: got %v, want a CrashError", i, err)
		}
		if err := guard.Do(func() { payload.RawCall(payload.Abort, unsafe.Pointer(r)) }); !errors.Is(err, guard.ErrCrash) {
			t.Fatalf("outside secret.Do, fault %d: got %v, want a CrashError", i, err)
		}
	}
	var err error
	secret.Do(func() { err = guard.Do(func() { payload.RawCall(payload.Empty, unsafe.Pointer(r)) }) })
	if err != nil {
		t.Fatalf("a healthy call inside secret.Do: %v", err)
	}
}
