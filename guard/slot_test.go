//go:build linux && amd64 && cgo

package guard

import (
	"runtime"
	"testing"
	"time"
)

// Go code reaches a thread's deadline slot through the thread pointer (no
// cgo call): on every thread it must be the slot C uses, before the thread
// has one (nil) and after.
func TestThreadSlotSeenFromGo(t *testing.T) {
	if err := initRegions(); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 8)
	for i := 0; i < 8; i++ {
		go func() {
			runtime.LockOSThread() // a thread of its own: the goroutine exits locked
			g0, c0 := threadSlots()
			err := Do(func() {}, WithTimeout(time.Second)) // gives the thread a slot
			g1, c1 := threadSlots()
			switch {
			case err != nil:
				done <- err.Error()
			case g0 != c0 || g1 != c1 || g1 == nil:
				done <- "Go and C see different slots"
			default:
				done <- ""
			}
		}()
	}
	for i := 0; i < 8; i++ {
		if msg := <-done; msg != "" {
			t.Fatal(msg)
		}
	}
}
