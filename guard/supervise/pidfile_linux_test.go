package supervise

import (
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestPIDFile: the pid file holds the pid and a newline, mode 0644, and no
// temporary file is left; a second write replaces the file (a new inode,
// renamed into place) rather than rewriting it; a directory that does not
// exist is an error.
func TestPIDFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "service.pid")
	if err := writePIDFile(path, 1234); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "1234\n" {
		t.Fatalf("pid file: %q %v", b, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if err := writePIDFile(path, 56); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "56\n" {
		t.Errorf("rewritten pid file: %q", b)
	}
	fi2, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Sys().(*syscall.Stat_t).Ino == fi2.Sys().(*syscall.Stat_t).Ino {
		t.Error("the pid file was rewritten in place, not renamed over")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files in the directory, want the pid file alone: %v", len(ents), ents)
	}

	if err := writePIDFile(filepath.Join(dir, "none", "service.pid"), 1); err == nil {
		t.Error("no error for a directory that does not exist")
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if os.Geteuid() != 0 { // root writes anyway
		if err := writePIDFile(path, 7); err == nil {
			t.Error("no error for a directory that is not writable")
		}
		if b, _ := os.ReadFile(path); string(b) != "56\n" {
			t.Errorf("a failed write left %q", b)
		}
	}
}

// TestPIDFileAtomic: a reader that reads the pid file while it is rewritten
// over and over sees a whole pid every time, never an empty or partial
// file (which truncating and writing in place shows within a few hundred
// rewrites).
func TestPIDFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "service.pid")
	pids := []int{1, 4194304}
	if err := writePIDFile(path, pids[0]); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var reads atomic.Int64
	bad := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			b, err := os.ReadFile(path)
			reads.Add(1)
			if s := string(b); err != nil || (s != strconv.Itoa(pids[0])+"\n" && s != strconv.Itoa(pids[1])+"\n") {
				select {
				case bad <- s + " " + errString(err):
				default:
				}
				return
			}
		}
	}()
	deadline := time.Now().Add(2 * time.Second)
	n := 0
	for ; n < 2000 && time.Now().Before(deadline) && len(bad) == 0; n++ {
		if err := writePIDFile(path, pids[n%2]); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	await(t, done, waitTimeout, "the pid file's reader")
	t.Logf("%d rewrites, %d reads", n, reads.Load())
	select {
	case s := <-bad:
		t.Errorf("a reader saw %q", s)
	default:
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
