//go:build !amd64

package gotext

// Range returns [start, end) of the Go text segment of the main module. Only
// amd64 needs it; elsewhere it reports an empty range.
func Range() (start, end uintptr) { return 0, 0 }
