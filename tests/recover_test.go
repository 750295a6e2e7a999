package tests

import (
	"strings"
	"testing"
)

// wantExit0 asserts the child exited with status 0 and printed nothing of
// Go's fatal paths.
func wantExit0(t *testing.T, what string, ws interface {
	Exited() bool
	ExitStatus() int
}, out string) {
	t.Helper()
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("%s: exit status %d (exited %v), want 0\n%s", what, ws.ExitStatus(), ws.Exited(), out)
	}
	for _, bad := range []string{"signal arrived during cgo execution", "fatal error", "\npanic: ", "crashprog:", "pluginprog:"} {
		if strings.Contains("\n"+out, bad) {
			t.Errorf("%s: output has %q\n%s", what, bad, out)
		}
	}
}

// A recover() inside Do, by a helper or by fmt's String-method recover,
// leaves the region working: a second fault in the same Do comes back from
// Do (before the fix it reached Go's handler, exit 2). A fault f recovers
// reaches the OnCrash hooks and ReadStats; a fault in a deferred call
// while a fault's panic unwinds f replaces it; 8 goroutines recovering
// their own faults in a loop lose none.
func TestDoRecoverInside(t *testing.T) {
	bins := crashprog(t)
	cases := []struct {
		mode string
		want []string
	}{
		{"do-recover-helper", []string{"helper recovered: guard: SIGSEGV", "second fault next",
			"second fault recovered by Do", "next Do recovered"}},
		{"do-recover-fmt", []string{"fmt printed: %!v(PANIC=String method: guard: SIGSEGV: segmentation violation",
			"second fault next", "second fault recovered by Do"}},
		{"do-recover-hooks", []string{"hook saw: guard: SIGSEGV", "stats: crashes +1, recovered +1, taint library",
			"hooks and stats saw every fault"}},
		{"do-recover-goroutines", []string{"faults 8000, hooks 8000, crashes 8000, recovered 8000",
			"every fault recovered and counted"}},
		{"do-defer-fault", []string{"deferred fault recovered by Do: aborted"}},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			out, ws := runChild(t, childEnv(""), bins.std, c.mode)
			wantExit0(t, c.mode, ws, out)
			wantContains(t, c.mode, out, c.want...)
		})
	}
}
