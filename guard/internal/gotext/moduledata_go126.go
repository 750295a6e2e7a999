//go:build go1.26 && !go1.27

package gotext

import "unsafe"

const layoutKnown = true

// moduledata mirrors the runtime's struct moduledata of Go 1.26
// (runtime/symtab.go), up to next: only the sizes of the fields matter.
// Modules checks it against the main module.
type moduledata struct {
	pcHeader    unsafe.Pointer
	funcnametab []byte
	cutab       []uint32
	filetab     []byte
	pctab       []byte
	pclntable   []byte
	ftab        []uint64
	findfunctab uintptr
	minpc       uintptr
	maxpc       uintptr

	text, etext           uintptr
	noptrdata, enoptrdata uintptr
	data, edata           uintptr
	bss, ebss             uintptr
	noptrbss, enoptrbss   uintptr
	covctrs, ecovctrs     uintptr
	end, gcdata, gcbss    uintptr
	types, etypes         uintptr
	rodata                uintptr
	gofunc                uintptr
	epclntab              uintptr
	textsectmap           []byte
	typelinks             []int32
	itablinks             []unsafe.Pointer

	ptab []byte

	pluginpath string
	pkghashes  []byte

	inittasks []unsafe.Pointer

	modulename   string
	modulehashes []byte

	hasmain uint8
	bad     bool

	gcdatamask, gcbssmask bitvector

	typemap unsafe.Pointer

	next unsafe.Pointer
}

type bitvector struct {
	n        int32
	bytedata unsafe.Pointer
}
