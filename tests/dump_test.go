package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/internal/testwait"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// noDumpRate lifts the dump rate limit for a test.
func noDumpRate(t *testing.T, maxFiles int) {
	t.Helper()
	if err := guard.SetDumpLimits(guard.DumpLimits{MaxFiles: maxFiles, MaxBytes: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { guard.SetDumpLimits(guard.DefaultDumpLimits()) })
}

func checkDumpFile(t *testing.T, path, dir string) {
	t.Helper()
	if filepath.Dir(path) != dir {
		t.Errorf("dump %s not in %s", path, dir)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Header, the stack copy (from just below SP to the top of the stack's
	// mapping, at most 64 KiB), /proc/self/maps and status: more than 8 KiB.
	if len(b) < 8<<10 || string(b[:4]) != "MDMP" {
		t.Errorf("dump %s: %d bytes, starts %q; want a minidump", path, len(b), b[:min(4, len(b))])
	}
}

// Faults and forced interrupts write a dump; interrupts in a system call,
// and calls without a dump directory, do not.
func TestCrashDumps(t *testing.T) {
	dir := t.TempDir()
	noDumpRate(t, 100)
	r := payload.NewResult(1)
	defer payload.Free(r)
	before := guard.ReadStats()

	for _, name := range []string{"null_write", "abort", "stack_overflow", "jump_nx"} {
		f := faultNamed(t, name)
		err := guard.Call(f.Fn, unsafe.Pointer(r), guard.WithDumpDir(dir))
		var ce *guard.CrashError
		if !errors.As(err, &ce) || ce.DumpPath == "" || ce.DumpErr != nil {
			t.Fatalf("%s: %v; dump %q, %v", name, err, ce.DumpPath, ce.DumpErr)
		}
		checkDumpFile(t, ce.DumpPath, dir)
	}

	if err := payload.BlockingSetup(); err != nil {
		t.Fatal(err)
	}
	err := guard.Call(payload.ReadPipe, unsafe.Pointer(r), guard.WithTimeout(2*time.Millisecond), guard.WithDumpDir(dir))
	var ie *guard.InterruptError
	if !errors.As(err, &ie) || !ie.InSyscall || ie.DumpPath != "" || ie.DumpErr != nil {
		t.Fatalf("interrupt in a system call: %v, dump %q %v; want no dump", err, ie.DumpPath, ie.DumpErr)
	}
	err = guard.Call(payload.Spin, unsafe.Pointer(r), guard.WithTimeout(2*time.Millisecond), guard.WithGrace(0), guard.WithDumpDir(dir))
	if !errors.As(err, &ie) || !ie.Forced || ie.DumpPath == "" {
		t.Fatalf("forced interrupt: %v, dump %q %v; want a dump", err, ie.DumpPath, ie.DumpErr)
	}
	checkDumpFile(t, ie.DumpPath, dir)

	// No directory: no dump, and the capture is given back.
	f := faultNamed(t, "null_write")
	for i := 0; i < 20; i++ {
		var ce *guard.CrashError
		if err := guard.Call(f.Fn, nil); !errors.As(err, &ce) || ce.DumpPath != "" || ce.DumpErr != nil {
			t.Fatalf("no dump directory: %v %q %v", err, ce.DumpPath, ce.DumpErr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 5 {
		t.Errorf("%d files in the dump directory, want 5", len(entries))
	}
	if s := guard.ReadStats(); s.DumpsWritten-before.DumpsWritten != 5 {
		t.Errorf("DumpsWritten went %d -> %d, want +5", before.DumpsWritten, s.DumpsWritten)
	}
	// Every slot is free again: 8 faults in a row each get a dump.
	for i := 0; i < 8; i++ {
		var ce *guard.CrashError
		if err := guard.Call(f.Fn, nil, guard.WithDumpDir(dir)); !errors.As(err, &ce) || ce.DumpPath == "" {
			t.Fatalf("fault %d: %v %v", i, err, ce.DumpErr)
		}
	}
}

// The process-wide directory, and the default rate limit.
func TestSetDumpDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dumps")
	if err := guard.SetDumpDir(dir); err != nil {
		t.Fatal(err)
	}
	defer guard.SetDumpDir("")
	if guard.DumpDir() != dir {
		t.Errorf("DumpDir() = %q", guard.DumpDir())
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory not created 0700: %v %v", fi, err)
	}
	if err := guard.SetDumpLimits(guard.DumpLimits{MaxFiles: 10, MaxBytes: 1 << 30, MinInterval: time.Hour}); err != nil {
		t.Fatal(err)
	}
	defer guard.SetDumpLimits(guard.DefaultDumpLimits())
	f := faultNamed(t, "null_write")
	var ce *guard.CrashError
	// The first may be skipped if another test wrote a dump within the hour.
	guard.Call(f.Fn, nil)
	err := guard.Call(f.Fn, nil)
	if !errors.As(err, &ce) || ce.DumpPath != "" || !errors.Is(ce.DumpErr, guard.ErrDumpSkipped) {
		t.Fatalf("second dump within MinInterval: %q %v", ce.DumpPath, ce.DumpErr)
	}
	// WithDumpDir("") turns dumps off for one call, with no error.
	if err := guard.Call(f.Fn, nil, guard.WithDumpDir("")); !errors.As(err, &ce) || ce.DumpPath != "" || ce.DumpErr != nil {
		t.Fatalf("WithDumpDir(\"\"): %q %v", ce.DumpPath, ce.DumpErr)
	}
	// A directory that cannot be made.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if err := guard.SetDumpDir(filepath.Join(file, "sub")); err == nil {
		t.Error("SetDumpDir under a file: no error")
	}
	if err := guard.Call(f.Fn, nil, guard.WithDumpDir(filepath.Join(file, "sub"))); err == nil || errors.Is(err, guard.ErrCrash) {
		t.Errorf("WithDumpDir under a file: %v, want the directory error before the call", err)
	}
}

// Many goroutines faulting at once with dumps on: every fault is recovered
// and either has its dump or says why not; the directory stays within its
// file limit.
func TestCrashDumpsConcurrent(t *testing.T) {
	dir := t.TempDir()
	noDumpRate(t, 12)
	f := faultNamed(t, "null_write")
	var wg sync.WaitGroup
	var mu sync.Mutex
	written, skipped := 0, 0
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				var ce *guard.CrashError
				err := guard.Call(f.Fn, nil, guard.WithDumpDir(dir))
				if !errors.As(err, &ce) {
					t.Errorf("not a crash: %v", err)
					return
				}
				mu.Lock()
				switch {
				case ce.DumpPath != "" && ce.DumpErr == nil:
					written++
				case ce.DumpPath == "" && errors.Is(ce.DumpErr, guard.ErrDumpSkipped):
					skipped++
				default:
					t.Errorf("dump %q, error %v", ce.DumpPath, ce.DumpErr)
				}
				mu.Unlock()
			}
		}()
	}
	testwait.AwaitGroup(t, &wg, 2*time.Minute, "the test's goroutines")
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".dmp") {
			n++
		} else {
			t.Errorf("stray file %s", e.Name())
		}
	}
	if n != 12 || written < 12 {
		t.Errorf("%d dumps kept (want 12), %d written, %d skipped", n, written, skipped)
	}
	t.Logf("%d dumps written, %d skipped for want of a capture slot", written, skipped)
}

