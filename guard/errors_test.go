package guard

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

func TestCrashErrorFormatting(t *testing.T) {
	e := &CrashError{
		Signal: syscall.SIGSEGV, Code: 1, Addr: 0x10, PC: 0x401000,
		Frames: []runtime.Frame{{PC: 0x401000, Function: "parse_header", File: "parser.c", Line: 42}, {PC: 0x401100}},
	}
	want := "guard: SIGSEGV: segmentation violation (SEGV_MAPERR) addr=0x10 pc=0x401000 in parse_header (parser.c:42)"
	if e.Error() != want {
		t.Errorf("Error() = %q\nwant      %q", e.Error(), want)
	}
	if fmt.Sprintf("%v", e) != want || fmt.Sprintf("%s", e) != want {
		t.Errorf("%%v/%%s differ from Error()")
	}
	long := fmt.Sprintf("%+v", e)
	for _, s := range []string{want, "rip", "parse_header\n      parser.c:42", "0x0000000000401100 ?",
		"signal:  SIGSEGV (11), code SEGV_MAPERR (1), address 0x10", "taint:   none", "Go stack of the caller: not recorded"} {
		if !strings.Contains(long, s) {
			t.Errorf("%%+v lacks %q:\n%s", s, long)
		}
	}
	if !errors.Is(e, ErrCrash) || errors.Is(e, ErrNilFunction) {
		t.Error("errors.Is")
	}
	abrt := &CrashError{Signal: syscall.SIGABRT, Code: -6, PC: 0x1}
	if got := abrt.Error(); strings.Contains(got, "addr=") || !strings.Contains(got, "SIGABRT: abort (SI_TKILL)") {
		t.Errorf("abort Error() = %q", got)
	}
}

func TestCodeNames(t *testing.T) {
	for _, c := range []struct {
		sig  syscall.Signal
		code int
		want string
	}{
		{syscall.SIGSEGV, 1, "SEGV_MAPERR"}, {syscall.SIGSEGV, 2, "SEGV_ACCERR"},
		{syscall.SIGBUS, 2, "BUS_ADRERR"}, {syscall.SIGFPE, 1, "FPE_INTDIV"},
		{syscall.SIGILL, 2, "ILL_ILLOPN"}, {syscall.SIGABRT, -6, "SI_TKILL"},
		{syscall.SIGSEGV, 0x80, "SI_KERNEL"}, {syscall.SIGSEGV, 99, "code 99"},
	} {
		if got := codeName(c.sig, c.code); got != c.want {
			t.Errorf("codeName(%v, %d) = %q, want %q", c.sig, c.code, got, c.want)
		}
	}
}

func TestOptions(t *testing.T) {
	if c := buildConfig(nil); c.maxFrames != DefaultMaxFrames || c.err != nil {
		t.Errorf("defaults: %+v", c)
	}
	if c := buildConfig([]Option{WithMaxFrames(500)}); c.maxFrames != 64 {
		t.Errorf("WithMaxFrames(500) = %d, want 64", c.maxFrames)
	}
	if c := buildConfig([]Option{WithMaxFrames(-1)}); c.err == nil {
		t.Error("WithMaxFrames(-1): no error")
	}
	if c := buildConfig([]Option{nil, WithMaxFrames(3)}); c.maxFrames != 3 {
		t.Errorf("nil option: %+v", c)
	}
}
