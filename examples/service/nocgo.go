//go:build !cgo

package main

import (
	"fmt"
	"os"

	"github.com/cgoguard/cgoguard/guard"
)

// Without cgo there is no C to call: say so.
func main() {
	fmt.Println("cgoguard:", guard.ErrUnsupported)
	os.Exit(1)
}
