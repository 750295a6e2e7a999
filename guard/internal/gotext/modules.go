package gotext

import (
	"errors"
	"runtime"
	"unsafe"
)

// lastmoduledatap is the runtime's last module (struct moduledata), the
// main one until a plugin is loaded.
//
// Allowed: the runtime pushes it (runtime/symtab.go, Go 1.25 to 1.27).
//
//go:linkname lastmoduledatap runtime.lastmoduledatap
var lastmoduledatap unsafe.Pointer

// initLast is lastmoduledatap when this package was initialized: before
// main runs, so normally the main module.
var initLast = lastmoduledatap

// ModuleList says how to walk the runtime's list of Go modules (the main
// one, then the plugins and shared Go libraries loaded, in load order),
// each of which has its own text range.
type ModuleList struct {
	// First is the first module's moduledata; 0 when the layout of this
	// runtime's moduledata is unknown or did not check out.
	First uintptr
	// Offsets of text, etext and next in a moduledata.
	OffText, OffEtext, OffNext uintptr
	// LastP is the address of runtime.lastmoduledatap, and Last its
	// value when this package was initialized: when First is 0, a change
	// of *LastP is the only sign that a Go module was loaded.
	LastP, Last uintptr
}

// Modules returns how to walk the runtime's module list, checked against
// the main module's range (Range), and an error (with First 0) when it
// could not be checked.
func Modules() (ModuleList, error) {
	l := ModuleList{LastP: uintptr(unsafe.Pointer(&lastmoduledatap)), Last: uintptr(initLast)}
	if !layoutKnown {
		return l, errors.New("gotext: the module list of " + runtime.Version() + " is laid out in a way not known")
	}
	md := (*moduledata)(initLast)
	start, end := Range()
	switch {
	case md == nil:
		return l, errors.New("gotext: no module list")
	case md.text != start || md.etext != end:
		return l, errors.New("gotext: the last module at start-up is not the main module, or the layout differs")
	case md.minpc < md.text || md.maxpc > md.etext || md.minpc >= md.maxpc:
		return l, errors.New("gotext: the main module's minpc/maxpc are out of its text: the layout differs")
	case md.hasmain != 1 || md.pluginpath != "" || md.bad:
		return l, errors.New("gotext: the main module's hasmain/pluginpath/bad do not check out: the layout differs")
	}
	l.First = uintptr(initLast)
	l.OffText = unsafe.Offsetof(md.text)
	l.OffEtext = unsafe.Offsetof(md.etext)
	l.OffNext = unsafe.Offsetof(md.next)
	return l, nil
}

// Texts returns the text range of every Go module loaded, the main one
// first (for tests; not async-signal-safe, but only reads the list).
func Texts() [][2]uintptr {
	if _, err := Modules(); err != nil {
		s, e := Range()
		return [][2]uintptr{{s, e}}
	}
	var r [][2]uintptr
	for md := (*moduledata)(initLast); md != nil && len(r) < 1024; md = (*moduledata)(md.next) {
		r = append(r, [2]uintptr{md.text, md.etext})
	}
	return r
}
