package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// Every reference the library makes to a runtime symbol, and why the
// linker of each supported Go release allows it. Go 1.23's linker refuses
// a //go:linkname pull of a runtime symbol that the runtime does not push,
// and Go 1.27's an assembly reference too (docs/how-it-works.md, Linking).
var runtimeSymbolsAllowed = map[string]string{
	"runtime.cgocall":         "push",
	"runtime.cgoCheckPointer": "push",
	"runtime.cgoNoCallback":   "push",
	"runtime.nanotime":        "push",
	"runtime.lastmoduledatap": "push",
	"runtime.text":            "linker-defined",
	"runtime.etext":           "linker-defined",
}

var (
	reLinknamePull = regexp.MustCompile(`(?m)^//go:linkname \S+ (runtime\.\w+)$`)
	reAsmRef       = regexp.MustCompile(`\bruntime·(\w+)\(SB\)`)
)

// TestRuntimeSymbolsAllowed: the library's Go and assembly files refer to
// no runtime symbol outside the list above, and every "push" symbol in it
// is pushed by this toolchain's runtime (a //go:linkname of it in
// $GOROOT/src/runtime), so that the default linker checks accept it. Run
// on every release of the matrix (make test-go-versions).
func TestRuntimeSymbolsAllowed(t *testing.T) {
	seen := map[string][]string{}
	err := filepath.WalkDir("../guard", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") {
			return err
		}
		if ext := filepath.Ext(path); ext != ".go" && ext != ".s" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range reLinknamePull.FindAllSubmatch(src, -1) {
			seen[string(m[1])] = append(seen[string(m[1])], path)
		}
		if filepath.Ext(path) == ".s" {
			for _, line := range strings.Split(string(src), "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "//") {
					continue
				}
				for _, m := range reAsmRef.FindAllStringSubmatch(line, -1) {
					seen["runtime."+m[1]] = append(seen["runtime."+m[1]], path)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 {
		t.Fatal("no runtime symbol found at all: the scan is broken")
	}
	var names []string
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	rt := filepath.Join(strings.TrimSpace(string(out)), "src", "runtime")
	var runtimeSrc [][]byte
	files, _ := filepath.Glob(filepath.Join(rt, "*.go"))
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			runtimeSrc = append(runtimeSrc, b)
		}
	}
	if len(runtimeSrc) == 0 {
		t.Fatalf("no runtime sources under %s", rt)
	}
	for _, name := range names {
		why, ok := runtimeSymbolsAllowed[name]
		if !ok {
			t.Errorf("%s (in %s) is not in the allowed list: a Go release's linker may refuse it", name, strings.Join(seen[name], ", "))
			continue
		}
		if why != "push" {
			continue
		}
		push := regexp.MustCompile(`(?m)^//go:linkname ` + regexp.QuoteMeta(strings.TrimPrefix(name, "runtime.")) + `\s*$`)
		found := false
		for _, b := range runtimeSrc {
			if push.Match(b) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s (in %s): this runtime (%s) does not push it", name, strings.Join(seen[name], ", "), rt)
		}
	}
	t.Logf("runtime symbols referred to: %s", strings.Join(names, ", "))
}
