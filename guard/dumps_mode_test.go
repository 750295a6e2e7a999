//go:build unix

package guard

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Dumps hold raw stack memory: a dump file is 0600 and a directory
// cgoguard creates is 0700, whatever the umask would allow.
func TestDumpModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	dir := filepath.Join(t.TempDir(), "crash", "dumps")
	if err := prepareDumpDir(dir); err != nil && !(errors.Is(err, ErrUnsupported) && !Supported()) {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(dir), dir} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o700 {
			t.Errorf("directory %s: mode %#o, want 0700", d, m)
		}
	}

	var p string
	withLimits(t, DefaultDumpLimits(), func() {
		var err error
		if p, err = saveDump(dir, 1, writeN(100)); err != nil {
			t.Fatal(err)
		}
	})
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("dump %s: mode %#o, want 0600", p, m)
	}

}
