package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
)

// csrcDigest hashes csrc/ and include/ the way `make digest` does: the
// sorted file names and their contents.
func csrcDigest(t *testing.T) string {
	t.Helper()
	var files []string
	for _, dir := range []string{"../csrc", "../include"} {
		m, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(filepath.ToSlash(f[len("../"):]) + "\n"))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestCsrcDigestCurrent fails when the C core changed without `make digest`:
// the go command would otherwise keep using a cached build of the old code.
func TestCsrcDigestCurrent(t *testing.T) {
	b, err := os.ReadFile("../guard/csrc_linux_amd64.c")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`csrc digest: (\w+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no digest line in guard/csrc_linux_amd64.c")
	}
	if want := csrcDigest(t); string(m[1]) != want {
		t.Fatalf("guard/csrc_linux_amd64.c digest %s, csrc/ and include/ hash to %s: run make digest", m[1], want)
	}
}
