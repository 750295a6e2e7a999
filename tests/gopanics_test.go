package tests

// Go's own faults stay Go's panics while guarded faults happen in C on
// other goroutines (faultLoop, in cpuprofile_test.go).

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

func nilDeref() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err, _ = r.(error)
		}
	}()
	var p *[16]int
	p[3] = 1
	return nil
}

//go:noinline
func divide(a, b int) int { return a / b }

func divZero() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err, _ = r.(error)
		}
	}()
	divide(1, 0)
	return nil
}

// Go's own faults stay Go panics, recoverable, while other goroutines take
// guarded faults in C.
func TestGoPanicsStayPanics(t *testing.T) {
	stop := faultLoop(t, 4)
	defer stop()
	for i := 0; i < 2000; i++ {
		var re runtime.Error
		if err := nilDeref(); !errors.As(err, &re) || !strings.Contains(err.Error(), "nil pointer dereference") {
			t.Fatalf("nil dereference in Go: recovered %v", err)
		}
		if err := divZero(); !errors.As(err, &re) || !strings.Contains(err.Error(), "integer divide by zero") {
			t.Fatalf("divide by zero in Go: recovered %v", err)
		}
	}
	if n := stop(); n == 0 {
		t.Fatal("no guarded fault happened meanwhile")
	}
}