// LLDB, an independent reader, opens the dumps of real recovered faults and
// of a forced interrupt: the thread stopped by the signal, in the C function
// that faulted, with the callers above it.
func TestCrashDumpLLDB(t *testing.T) {
	lldb, err := exec.LookPath("lldb")
	if err != nil {
		t.Skip("lldb is not installed (make test installs it: .ci/deps.sh)")
	}
	if !haveSymbols(t) {
		t.Skip("test binary has no symbols: LLDB could not name the frames")
	}
	dir := t.TempDir()
	noDumpRate(t, 100)
	r := payload.NewResult(1)
	defer payload.Free(r)
	if err := payload.BlockingSetup(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		call   func() error
		signal string
		frames []string // innermost first, each after the one before ("`name": a function of the test binary)
	}{
		{"null_write", func() error { return guard.Call(payload.NullWrite, nil, guard.WithDumpDir(dir)) },
			"signal SIGSEGV", []string{"`pl_null_write", "`cg_guarded_call"}},
		{"abort", func() error { return guard.Call(payload.Abort, nil, guard.WithDumpDir(dir)) },
			"signal SIGABRT", []string{"abort ", "`pl_abort", "`cg_guarded_call"}}, // libc's abort or __GI_abort
		{"deep", func() error { return guard.Call(payload.DeepNullWrite, nil, guard.WithDumpDir(dir)) },
			"signal SIGSEGV", []string{"`pl_null_write", "`pl_deep_middle", "`pl_deep_outer", "`cg_guarded_call"}},
		{"forced", func() error {
			return guard.Call(payload.Spin, unsafe.Pointer(r), guard.WithTimeout(time.Millisecond), guard.WithGrace(0), guard.WithDumpDir(dir))
		}, "", []string{"`pl_spin", "`cg_guarded_call"}}, // "dump requested": no stop reason
	} {
		err := c.call()
		var ce *guard.CrashError
		var ie *guard.InterruptError
		var path string
		var tid int
		switch {
		case errors.As(err, &ce):
			path, tid = ce.DumpPath, ce.ThreadID
		case errors.As(err, &ie):
			path, tid = ie.DumpPath, ie.ThreadID
		}
		if path == "" {
			t.Fatalf("%s: no dump: %+v", c.name, err)
		}
		out := runLLDB(t, lldb, path, "thread list", "bt")
		stop := "stop reason = " + c.signal
		if c.signal == "" {
			stop = fmt.Sprintf("tid = %d, ", tid)
		}
		if !strings.Contains(out, fmt.Sprintf("tid = %d,", tid)) || !strings.Contains(out, stop) {
			t.Errorf("%s: thread %d stopped by %s not in LLDB's output:\n%s", c.name, tid, c.signal, out)
		}
		bt := out[strings.Index(out, "(lldb) bt"):]
		at := 0
		for _, fn := range c.frames {
			i := strings.Index(bt[at:], fn)
			if i < 0 {
				t.Errorf("%s: frame %s not in LLDB's backtrace (after the ones before it):\n%s", c.name, fn, bt)
				break
			}
			at += i + 1
		}
		if !strings.Contains(bt, "frame #0:") || !strings.Contains(bt, "frame #1:") {
			t.Errorf("%s: backtrace:\n%s", c.name, bt)
		}
		t.Logf("%s:\n%s", c.name, bt)
	}
}

func runLLDB(t *testing.T, lldb, path string, cmds ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	args := []string{"--batch", "--no-lldbinit", "-c", path}
	for _, c := range cmds {
		args = append(args, "-o", c)
	}
	cmd := exec.CommandContext(ctx, lldb, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr // not a pipe a reader might close: LLDB then hangs
	if err := cmd.Run(); err != nil {
		t.Fatalf("lldb: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	return stdout.String()
}
