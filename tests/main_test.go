package tests

import (
	"os"
	"testing"
)

// TestMain runs the tests, then removes the programs sharedProgram built
// (build_test.go) for them.
func TestMain(m *testing.M) {
	code := m.Run()
	removeSharedPrograms()
	os.Exit(code)
}
