package tests

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The main example builds, recovers each crash and carries on.
func TestExampleSegv(t *testing.T) {
	bin := buildProgram(t, "../examples/segv")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin).CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"SIGSEGV: segmentation violation (SEGV_MAPERR) addr=0x0",
		"in bump_counter (",
		"SIGFPE: floating-point exception (FPE_INTDIV)",
		"SIGABRT: abort (SI_TKILL)",
		"in checked_copy (",
		"4. fill (healthy)\n   -> ok",
		"      taint: library (fault in C code",
		"full report (%+v):",
		"taint:   library:",
		"dump:    /",
		"Go stack of the caller:\n  main.main",
		"still running: 5 crashes recovered, ",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
