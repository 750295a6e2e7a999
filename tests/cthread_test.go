package tests

import (
	"syscall"
	"testing"
	"unsafe"

	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// A guard entered through the C API on a thread C created: it has no
// alternate signal stack, so the guard gives it one; a stack overflow is
// then caught too.
func TestCThreadWithoutAltStack(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   unsafe.Pointer
	}{{"null_write", payload.NullWrite}, {"stack_overflow", payload.StackOverflw}, {"abort", payload.Abort}} {
		for i := 0; i < 20; i++ {
			rc, sig, depth := payload.GuardInCThread(tc.fn)
			if rc == -101 {
				t.Fatal("new C thread already had an alternate stack: test is void")
			}
			if rc != cgoguardFault || depth != 0 {
				t.Fatalf("%s in a C thread: rc %d, depth after %d", tc.name, rc, depth)
			}
			want := syscall.SIGSEGV
			if tc.name == "abort" {
				want = syscall.SIGABRT
			}
			if sig != want {
				t.Fatalf("%s in a C thread: signal %v, want %v", tc.name, sig, want)
			}
		}
	}
}
