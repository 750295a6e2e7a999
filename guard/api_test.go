package guard

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

// ErrRuntimeUnsupported is its own error and matches ErrUnsupported too,
// also as Do returns it (wrapped, naming the Go version).
func TestRuntimeUnsupportedIsUnsupported(t *testing.T) {
	err := runtimeUnsupported(errors.New("the boundary moved"))
	for _, target := range []error{ErrUnsupported, ErrRuntimeUnsupported} {
		if !errors.Is(ErrRuntimeUnsupported, target) || !errors.Is(err, target) {
			t.Errorf("errors.Is(%v, %v) = false", err, target)
		}
	}
	if errors.Is(ErrUnsupported, ErrRuntimeUnsupported) {
		t.Error("ErrUnsupported matches ErrRuntimeUnsupported: a platform without guarding is not a runtime without Do")
	}
	if errors.Is(err, ErrSetup) || errors.Is(err, ErrCrash) {
		t.Errorf("%v matches ErrSetup or ErrCrash", err)
	}
	if s := err.Error(); !strings.Contains(s, runtime.Version()) || !strings.Contains(s, "the boundary moved") ||
		!strings.HasPrefix(s, "guard: Do is not supported with this Go runtime") {
		t.Errorf("Error() = %q", s)
	}
}

// Every setup failure matches ErrSetup, and only that, with its own text.
func TestSetupErrorsAreErrSetup(t *testing.T) {
	seen := map[string]bool{}
	for _, err := range []error{errInstall, errAltStack, errLinkMode, errTimeoutSignal, errWatchdog, errTooManyRegions} {
		if !errors.Is(err, ErrSetup) {
			t.Errorf("%v does not match ErrSetup", err)
		}
		for _, other := range []error{ErrUnsupported, ErrRuntimeUnsupported, ErrCrash, ErrTimeout, ErrTooDeep, ErrNestedDeadline, ErrNilFunction} {
			if errors.Is(err, other) {
				t.Errorf("%v matches %v", err, other)
			}
		}
		if s := err.Error(); !strings.HasPrefix(s, "guard: ") || s == ErrSetup.Error() || seen[s] {
			t.Errorf("Error() = %q: want its own detail", s)
		}
		seen[err.Error()] = true
	}
}

// The two nesting errors are told apart by name and by errors.Is.
func TestNestingErrorsDistinct(t *testing.T) {
	if errors.Is(ErrTooDeep, ErrNestedDeadline) || errors.Is(ErrNestedDeadline, ErrTooDeep) ||
		errors.Is(ErrTooDeep, ErrSetup) || errors.Is(ErrNestedDeadline, ErrSetup) {
		t.Error("ErrTooDeep, ErrNestedDeadline and ErrSetup must not match each other")
	}
	if !strings.Contains(ErrTooDeep.Error(), "16 nested guards") {
		t.Errorf("ErrTooDeep = %q", ErrTooDeep)
	}
}
