package tests

// What the calls accept and refuse, before any C runs: nil functions, too
// many arguments, bad options, Go pointers to Go pointers (cgo's rules);
// and CallFunc's arguments and result.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// Bad arguments and options are errors, not crashes.
func TestBadInput(t *testing.T) {
	if err := guard.Call(nil, nil); !errors.Is(err, guard.ErrNilFunction) {
		t.Errorf("Call(nil): %v", err)
	}
	if err := guard.CallContext(context.Background(), nil, nil); !errors.Is(err, guard.ErrNilFunction) {
		t.Errorf("CallContext(nil fn): %v", err)
	}
	var nilCtx context.Context
	if err := guard.CallContext(nilCtx, payload.Empty, nil); err == nil {
		t.Error("CallContext(nil ctx): no error")
	}
	if _, err := guard.CallFunc(nil, nil); !errors.Is(err, guard.ErrNilFunction) {
		t.Errorf("CallFunc(nil): %v", err)
	}
	if _, err := guard.CallFunc(payload.Sum6, []uintptr{1, 2, 3, 4, 5, 6, 7}); !errors.Is(err, guard.ErrTooManyArgs) {
		t.Errorf("CallFunc with 7 args: %v", err)
	}
	if err := guard.Call(payload.Empty, nil, guard.WithMaxFrames(-1)); err == nil {
		t.Error("WithMaxFrames(-1): no error")
	}
	if err := guard.Call(payload.NullWrite, nil, guard.WithMaxFrames(1000)); !errors.Is(err, guard.ErrCrash) {
		t.Errorf("WithMaxFrames(1000): %v", err)
	}
	if err := guard.Call(payload.Empty, nil, nil); err != nil {
		t.Errorf("a nil Option: %v", err)
	}
}

func TestCallFunc(t *testing.T) {
	got, err := guard.CallFunc(payload.Sum6, []uintptr{1, 2, 3, 4, 5, 6})
	if err != nil || got != 1+4+9+16+25+36 {
		t.Fatalf("CallFunc(sum6) = %d, %v", got, err)
	}
	got, err = guard.CallFunc(payload.Div6, []uintptr{84, 2})
	if err != nil || got != 42 {
		t.Fatalf("CallFunc(div 84/2) = %d, %v", got, err)
	}
	_, err = guard.CallFunc(payload.Div6, []uintptr{1, 0})
	var ce *guard.CrashError
	if !errors.As(err, &ce) || ce.Signal != syscall.SIGFPE {
		t.Fatalf("CallFunc(div 1/0): %v", err)
	}
	got, err = guard.CallFunc(payload.Sum6, nil) // missing arguments are zero
	if err != nil || got != 0 {
		t.Fatalf("CallFunc(sum6) with no args = %d, %v", got, err)
	}
}

// An argument that is a Go pointer to memory holding Go pointers breaks
// cgo's pointer rules: guard.Call panics as a cgo call does (GODEBUG
// cgocheck=1, the default), on every path into C, before running fn.
func TestCgoPointerCheck(t *testing.T) {
	type holder struct{ p *int }
	calls := map[string]func(arg unsafe.Pointer) error{
		"Call":         func(arg unsafe.Pointer) error { return guard.Call(payload.Empty, arg) },
		"Call+timeout": func(arg unsafe.Pointer) error { return guard.Call(payload.Empty, arg, guard.WithTimeout(time.Second)) },
		"CallContext":  func(arg unsafe.Pointer) error { return guard.CallContext(context.Background(), payload.Empty, arg) },
	}
	for name, call := range calls {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), "Go pointer to unpinned Go pointer") {
					t.Errorf("%s: recovered %v, want cgo's pointer-check panic", name, r)
				}
			}()
			h := &holder{p: new(int)}
			call(unsafe.Pointer(h))
		}()
		// Go memory without Go pointers in it may be passed.
		if err := call(unsafe.Pointer(new([4]int64))); err != nil {
			t.Errorf("%s with a plain Go pointer: %v", name, err)
		}
	}
}
