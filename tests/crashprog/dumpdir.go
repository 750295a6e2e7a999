package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

func init() { modes["dump-dir"] = dumpDirMode }

// dumpDirMode: crashprog dump-dir CASE DIR. DIR was prepared by the test
// (CASE: world, other, link-world, link-other: a directory, or a symlink
// to one, that is world-writable or owned by another user; link-private: a
// symlink to a private directory). It sets DIR as the dump directory and
// faults inside Do, printing what SetDumpDir said and where the dump went.
// When SetDumpDir refused DIR, it checks the refusal at dump time too: it
// sets a private directory of its own, makes it unsafe the same way (or
// retargets a symlink to DIR), and faults again.
func dumpDirMode() {
	if flag.NArg() != 3 {
		fail("usage: dump-dir CASE DIR")
	}
	kase, dir := flag.Arg(1), flag.Arg(2)
	if err := guard.SetDumpLimits(guard.DumpLimits{MaxFiles: 16, MaxBytes: 64 << 20}); err != nil {
		fail(err.Error())
	}
	err := guard.SetDumpDir(dir)
	fmt.Printf("set: %v\n", err)
	if err == nil {
		fmt.Println("dump:", faultDump())
		os.Exit(0)
	}
	if !errors.Is(err, guard.ErrDumpDirUnsafe) {
		fail("SetDumpDir: not ErrDumpDirUnsafe")
	}
	// The directory turns unsafe after it was set.
	priv, err := os.MkdirTemp("", "crashprog-dumps-")
	if err != nil {
		fail(err.Error())
	}
	defer os.RemoveAll(priv)
	target := priv
	if len(kase) > 5 && kase[:5] == "link-" {
		link := priv + "-link"
		defer os.Remove(link)
		if err := os.Symlink(priv, link); err != nil {
			fail(err.Error())
		}
		target = link
	}
	if err := guard.SetDumpDir(target); err != nil {
		fail("SetDumpDir of a private directory: " + err.Error())
	}
	switch kase {
	case "world":
		err = os.Chmod(priv, 0o777)
	case "other":
		err = os.Chown(priv, 65534, 65534)
	default: // retarget the symlink, as an attacker swapping it would
		tmp := target + ".new"
		if err = os.Symlink(dir, tmp); err == nil {
			err = os.Rename(tmp, target)
		}
	}
	if err != nil {
		fail(err.Error())
	}
	fmt.Println("dump after change:", faultDump())
	entries, _ := os.ReadDir(priv)
	fmt.Printf("files in the private directory: %d\n", len(entries))
	os.Exit(0)
}

// faultDump faults inside Do and reports the dump's path and error.
func faultDump() string {
	err := guard.Do(func() { payload.RawCall(payload.NullWrite, nil) })
	var ce *guard.CrashError
	if !errors.As(err, &ce) {
		fail(fmt.Sprintf("Do: %v, want a CrashError", err))
	}
	if ce.DumpPath != "" {
		if fi, err := os.Lstat(ce.DumpPath); err != nil || !fi.Mode().IsRegular() {
			fail(fmt.Sprintf("dump %s: %v", ce.DumpPath, err))
		}
		real, _ := filepath.EvalSymlinks(ce.DumpPath)
		return fmt.Sprintf("path=%s real=%s err=%v", ce.DumpPath, real, ce.DumpErr)
	}
	return fmt.Sprintf("path= err=%v", ce.DumpErr)
}
