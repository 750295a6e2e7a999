package tests

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestConcurrentFirstSymbolization: goroutines that take the process's first
// guarded faults at the same moment must not each build a copy of the C
// symbolizer's tables (cgosymbolizer's first use is unlocked, and every
// racing thread's copy but one leaks, about 20 MiB each for this small
// program). The 16-goroutine run may grow by a little more than the
// 1-goroutine run (15 more frames recorded, Go's own bookkeeping), not by
// another copy.
func TestConcurrentFirstSymbolization(t *testing.T) {
	bin := buildProgram(t, "./symprog")
	growth := func(n int) int { return symprogGrowth(t, bin, "-n", strconv.Itoa(n)) }
	one := growth(1)
	if one < 1024 {
		t.Fatalf("first symbolization grew RSS by only %d KiB: the program was built without debug information?", one)
	}
	for round := 0; round < 3; round++ {
		if many := growth(16); many > one+4096 {
			t.Fatalf("16 concurrent first faults grew RSS by %d KiB, one fault by %d KiB: the symbolizer's tables were built more than once", many, one)
		} else {
			t.Logf("RssAnon growth: 1 goroutine %d KiB, 16 goroutines %d KiB", one, many)
		}
	}
}

// TestRepeatedSymbolizationNoLeak: 100,000 faults at a PC that symbolizes
// to two frames (an inlined function) must not grow C memory: cgosymbolizer
// allocates the extra frame's record at every lookup and never frees it
// (3.1-3.4 MiB for this run without cgoguard's cache of symbolized PCs).
func TestRepeatedSymbolizationNoLeak(t *testing.T) {
	if !haveSymbols(t) {
		t.Skip("needs the C symbolizer's debug information")
	}
	bin := buildProgram(t, "./symprog")
	if kib := symprogGrowth(t, bin, "-repeat", "100000"); kib > 1024 {
		t.Fatalf("100,000 faults at one inlined PC grew C memory by %d KiB", kib)
	} else {
		t.Logf("100,000 faults at one inlined PC: C memory grew by %d KiB", kib)
	}
}

// symprogGrowth runs tests/symprog with args and returns the growth it
// reports.
func symprogGrowth(t *testing.T, bin string, args ...string) int {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("symprog %v: %v\n%s", args, err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || f[0] != "growth-kib" {
		t.Fatalf("symprog %v: unexpected output %q", args, out)
	}
	kib, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return kib
}
