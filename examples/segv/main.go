//go:build cgo

// Command segv calls a buggy C "library" under cgoguard: each crash comes
// back as an error and the program carries on.
//
//	go run ./examples/segv        (or: make demo)
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
)

func main() {
	if !guard.Supported() {
		fmt.Println("cgoguard:", guard.ErrUnsupported)
		os.Exit(1)
	}
	// Every recovered crash writes a minidump here (open one with
	// lldb -c FILE); at most one a second, 16 files, 64 MiB.
	dumpDir := filepath.Join(os.TempDir(), "cgoguard-demo-dumps")
	if err := guard.SetDumpDir(dumpDir); err != nil {
		fmt.Println("no crash dumps:", err)
	}
	rec := newRecord("a-rather-long-name")
	defer freeRecord(rec)
	ints := newInts(10, 0)

	calls := []struct {
		what string
		fn   unsafe.Pointer
		arg  unsafe.Pointer
	}{
		{"bump_counter (NULL pointer)", bumpCounter, unsafe.Pointer(rec)},
		{"average (divide by zero)", average, ints},
		{"checked_copy (failed assert)", checkedCopy, unsafe.Pointer(rec)},
		{"fill (healthy)", fill, unsafe.Pointer(rec)},
		{"bump_counter again", bumpCounter, unsafe.Pointer(rec)},
	}
	for i, c := range calls {
		err := guard.Call(c.fn, c.arg)
		fmt.Printf("%d. %s\n   -> ", i+1, c.what)
		var ce *guard.CrashError
		switch {
		case errors.As(err, &ce):
			fmt.Println(ce)
			fmt.Printf("      taint: %s (%s)\n", ce.Taint.Level, ce.Taint.Reason)
		case err != nil:
			fmt.Println("error:", err)
		default:
			fmt.Println("ok")
		}
	}

	// The full report of one crash: taint, dump, registers, every C frame
	// and the Go stack that made the call. Rate limit off for the demo, so
	// this crash gets its dump too.
	guard.SetDumpLimits(guard.DumpLimits{MaxFiles: 16, MaxBytes: 64 << 20})
	err := guard.Call(bumpCounter, unsafe.Pointer(rec))
	fmt.Printf("\nfull report (%%+v):\n%+v\n", err)

	s := guard.ReadStats()
	fmt.Printf("\nstill running: %d crashes recovered, %d dumps written to %s, pid %d\n",
		s.Crashes, s.DumpsWritten, dumpDir, os.Getpid())
}
