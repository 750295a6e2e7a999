// Command cbcrash faults in C code called, without a guard, from a Go
// callback that guarded C code made. The outer guard must not take that
// fault (jumping over the Go callback's frames would corrupt the runtime):
// the process must crash the way Go crashes for any unguarded C fault.
package main

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

func main() {
	payload.SetCallback(func(int) int {
		payload.RawNullWrite()
		return 0
	})
	r := payload.NewResult(0)
	var opts []guard.Option
	if len(os.Args) > 1 && os.Args[1] == "noframes" {
		// No frames wanted: the handler then checks for Go frames with
		// a scan of the stack instead of a walk.
		opts = append(opts, guard.WithMaxFrames(0))
	}
	err := guard.Call(payload.CallGo, unsafe.Pointer(r), opts...)
	if errors.Is(err, guard.ErrCrash) {
		fmt.Println("recovered by the outer guard:", err)
		os.Exit(0)
	}
	fmt.Println("returned:", err)
}
