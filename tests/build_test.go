package tests

// Programs: building them (the one place tests build a Go program) and
// running them as subprocesses (how they ended, what they printed).
//
//	buildProgram(t, "./symbolizerprog", flags...)          a build for this test, in t.TempDir()
//	sharedProgram(t, "github.com/.../tests/superviseprog") built once per test binary run
//	buildShared(program{...})                              the same, from any goroutine (crashprog)
//	program{pkg: ".", dir: d, env: e}.mustBuild(t, out)    anything else (another module, GOFLAGS)
//
// Every build is bounded by buildTimeout; TestMain removes the shared
// programs' directory. Every run of a program by runChild is bounded by
// childTimeout.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildTimeout bounds one go build (a loaded machine, a cold build cache).
const buildTimeout = 5 * time.Minute

// childTimeout bounds every run of a test program: a hang fails the test.
const childTimeout = 60 * time.Second

// goTool is the go command that runs the tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// program is one go build of a main package (or of a plugin, with
// -buildmode=plugin in flags).
type program struct {
	pkg   string   // import path, or a directory relative to dir
	dir   string   // the go command's working directory; "" is tests/
	flags []string // go build flags: -tags, -buildmode
	env   []string // added to the go command's environment
}

// build builds p into out, within buildTimeout.
func (p program) build(out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	args := append(append([]string{"build"}, p.flags...), "-o", out, p.pkg)
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = p.dir
	if p.env != nil {
		cmd.Env = append(os.Environ(), p.env...)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%v (not built within %v)", err, buildTimeout)
		}
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// mustBuild builds p into out or fails the test.
func (p program) mustBuild(t testing.TB, out string) string {
	t.Helper()
	if err := p.build(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// buildProgram builds the main package pkg (an import path, or a directory
// relative to tests/) with the go build flags given into a temporary
// directory of the test's, and returns the binary's path (named after
// pkg).
func buildProgram(t testing.TB, pkg string, flags ...string) string {
	t.Helper()
	return program{pkg: pkg, flags: flags}.mustBuild(t, filepath.Join(t.TempDir(), filepath.Base(pkg)))
}

// sharedProgram is buildProgram for the programs many tests run: built
// once per test binary run (the first test to ask builds it, the others
// wait for that build) into a directory TestMain removes.
func sharedProgram(t testing.TB, pkg string, flags ...string) string {
	t.Helper()
	bin, err := buildShared(program{pkg: pkg, flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// shared holds the builds sharedProgram made, by package and flags.
var shared struct {
	sync.Mutex
	dir    string
	builds map[string]func() (string, error)
}

// buildShared builds p once per test binary run and returns its path; it
// may be called from several goroutines at once.
func buildShared(p program) (string, error) {
	key := p.pkg + " " + strings.Join(p.flags, " ")
	shared.Lock()
	if shared.builds == nil {
		shared.builds = map[string]func() (string, error){}
	}
	b := shared.builds[key]
	if b == nil {
		n := len(shared.builds)
		b = sync.OnceValues(func() (string, error) {
			dir, err := sharedDir()
			if err != nil {
				return "", err
			}
			// A directory per build: the same package built with other
			// flags has the same name.
			out := filepath.Join(dir, strconv.Itoa(n), filepath.Base(p.pkg))
			if err := os.Mkdir(filepath.Dir(out), 0o755); err != nil {
				return "", err
			}
			return out, p.build(out)
		})
		shared.builds[key] = b
	}
	shared.Unlock()
	return b()
}

var sharedDir = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "cgoguard-tests-bin-")
	shared.Lock()
	shared.dir = dir
	shared.Unlock()
	return dir, err
})

// removeSharedPrograms removes what sharedProgram built (TestMain).
func removeSharedPrograms() {
	shared.Lock()
	defer shared.Unlock()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
}

// childEnv is this process's environment with GOTRACEBACK set to
// gotraceback ("" for Go's default).
func childEnv(gotraceback string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOTRACEBACK=") {
			env = append(env, kv)
		}
	}
	if gotraceback != "" {
		env = append(env, "GOTRACEBACK="+gotraceback)
	}
	return env
}

// runChild runs bin with args to completion and returns its combined output
// and wait status. The run must end by itself (exit or signal) in time.
func runChild(t *testing.T, env []string, bin string, args ...string) (string, syscall.WaitStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: timed out after %v\n%s", filepath.Base(bin), args, childTimeout, out)
	}
	return string(out), waitStatus(t, cmd, err, out)
}

func waitStatus(t *testing.T, cmd *exec.Cmd, err error, out []byte) syscall.WaitStatus {
	t.Helper()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return cmd.ProcessState.Sys().(syscall.WaitStatus)
}

func describe(ws syscall.WaitStatus) string {
	switch {
	case ws.Signaled():
		return "killed by " + ws.Signal().String()
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

// wantExit2 asserts the child exited (not by a signal) with status 2, Go's
// status for a fatal signal or throw.
func wantExit2(t *testing.T, what string, ws syscall.WaitStatus, out string) {
	t.Helper()
	if !ws.Exited() || ws.ExitStatus() != 2 {
		t.Fatalf("%s: %s, want exit status 2\n%s", what, describe(ws), out)
	}
}

func wantContains(t *testing.T, what, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("%s: output lacks %q\n%s", what, s, out)
		}
	}
}

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

// crashprogBins are the two builds of tests/crashprog.
type crashprogBins struct {
	std   string // default build: the guard package imports cgosymbolizer
	nosym string // -tags cgoguard_nosymbolizer, with the program's own cgoTraceback/cgoSymbolizer
}

// crashprog builds tests/crashprog both ways (once per test binary run, the
// two builds at once).
func crashprog(t *testing.T) crashprogBins {
	t.Helper()
	const pkg = "github.com/cgoguard/cgoguard/tests/crashprog"
	var bins crashprogBins
	var errStd, errNosym error
	var wg sync.WaitGroup
	wg.Go(func() { bins.std, errStd = buildShared(program{pkg: pkg}) })
	// Also the test that the tag avoids the clash of the program's C
	// functions cgoTraceback/cgoSymbolizer with cgosymbolizer's.
	wg.Go(func() {
		bins.nosym, errNosym = buildShared(program{pkg: pkg, flags: []string{"-tags", "cgoguard_nosymbolizer"}})
	})
	wg.Wait()
	if err := errors.Join(errStd, errNosym); err != nil {
		t.Fatalf("building crashprog: %v", err)
	}
	return bins
}
