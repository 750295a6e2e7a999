package tests

import (
	"debug/elf"
	"os"
	"sync"
	"testing"
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
