//go:build !go1.25 || go1.28

package gotext

import "unsafe"

const layoutKnown = false

// moduledata is unknown on this release: Modules reports so.
type moduledata struct {
	text, etext, minpc, maxpc uintptr
	pluginpath                string
	hasmain                   uint8
	bad                       bool
	next                      unsafe.Pointer
}
