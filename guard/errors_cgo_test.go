//go:build linux && amd64 && cgo

package guard

import (
	"errors"
	"syscall"
	"testing"
)

// The C core's result codes (include/cgoguard.h: a stable ABI) map onto
// the errors a caller can act on.
func TestResultErrors(t *testing.T) {
	for _, c := range []struct {
		code int64
		want error
	}{
		{-1, ErrNilFunction},    // CGOGUARD_ENULLFN
		{-2, ErrTooDeep},        // CGOGUARD_EDEPTH
		{-3, ErrUnsupported},    // CGOGUARD_EUNSUPPORTED
		{-4, ErrSetup},          // CGOGUARD_EINSTALL
		{-5, ErrSetup},          // CGOGUARD_EALTSTACK
		{-6, ErrSetup},          // CGOGUARD_ELINKMODE
		{-7, ErrSetup},          // CGOGUARD_ESIGNAL
		{-8, ErrSetup},          // CGOGUARD_EWATCHDOG
		{-9, ErrNestedDeadline}, // CGOGUARD_ENESTEDDEADLINE
	} {
		if err := resultError(c.code, nil); !errors.Is(err, c.want) {
			t.Errorf("result %d: %v, want a match for %v", c.code, err, c.want)
		}
	}
	// One the Go side never asks for is reported by its C text.
	if err := resultError(-10, nil); err == nil || errors.Is(err, ErrSetup) {
		t.Errorf("result -10: %v", err)
	}
}

// SetTimeoutSignal refuses a signal it cannot use with an error matching
// ErrSetup that names the signal.
func TestSetTimeoutSignalErrSetup(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGSEGV, syscall.SIGURG, syscall.Signal(65)} {
		err := SetTimeoutSignal(sig)
		if !errors.Is(err, ErrSetup) || errors.Is(err, ErrUnsupported) {
			t.Errorf("SetTimeoutSignal(%d) = %v, want ErrSetup", int(sig), err)
		}
	}
}
