package tests

import (
	"bytes"
	"context"
	"fmt"
	"github.com/cgoguard/cgoguard/internal/testwait"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGoRuntimeProgramsUnchanged runs the Go runtime's own cgo test programs
// ($GOROOT/src/runtime/testdata/testprogcgo: signal forwarding, SIGPROF in C
// and on C threads, crashes in C and Go, panics through callbacks, signal
// masks across exec, EINTR, coroutines, dropm/needm, ...) twice: as the Go
// tree has them, and with cgoguard installed in init, where it has already
// recovered one guarded fault (Call) and one in a plain cgo call inside
// guard.Do before the program starts, and where another goroutine keeps a
// Do region open and takes a fault in it every 10 ms while the program runs
// (except in NumGoroutine, which counts goroutines). Each program must
// end the same way in both: the same exit status, the same first line
// (after addresses, temporary paths and durations are folded), and, where it
// crashes, the same functions in the first goroutine's traceback.
//
// The programs register their own cgo traceback functions, so the guarded
// build uses -tags cgoguard_nosymbolizer, as any such program must.
func TestGoRuntimeProgramsUnchanged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the Go runtime's test programs twice (-short)")
	}
	src := filepath.Join(runtime.GOROOT(), "src", "runtime", "testdata", "testprogcgo")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("no Go runtime test programs at %s: %v", src, err)
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	plain := copyTestprog(t, src, filepath.Join(root, "plain"))
	guarded := copyTestprog(t, src, filepath.Join(root, "guarded"))
	writeFile(t, filepath.Join(plain, "go.mod"), "module testprogcgo\n\ngo 1.25\n")
	writeFile(t, filepath.Join(guarded, "go.mod"), fmt.Sprintf(
		"module testprogcgo\n\ngo 1.25\n\nrequire github.com/cgoguard/cgoguard v0.0.0\n\nreplace github.com/cgoguard/cgoguard => %s\n", repo))
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(guarded, "go.sum"), string(sum))
	// A C file of its own: the programs use //export, so a function defined
	// in a cgo preamble would be defined twice.
	writeFile(t, filepath.Join(guarded, "zz_cgoguard.c"), "void zz_cgoguard_fault(void *p) { *(volatile int *)p = 1; }\n")
	writeFile(t, filepath.Join(guarded, "zz_cgoguard.go"), `package main

// void zz_cgoguard_fault(void *p);
import "C"

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
)

// Installed, and proven live by one recovered fault through Call and one
// through Do, before any program runs. Then a goroutine keeps a Do region
// open (asleep in Go inside it) and takes a fault in it every 10 ms while
// the program runs.
func init() {
	var ce *guard.CrashError
	if err := guard.Call(unsafe.Pointer(C.zz_cgoguard_fault), nil); !errors.As(err, &ce) {
		panic(fmt.Sprintf("cgoguard: expected a recovered fault, got %v", err))
	}
	region := func() error {
		return guard.Do(func() {
			time.Sleep(10 * time.Millisecond)
			C.zz_cgoguard_fault(nil)
		})
	}
	if err := guard.Do(func() { C.zz_cgoguard_fault(nil) }); !errors.As(err, &ce) {
		panic(fmt.Sprintf("cgoguard: expected a fault recovered by Do, got %v", err))
	}
	// Programs that count goroutines, or goroutines in cgo calls (the
	// region's is one while it faults), would count one too many.
	if len(os.Args) > 1 && (os.Args[1] == "NumGoroutine" || strings.HasPrefix(os.Args[1], "NotInGoMetric")) {
		return
	}
	go func() {
		for {
			if err := region(); !errors.As(err, &ce) {
				panic(fmt.Sprintf("cgoguard: expected a fault recovered by Do, got %v", err))
			}
		}
	}()
}
`)
	// Each a module of its own, built in its directory.
	modMod := []string{"GOFLAGS=-mod=mod"}
	plainBin := program{pkg: ".", dir: plain, env: modMod}.mustBuild(t, filepath.Join(root, "plain.bin"))
	guardedBin := program{pkg: ".", dir: guarded, flags: []string{"-tags", "cgoguard_nosymbolizer"}, env: modMod}.mustBuild(t, filepath.Join(root, "guarded.bin"))

	names := testprogNames(t, plain)
	if len(names) < 40 {
		t.Fatalf("found only %d programs in %s: %v", len(names), src, names)
	}
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			a := runTestprog(t, plainBin, name)
			b := runTestprog(t, guardedBin, name)
			if msg := compareTestprog(a, b); msg != "" {
				t.Errorf("%s: %s\n--- plain (exit %d):\n%s\n--- with cgoguard (exit %d):\n%s", name, msg, a.code, a.out, b.code, b.out)
			}
		}()
	}
	testwait.AwaitGroup(t, &wg, 5*time.Minute, "the test's goroutines")
	t.Logf("%d programs ended the same way with and without cgoguard", len(names))
}

