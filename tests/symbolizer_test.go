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
	bin := buildProgram(t, "./symwarmprog")
	growth := func(n int) int {
		out, err := exec.Command(bin, "-n", strconv.Itoa(n)).CombinedOutput()
		if err != nil {
			t.Fatalf("symwarmprog -n %d: %v\n%s", n, err, out)
		}
		f := strings.Fields(string(out))
		if len(f) != 2 || f[0] != "rssanon-growth-kib" {
			t.Fatalf("symwarmprog -n %d: unexpected output %q", n, out)
		}
		kib, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatal(err)
		}
		return kib
	}
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
