package tests

import (
	"path/filepath"
	"strings"
	"testing"
)

// A program that imports guard does not link with -linkmode=internal: the
// Go linker cannot link the C core's thread-local record (initial-exec
// TLS), and says so naming it. docs/how-it-works.md ("Linking") states
// this; if a release's linker starts to accept it, the program would link
// with C code inside the Go text range, and the docs and this test must be
// revisited.
func TestInternalLinkingRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	p := program{pkg: "../examples/segv", flags: []string{"-ldflags=-linkmode=internal"}}
	err := p.build(filepath.Join(t.TempDir(), "segv"))
	if err == nil {
		t.Fatal("a program importing guard linked with -linkmode=internal")
	}
	if !strings.Contains(err.Error(), "cg_thread") {
		t.Fatalf("the linker's refusal does not name the thread-local record:\n%v", err)
	}
}
