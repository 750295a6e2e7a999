//go:build linux && amd64

package minidump

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard/internal/ctxsnap"
)

// Dumps opened by standard tools: LLVM's own minidump reader (obj2yaml), and
// LLDB, which must name the frames of a real thread state and report the
// signal as the stop reason.

// lookTool finds the first of names on PATH.
func lookTool(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// snapshotDump writes a dump of a real thread state, taken inside
// ctxsnap's C functions, as if it had faulted with SIGSEGV there.
func snapshotDump(t *testing.T) (path string, in *Input) {
	t.Helper()
	if !ctxsnap.Available {
		t.Skip("needs cgo (the snapshot is taken in C)")
	}
	s, err := ctxsnap.Take(64 << 10)
	if err != nil {
		t.Fatal(err)
	}
	in = &Input{
		Signal: 11, Code: 1, Addr: 0x10, // SIGSEGV, SEGV_MAPERR
		ThreadID: s.ThreadID, Time: time.Now(),
		Regs: s.Regs, FPRegs: s.FPRegs, StackStart: s.StackStart, Stack: s.Stack,
	}
	path = filepath.Join(t.TempDir(), "snapshot.dmp")
	writeFile(t, path, in)
	return path, in
}

// writeFile writes the dump of in to a new file at path.
func writeFile(t *testing.T, path string, in *Input) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	err = Write(f, in)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestMinidumpObj2yaml(t *testing.T) {
	tool := lookTool("obj2yaml", "obj2yaml-14", "obj2yaml-15", "obj2yaml-16")
	if tool == "" {
		t.Skip("obj2yaml (llvm) not installed")
	}
	in := testInput()
	path := filepath.Join(t.TempDir(), "synthetic.dmp")
	writeFile(t, path, in)
	out, err := exec.Command(tool, path).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", tool, err, out)
	}
	for _, want := range []string{
		"--- !minidump", "Type:            ThreadList", "Type:            ModuleList",
		"Type:            MemoryList", "Type:            Exception", "Type:            SystemInfo",
		"Type:            MiscInfo", "Type:            LinuxMaps", "Type:            LinuxProcStatus",
		"Processor Arch:  AMD64", "Platform ID:     Linux",
		fmt.Sprintf("Thread Id:       0x%X", in.ThreadID),
		"Exception Code:  0xB", "Exception Flags: 0x2", "Exception Address: 0xDEAD0000",
		"Start of Memory Range: 0x7FFC00001000", "Start of Memory Range: 0x401000",
		"Module Name:     '" + testExecutable(t) + "'",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("obj2yaml output lacks %q", want)
		}
	}
}

// runLLDB opens the dump in LLDB and returns what it printed.
func runLLDB(t *testing.T, lldb, path string, cmds ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"--batch", "--no-lldbinit", "-c", path}
	for _, c := range cmds {
		args = append(args, "-o", c)
	}
	cmd := exec.CommandContext(ctx, lldb, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("lldb: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	return stdout.String()
}

// lldbUUID formats a build id as LLDB prints a UUID.
func lldbUUID(id []byte) string {
	var b strings.Builder
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 || i == 16 {
			b.WriteByte('-')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

func TestMinidumpLLDB(t *testing.T) {
	lldb := lookTool("lldb", "lldb-14", "lldb-15", "lldb-16")
	if lldb == "" {
		t.Skip("lldb not installed (apt-get install lldb; .ci/deps.sh installs it)")
	}
	exe := testExecutable(t)
	if !hasSymbol(t, exe, ctxsnap.InnerFunc) {
		t.Skipf("%s has no symbol table: go test strips it unless run with -ldflags='-s=false -w=false' (make test does)", exe)
	}
	path, in := snapshotDump(t)
	if rsp := in.Regs[gregRSP]; in.StackStart != rsp-128 {
		t.Fatalf("snapshot stack at %#x, RSP %#x", in.StackStart, rsp)
	}
	out := runLLDB(t, lldb, path, "thread list", "bt", "image list", "x/2gx $rsp")
	t.Logf("lldb output:\n%s", out)

	// LLDB reads the stack memory from the dump.
	want := fmt.Sprintf("0x%x: 0x%016x 0x%016x", in.Regs[gregRSP], le.Uint64(in.Stack[128:]), le.Uint64(in.Stack[136:]))
	if !strings.Contains(out, want) {
		t.Errorf("memory read at RSP lacks %q", want)
	}

	if want := fmt.Sprintf("tid = %d, 0x%016x %s`%s", in.ThreadID, in.Regs[gregRIP], filepath.Base(exe), ctxsnap.InnerFunc); !strings.Contains(out, want) {
		t.Errorf("thread list lacks %q", want)
	}
	if !strings.Contains(out, "* thread #1, stop reason = signal SIGSEGV") {
		t.Error("the stop reason is not signal SIGSEGV")
	}
	frames := regexp.MustCompile("(?m)^ +\\*? *frame #([0-9]+): 0x[0-9a-f]+ [^`]+`([A-Za-z0-9_.]+)").FindAllStringSubmatch(out, -1)
	if len(frames) < 2 || frames[0][2] != ctxsnap.InnerFunc || frames[1][2] != ctxsnap.OuterFunc {
		t.Errorf("backtrace does not start with %s called by %s: %q", ctxsnap.InnerFunc, ctxsnap.OuterFunc, frames)
	}
	for _, m := range dumpModules(readProcFile("/proc/self/maps")) {
		if m.Path != exe {
			continue
		}
		if m.BuildID == nil {
			t.Errorf("%s has no GNU build id", exe)
		} else if want := fmt.Sprintf("%s 0x%016x %s", lldbUUID(m.BuildID), m.Base, exe); !strings.Contains(out, want) {
			t.Errorf("image list lacks %q", want)
		}
	}

	// The names come from the test binary only because the dump's build id
	// matches the file's: with another one, LLDB names no frame in it.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cv []byte
	for _, m := range readDump(t, data).modules() {
		if m.name == exe {
			cv = m.cv
		}
	}
	if len(cv) < 8 {
		t.Fatalf("no build id for %s in the dump", exe)
	}
	cv[len(cv)-1] ^= 0xff // cv aliases data
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out = runLLDB(t, lldb, path, "bt")
	t.Logf("lldb output, build id changed:\n%s", out)
	if strings.Contains(out, ctxsnap.InnerFunc) {
		t.Error("LLDB named the frame although the build id does not match")
	}
}

func hasSymbol(t *testing.T, path, name string) bool {
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, _ := f.Symbols()
	for _, s := range syms {
		if s.Name == name {
			return true
		}
	}
	return false
}
