package tests

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// buildProgram builds the main package at pkg (relative to tests/), with
// the go build flags given, into a temporary directory and returns the
// binary's path.
func buildProgram(t *testing.T, pkg string, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	args := append(append([]string{"build"}, flags...), "-o", bin, pkg)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}