// copyTestprog copies the program's Go and C sources for this platform,
// leaving out the files that import the standard library's internal
// packages (allowed only inside the Go tree).
func copyTestprog(t *testing.T, src, dst string) string {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		n := e.Name()
		ext := filepath.Ext(n)
		if e.IsDir() || (ext != ".go" && ext != ".c" && ext != ".h") || strings.Contains(n, "windows") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			t.Fatal(err)
		}
		if ext == ".go" && bytes.Contains(data, []byte(`"internal/`)) {
			continue
		}
		writeFile(t, filepath.Join(dst, n), string(data))
	}
	return dst
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

var registerRE = regexp.MustCompile(`register\("([A-Za-z0-9]+)"`)

func testprogNames(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range registerRE.FindAllSubmatch(data, -1) {
			seen[string(m[1])] = true
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// testprogEnv is what the Go runtime's own tests set for some programs
// (runtime/crash_cgo_test.go); without it they do not exercise their case.
var testprogEnv = map[string][]string{
	"CgoExternalThreadSIGPROF": {"GO_START_SIGPROF_THREAD=1"},
	"CgoExecSignalMask":        {"GOTRACEBACK=system"},
	"CgoSigfwd":                {"GO_TEST_CGOSIGFWD=1"},
	"CgoCatchPanic":            {"GOTRACEBACK=crash"},
	"LockOSThreadMain":         {"GOMAXPROCS=1"},
}

// anyThreadCrash lists the programs whose signal lands on whichever thread
// the kernel picks (kill to the process): their traceback differs from run
// to run with or without cgoguard.
var anyThreadCrash = map[string]bool{"SegvInCgo": true}

type testprogResult struct {
	name string
	code int
	out  string
}

func runTestprog(t *testing.T, bin, name string) testprogResult {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, name)
	cmd.Env = append(os.Environ(), testprogEnv[name]...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok || ctx.Err() != nil {
			t.Errorf("%s %s: %v (timed out: %v)\n%s", bin, name, err, ctx.Err() != nil, out)
			return testprogResult{name, -1, string(out)}
		}
		code = ee.ExitCode()
	}
	return testprogResult{name, code, string(out)}
}

var (
	foldHex   = regexp.MustCompile(`0x[0-9a-f]+`)
	foldCgo   = regexp.MustCompile(`_cgoexp_[0-9a-f]+_`)
	foldTemp  = regexp.MustCompile(`/tmp/[^ \n:]*`)
	foldNum   = regexp.MustCompile(`[0-9]+`)
	frameLine = regexp.MustCompile(`^[A-Za-z_][^\t ]*\(`)
)

func fold(s string) string {
	s = foldTemp.ReplaceAllString(s, "TMP")
	s = foldCgo.ReplaceAllString(s, "_cgoexp_H_")
	s = foldHex.ReplaceAllString(s, "X")
	return foldNum.ReplaceAllString(s, "N")
}

// compareTestprog says how b differs from a, or "".
func compareTestprog(a, b testprogResult) string {
	if a.code != b.code {
		return "exit status differs"
	}
	first := func(s string) string { l, _, _ := strings.Cut(s, "\n"); return fold(l) }
	if first(a.out) != first(b.out) {
		return "first line differs"
	}
	if a.code != 0 && !anyThreadCrash[a.name] && strings.Join(firstTraceFuncs(a.out), " ") != strings.Join(firstTraceFuncs(b.out), " ") {
		return fmt.Sprintf("first goroutine's traceback differs: %v vs %v", firstTraceFuncs(a.out), firstTraceFuncs(b.out))
	}
	return ""
}

// firstTraceFuncs lists the functions of the first goroutine traceback in
// out, without their arguments and with cgo's per-build hashes folded.
func firstTraceFuncs(out string) []string {
	var funcs []string
	in := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "goroutine "):
			if in {
				return funcs
			}
			in = true
		case in && l == "":
			return funcs
		case in && frameLine.MatchString(l):
			f, _, _ := strings.Cut(l, "(")
			funcs = append(funcs, fold(f))
		}
	}
	return funcs
}
