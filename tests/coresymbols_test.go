package tests

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// The C core's symbols: every global symbol an object of csrc/ defines is
// either an entry point include/cgoguard.h declares, a libc function
// csrc/interpose.c replaces (it must stay visible to be bound in its
// place), or hidden; and every hidden one is named cg_* (or is the
// --wrap=cgoTraceback target). The objects are compiled as make lib
// compiles them.
func TestCoreSymbolsHidden(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the C core is x86-64 Linux only")
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler: %v", err)
	}
	hdr, err := os.ReadFile("../include/cgoguard.h")
	if err != nil {
		t.Fatal(err)
	}
	public := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^[a-z][^;(]*\b(cgoguard_[a-z0-9_]+)\(`).FindAllSubmatch(hdr, -1) {
		public[string(m[1])] = true
	}
	if len(public) < 10 || !public["cgoguard_call"] || !public["cgoguard_install"] {
		t.Fatalf("include/cgoguard.h: found only %v", public)
	}
	interposed := map[string]bool{"sigaction": true, "signal": true, "bsd_signal": true, "ssignal": true,
		"sysv_signal": true, "__sysv_signal": true}

	srcs, _ := filepath.Glob("../csrc/*.c")
	asm, _ := filepath.Glob("../csrc/*.S")
	srcs = append(srcs, asm...)
	if len(srcs) < 10 {
		t.Fatalf("csrc: %d sources", len(srcs))
	}
	dir := t.TempDir()
	seen := map[string]string{}
	for _, src := range srcs {
		obj := filepath.Join(dir, filepath.Base(src)+".o")
		out, err := exec.Command(cc, "-O2", "-g", "-fPIC", "-I../include", "-c", src, "-o", obj).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", src, err, out)
		}
		f, err := elf.Open(obj)
		if err != nil {
			t.Fatal(err)
		}
		syms, err := f.Symbols()
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", obj, err)
		}
		for _, s := range syms {
			bind := elf.ST_BIND(s.Info)
			if (bind != elf.STB_GLOBAL && bind != elf.STB_WEAK) || s.Section == elf.SHN_UNDEF {
				continue
			}
			seen[s.Name] = filepath.Base(src)
			hidden := elf.ST_VISIBILITY(s.Other) == elf.STV_HIDDEN
			switch {
			case public[s.Name] || interposed[s.Name]:
				if hidden {
					t.Errorf("%s: %s is public (include/cgoguard.h or interposed) but hidden", src, s.Name)
				}
			case !hidden:
				t.Errorf("%s: %s is neither declared in include/cgoguard.h nor hidden", src, s.Name)
			case !strings.HasPrefix(s.Name, "cg_") && s.Name != "__wrap_cgoTraceback":
				t.Errorf("%s: hidden %s lacks the cg_ prefix", src, s.Name)
			}
		}
	}
	var missing []string
	for name := range public {
		if seen[name] == "" {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("declared in include/cgoguard.h, defined nowhere in csrc: %v", missing)
	}
}

// In a Go program the hidden symbols link across the package's objects
// (the cgo files call the core by name) and stay hidden (or local): none
// of the core's internal names is exported from the executable, and the
// guard works (importprog makes a guarded call).
func TestCoreSymbolsLocalInGoBinary(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the C core is x86-64 Linux only")
	}
	bin := buildProgram(t, "./importprog")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dyn, _ := f.DynamicSymbols()
	for _, s := range dyn {
		if strings.HasPrefix(s.Name, "cg_") && s.Section != elf.SHN_UNDEF {
			t.Errorf("the executable exports the core's internal %s", s.Name)
		}
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Skipf("no symbol table: %v", err)
	}
	found := 0
	for _, s := range syms {
		if s.Name == "cg_dispatch" || s.Name == "cg_thread" || s.Name == "cg_guarded_call" {
			found++
			if elf.ST_BIND(s.Info) != elf.STB_LOCAL && elf.ST_VISIBILITY(s.Other) != elf.STV_HIDDEN {
				t.Errorf("%s: %v %v, want local or hidden", s.Name, elf.ST_BIND(s.Info), elf.ST_VISIBILITY(s.Other))
			}
		}
	}
	if found != 3 {
		t.Errorf("found %d of cg_dispatch, cg_thread, cg_guarded_call in the symbol table", found)
	}
	if out, err := exec.Command(bin).CombinedOutput(); err != nil {
		t.Fatalf("importprog: %v\n%s", err, out)
	}
}
