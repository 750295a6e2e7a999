//go:build amd64

package cgoboundary

import (
	"bytes"
	"errors"
	"testing"
	"unsafe"
)

// This runtime is one the package knows: the call site is found once, and
// the word at the return address is the instruction the pattern says.
func TestFindThisRuntime(t *testing.T) {
	l, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	fn, _ := asmcgocallCode()
	if l.Ret <= uintptr(fn) || l.Ret >= uintptr(fn)+codeWindow {
		t.Fatalf("return address %#x outside asmcgocall's first %d bytes at %p", l.Ret, codeWindow, fn)
	}
	code := unsafe.Slice((*byte)(fn), codeWindow)
	if off := l.Ret - uintptr(fn); !bytes.HasPrefix(code[off:], afterCall) {
		t.Fatalf("bytes at the return address: % x", code[off:off+8])
	}
	if l.OffSyscallSP != 104 || l.OffNoCallback <= l.OffSyscallSP || l.OffNoCallback >= scanTo {
		t.Fatalf("offsets %+v", l)
	}
	if G() == 0 || G() != uintptr(gPointer()) {
		t.Fatal("G")
	}
}

// A runtime laid out otherwise is refused: a changed instruction around
// the call, a call elsewhere, no store of g before it.
func TestCallSiteRefusesOtherLayouts(t *testing.T) {
	fnp, padp := asmcgocallCode()
	fn, pad := uintptr(fnp), uintptr(padp)
	code := append([]byte(nil), unsafe.Slice((*byte)(fnp), codeWindow)...)
	ret, err := callSite(code, fn, pad)
	if err != nil {
		t.Fatal(err)
	}
	at := int(ret - fn)
	mutations := map[string]func(c []byte){
		"instruction after the call": func(c []byte) { c[at+1] ^= 0xff },
		"call target":                func(c []byte) { c[at-1]++ },
		"store of the depth":         func(c []byte) { c[at-7] ^= 0x01 },
		"no store of g before":       func(c []byte) { copy(c, make([]byte, at-9)) },
	}
	for name, mutate := range mutations {
		c := append([]byte(nil), code...)
		mutate(c)
		if _, err := callSite(c, fn, pad); !errors.Is(err, ErrUnknownRuntime) {
			t.Errorf("%s changed: got %v, want ErrUnknownRuntime", name, err)
		}
	}
}
