package tests

import (
	"errors"
	"runtime"
	"testing"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

type frameKey struct {
	fn   string
	line int
}

func framesOf(pcs []uintptr) []frameKey {
	var out []frameKey
	it := runtime.CallersFrames(pcs)
	for {
		f, more := it.Next()
		out = append(out, frameKey{f.Function, f.Line})
		if !more {
			return out
		}
	}
}

// checkGoStack compares a CrashError's GoStack with runtime.Callers taken
// in the caller just before the call: the same functions, the same lines
// past the caller's own frame.
func checkGoStack(t *testing.T, err error, want []uintptr) {
	t.Helper()
	var ce *guard.CrashError
	if !errors.As(err, &ce) {
		t.Fatalf("no crash: %v", err)
	}
	g, w := framesOf(ce.GoStack), framesOf(want)
	if len(g) != len(w) {
		t.Fatalf("GoStack has %d frames, runtime.Callers %d:\n%v\n%v", len(g), len(w), g, w)
	}
	for i := range g {
		if g[i].fn != w[i].fn || i > 0 && g[i].line != w[i].line {
			t.Fatalf("frame %d: GoStack %v, runtime.Callers %v\n%v\n%v", i, g[i], w[i], g, w)
		}
	}
}

// The caller's Go stack in a CrashError is what runtime.Callers shows from
// the caller's frame: through Call, CallFunc (small enough to be inlined
// into its caller), a closure, and inside a Go callback made from guarded
// C (the stack then runs through C frames).
func TestGoStackOfCaller(t *testing.T) {
	pcs := make([]uintptr, 64)
	t.Run("Call", func(t *testing.T) {
		want := pcs[:runtime.Callers(1, pcs)]
		err := guard.Call(payload.NullWrite, nil)
		checkGoStack(t, err, want)
	})
	t.Run("CallFunc", func(t *testing.T) {
		want := pcs[:runtime.Callers(1, pcs)]
		_, err := guard.CallFunc(payload.NullWrite, []uintptr{0})
		checkGoStack(t, err, want)
	})
	t.Run("NoFrames", func(t *testing.T) {
		f := func() ([]uintptr, error) {
			want := append([]uintptr(nil), pcs[:runtime.Callers(1, pcs)]...)
			return want, guard.Call(payload.NullWrite, nil, guard.WithMaxFrames(0))
		}
		want, err := f()
		checkGoStack(t, err, want)
	})
	t.Run("InCallback", func(t *testing.T) {
		inner := make([]uintptr, 64)
		var want []uintptr
		var err error
		payload.SetCallback(func(in int) int {
			want = inner[:runtime.Callers(1, inner)]
			err = guard.Call(payload.NullWrite, nil)
			return in
		})
		defer payload.SetCallback(nil)
		r := payload.NewResult(1)
		defer payload.Free(r)
		if e := guard.Call(payload.CallGo, unsafe.Pointer(r)); e != nil {
			t.Fatal(e)
		}
		checkGoStack(t, err, want)
	})
}
