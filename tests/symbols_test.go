package tests

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

var symbolsOnce = sync.OnceValue(func() bool {
	exe, err := os.Executable()
	if err != nil {
		return false
	}
	f, err := elf.Open(exe)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Section(".symtab") != nil && f.Section(".debug_info") != nil
})

// haveSymbols reports whether this test binary kept its symbol table and
// DWARF, which the C symbolizer needs. go test strips them unless given
// -ldflags='-s=false -w=false' (make test does).
func haveSymbols(t testing.TB) bool {
	t.Helper()
	if !symbolsOnce() {
		t.Log("test binary has no symbols (go test strips it): C frame names not checked; run with -ldflags='-s=false -w=false'")
		return false
	}
	return true
}

// A shared object loaded after the symbolizer read the list of loaded
// objects (after the first symbolized error) is named from its own symbol
// table: a static function in it, which dladdr alone cannot name.
func TestLateObjectStaticFunctionNamed(t *testing.T) {
	if !haveSymbols(t) {
		t.Skip("needs -ldflags='-s=false -w=false'")
	}
	if err := guard.Call(payload.NullWrite, nil); !errors.Is(err, guard.ErrCrash) {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "late.c")
	so := filepath.Join(dir, "late.so")
	code := "__attribute__((noinline)) static void late_inner(int *p) { *(volatile int *)p = 1; }\n" +
		"void late_fault(void *arg) { (void)arg; late_inner(0); __asm__ volatile(\"\"); }\n"
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-O1", "-shared", "-fPIC", "-o", so, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	fn := payload.Dlsym(so, "late_fault")
	if fn == nil {
		t.Fatal("dlopen/dlsym failed")
	}
	for _, run := range []func() error{
		func() error { return guard.Call(fn, nil) },
		func() error { return guard.Do(func() { payload.RawCall(fn, nil) }) },
	} {
		var ce *guard.CrashError
		if err := run(); !errors.As(err, &ce) {
			t.Fatalf("got %v, want a crash", err)
		}
		if len(ce.Frames) < 2 || ce.Frames[0].Function != "late_inner" || ce.Frames[1].Function != "late_fault" ||
			ce.Frames[0].File != so || !strings.Contains(ce.Error(), " in late_inner ") {
			t.Fatalf("frames %v; error %q", ce.Frames, ce)
		}
	}
}
