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
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
)

func main() {
	if !guard.Supported() {
		fmt.Println("cgoguard:", guard.ErrUnsupported)
		os.Exit(1)
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
		case err != nil:
			fmt.Println("error:", err)
		default:
			fmt.Println("ok")
		}
	}

	// The full report of one crash: registers and every C frame.
	err := guard.Call(bumpCounter, unsafe.Pointer(rec))
	fmt.Printf("\nfull report (%%+v):\n%+v\n", err)

	s := guard.ReadStats()
	fmt.Printf("\nstill running: %d crashes recovered, pid %d\n", s.Recovered, os.Getpid())
}
