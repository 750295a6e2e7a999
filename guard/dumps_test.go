package guard

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// withLimits runs f with the dump limits set to l and restores them after.
func withLimits(t *testing.T, l DumpLimits, f func()) {
	t.Helper()
	dumps.mu.Lock()
	old, oldLast := dumps.limits, dumps.last
	dumps.limits, dumps.last = l, time.Time{}
	dumps.mu.Unlock()
	defer func() {
		dumps.mu.Lock()
		dumps.limits, dumps.last = old, oldLast
		dumps.mu.Unlock()
	}()
	f()
}

func writeN(n int) func(*os.File) error {
	return func(f *os.File) error {
		_, err := f.Write(make([]byte, n))
		return err
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func TestDumpFileLimit(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, []byte("not a dump"), 0o600)
	var paths []string
	withLimits(t, DumpLimits{MaxFiles: 3, MaxBytes: 1 << 20}, func() {
		for i := 0; i < 5; i++ {
			p, err := saveDump(dir, 42, writeN(100))
			if err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
	})
	names := listDir(t, dir)
	if len(names) != 4 { // 3 dumps + notes.txt
		t.Fatalf("left %v, want the 3 newest dumps and notes.txt", names)
	}
	for _, p := range paths[2:] {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("newest dump %s removed: %v", p, err)
		}
	}
	for _, p := range paths[:2] {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("oldest dump %s kept", p)
		}
	}
	for _, n := range names {
		if strings.HasPrefix(n, ".cgoguard-dump-") {
			t.Errorf("temporary file left: %s", n)
		}
		if n != "notes.txt" && (!strings.HasPrefix(n, "cgoguard-") || !strings.HasSuffix(n, ".dmp") || !strings.Contains(n, "-42-")) {
			t.Errorf("unexpected name %s", n)
		}
	}
}

func TestDumpOversized(t *testing.T) {
	dir := t.TempDir()
	withLimits(t, DumpLimits{MaxFiles: 100, MaxBytes: 2500}, func() {
		for i := 0; i < 2; i++ {
			if _, err := saveDump(dir, 1, writeN(1000)); err != nil {
				t.Fatal(err)
			}
		}
		// A dump larger than the whole budget is kept, alone.
		p, err := saveDump(dir, 1, writeN(4000))
		if err != nil {
			t.Fatal(err)
		}
		if names := listDir(t, dir); len(names) != 1 || filepath.Join(dir, names[0]) != p {
			t.Errorf("after an oversized dump: %v", names)
		}
	})
}

func TestDumpByteLimitKeepsNewest(t *testing.T) {
	dir := t.TempDir()
	withLimits(t, DumpLimits{MaxFiles: 100, MaxBytes: 2500}, func() {
		for i := 0; i < 6; i++ {
			if _, err := saveDump(dir, 1, writeN(1000)); err != nil {
				t.Fatal(err)
			}
		}
	})
	var total int64
	for _, n := range listDir(t, dir) {
		fi, _ := os.Stat(filepath.Join(dir, n))
		total += fi.Size()
	}
	if n := len(listDir(t, dir)); n != 2 || total != 2000 {
		t.Errorf("%d files, %d bytes kept; want 2 files, 2000 bytes", n, total)
	}
}

func TestDumpRateLimit(t *testing.T) {
	dir := t.TempDir()
	skipped := stats.dumpsSkipped.Load()
	withLimits(t, DumpLimits{MaxFiles: 10, MaxBytes: 1 << 20, MinInterval: time.Hour}, func() {
		if _, err := saveDump(dir, 1, writeN(10)); err != nil {
			t.Fatal(err)
		}
		_, err := saveDump(dir, 1, writeN(10))
		if !errors.Is(err, ErrDumpSkipped) || !strings.Contains(err.Error(), "MinInterval") {
			t.Errorf("second dump within MinInterval: %v, want ErrDumpSkipped", err)
		}
	})
	if n := len(listDir(t, dir)); n != 1 {
		t.Errorf("%d files, want 1", n)
	}
	if stats.dumpsSkipped.Load() != skipped+1 {
		t.Error("skipped dump not counted")
	}
}

func TestDumpWriteError(t *testing.T) {
	dir := t.TempDir()
	withLimits(t, DefaultDumpLimits(), func() {
		_, err := saveDump(dir, 1, func(*os.File) error { return errors.New("disk on fire") })
		if err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Errorf("err = %v", err)
		}
	})
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("failed dump left %v", names)
	}
}

func TestSetDumpLimitsRejects(t *testing.T) {
	for _, l := range []DumpLimits{{MaxFiles: 0, MaxBytes: 1}, {MaxFiles: 1, MaxBytes: 0}, {MaxFiles: 1, MaxBytes: 1, MinInterval: -1}} {
		if err := SetDumpLimits(l); err == nil {
			t.Errorf("SetDumpLimits(%+v) accepted", l)
		}
	}
}

// DefaultDumpLimits is what is in force before SetDumpLimits, a fresh
// value each time; SetDumpLimits changes the limits the next dump obeys,
// and SetDumpLimits(DefaultDumpLimits()) puts the defaults back.
func TestDefaultDumpLimitsAndSet(t *testing.T) {
	want := DumpLimits{MaxFiles: 16, MaxBytes: 64 << 20, MinInterval: time.Second}
	dumps.mu.Lock()
	inForce, oldLast := dumps.limits, dumps.last
	dumps.mu.Unlock()
	if d := DefaultDumpLimits(); d != want || inForce != want {
		t.Fatalf("DefaultDumpLimits() = %+v, in force %+v; want %+v", d, inForce, want)
	}
	d := DefaultDumpLimits()
	d.MaxFiles = 1
	if DefaultDumpLimits() != want {
		t.Fatal("changing the value DefaultDumpLimits returned changed the defaults")
	}
	defer func() {
		if err := SetDumpLimits(DefaultDumpLimits()); err != nil {
			t.Error(err)
		}
		dumps.mu.Lock()
		if dumps.limits != want {
			t.Errorf("after SetDumpLimits(DefaultDumpLimits()): %+v", dumps.limits)
		}
		dumps.last = oldLast
		dumps.mu.Unlock()
	}()
	if err := SetDumpLimits(DumpLimits{MaxFiles: 1, MaxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		if _, err := saveDump(dir, 1, writeN(10)); err != nil {
			t.Fatal(err) // MinInterval 0: none skipped
		}
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("MaxFiles 1: %d files kept (%v)", len(names), names)
	}
}
