package tests

import "testing"

// Go code outside the main module (a plugin built with -buildmode=plugin)
// is Go's: a nil dereference in the plugin's Go code, in a callback from C
// under guard.Call or guard.Do, is Go's panic (before, the handler took the
// plugin's Go frames for C and abandoned them: "fatal error: exitsyscall:
// syscall frame is no longer valid", exit 2). A fault in the plugin's C
// code is still recovered.
func TestPluginGoFramesAreGo(t *testing.T) {
	so := buildProgram(t, "github.com/cgoguard/cgoguard/tests/pluginprog/plug", "-buildmode=plugin")
	bin := buildProgram(t, "github.com/cgoguard/cgoguard/tests/pluginprog")
	out, ws := runChild(t, childEnv(""), bin, so)
	wantExit0(t, "pluginprog", ws, out)
	wantContains(t, "pluginprog", out,
		"plugin C fault under Call: segmentation fault",
		"plugin C fault under Do: segmentation fault",
		"plugin Go fault under Call: Go panic: runtime error: invalid memory address or nil pointer dereference",
		"plugin Go fault under Do: Go panic: runtime error: invalid memory address or nil pointer dereference",
		"\nok\n")
}
