//go:build amd64

// Package gotext reports the address range of the Go program's own machine
// code, so that the C signal handler can leave every fault in Go code to the
// Go runtime: the main module's (Range), and how to walk the runtime's list
// of modules for the others, plugins (Modules).
//
// runtime.text and runtime.etext are local symbols that C cannot name; Go
// assembly can take their addresses. This package has no cgo so that it can
// hold that assembly.
package gotext

// Range returns [start, end) of the Go text segment of the main module.
func Range() (start, end uintptr)
