//go:build linux

package guard

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Dump files are created with O_EXCL|O_NOFOLLOW: a name that exists, or is
// a symlink (even a dangling one), is refused; and a final name that exists
// is never replaced.
func TestDumpDirCreateExclusive(t *testing.T) {
	dir := t.TempDir()
	d, err := openDumpDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.Symlink(victim, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if f, err := d.create("link"); err == nil {
		f.Close()
		t.Fatal("created a file through a symlink")
	}
	if _, err := os.Lstat(victim); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the symlink's target exists: %v", err)
	}
	f, err := d.create("a")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := d.create("a"); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second create of a: %v, want ErrExist", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b"), []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.publish("a", "b"); err == nil {
		t.Fatal("publish replaced an existing file")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "b")); string(b) != "keep" {
		t.Fatalf("b changed: %q", b)
	}
}

// saveDump refuses a directory that turned unsafe after it was set, and
// says why.
func TestSaveDumpRefusesUnsafeDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	withLimits(t, DumpLimits{MaxFiles: 4, MaxBytes: 1 << 20}, func() {
		_, err := saveDump(dir, 1, writeN(10))
		if !errors.Is(err, ErrDumpDirUnsafe) {
			t.Fatalf("saveDump into a group-writable directory: %v, want ErrDumpDirUnsafe", err)
		}
	})
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("%d files written", len(entries))
	}
}
