//go:build amd64

package cgoboundary

import (
	"errors"
	"testing"
	"unsafe"
)

// fakeAsmcgocall lays out code at fn as asmcgocall's user-g path is laid
// out, calling the landing pad at pad, and returns it with the return
// address of its call.
func fakeAsmcgocall(fn, pad uintptr) (code []byte, ret uintptr) {
	code = append(code, 0x90, 0x90)                         // filler
	code = append(code, saveG...)                           // MOVQ DI, 8(SP)
	code = append(code, 0x48, 0x8b, 0x3f, 0x48, 0x29, 0xd7) // filler: the depth computation
	code = append(code, beforeCall...)                      // MOVQ DI, 0(SP); CALL
	ret = fn + uintptr(len(code)) + 4
	rel := uint32(int32(int64(pad) - int64(ret)))
	code = append(code, byte(rel), byte(rel>>8), byte(rel>>16), byte(rel>>24))
	code = append(code, afterCall...)
	code = append(code, 0xc3) // RET
	return code, ret
}

func TestCallSiteFindsTheKnownLayout(t *testing.T) {
	const fn = 0x401000
	code, ret := fakeAsmcgocall(fn, fn+0x100)
	got, err := callSite(code, fn, fn+0x100)
	if err != nil || got != ret {
		t.Fatalf("callSite = %#x, %v; want %#x", got, err, ret)
	}
	pad, err := callTarget(code, fn, ret)
	if err != nil || pad != fn+0x100 {
		t.Fatalf("callTarget = %#x, %v; want %#x", pad, err, fn+0x100)
	}
}

// A runtime laid out otherwise is refused: a changed instruction around
// the call, a call elsewhere, no store of g before it, two such calls.
func TestCallSiteRefusesOtherLayouts(t *testing.T) {
	const fn = 0x401000
	code, ret := fakeAsmcgocall(fn, fn+0x100)
	at := int(ret - fn)
	mutations := map[string]func(c []byte) []byte{
		"instruction after the call": func(c []byte) []byte { c[at+1] ^= 0xff; return c },
		"call target":                func(c []byte) []byte { c[at-1]++; return c },
		"store of the depth":         func(c []byte) []byte { c[at-7] ^= 0x01; return c },
		"no store of g before":       func(c []byte) []byte { copy(c, make([]byte, at-9)); return c },
		"a second matching call": func(c []byte) []byte {
			more, _ := fakeAsmcgocall(fn+uintptr(len(c)), fn+0x100)
			return append(c, more...)
		},
	}
	for name, mutate := range mutations {
		c := mutate(append([]byte(nil), code...))
		if _, err := callSite(c, fn, fn+0x100); !errors.Is(err, ErrUnknownRuntime) {
			t.Errorf("%s: got %v, want ErrUnknownRuntime", name, err)
		}
	}
	c := append([]byte(nil), code...)
	c[at-5] = 0xe9 // JMP rel32, not CALL
	if _, err := callTarget(c, fn, ret); !errors.Is(err, ErrUnknownRuntime) {
		t.Errorf("no call before the return address: got %v", err)
	}
}

// An address outside asmcgocall is refused before any byte is read around
// it: a Go function, an address in no function, zero.
func TestCheckRefusesAddressesOutsideAsmcgocall(t *testing.T) {
	for name, pc := range map[string]uintptr{
		"a Go function": funcPC(TestCheckRefusesAddressesOutsideAsmcgocall),
		"no function":   0x1000,
		"zero":          0,
	} {
		if _, err := Check(pc); !errors.Is(err, ErrUnknownRuntime) {
			t.Errorf("%s: got %v, want ErrUnknownRuntime", name, err)
		}
	}
}

func TestGIsStablePerGoroutine(t *testing.T) {
	g := G()
	if g == 0 || g != G() {
		t.Fatal("G changed within a goroutine")
	}
	other := make(chan uintptr, 1)
	go func() { other <- G() }()
	if o := <-other; o == g || o == 0 {
		t.Fatalf("G of another goroutine: %#x, this one %#x", o, g)
	}
}

func funcPC(f func(*testing.T)) uintptr {
	return **(**uintptr)(unsafe.Pointer(&f))
}
