//go:build !(linux && amd64 && cgo)

package main

import (
	"fmt"
	"os"

	"github.com/cgoguard/cgoguard/guard"
)

// Guarding needs linux/amd64 with cgo, and so does calling libpq: say so.
func main() {
	fmt.Println("cgoguard:", guard.ErrUnsupported)
	os.Exit(1)
}
