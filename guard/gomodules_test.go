//go:build linux && amd64 && cgo

package guard

import (
	"reflect"
	"runtime"
	"testing"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard/internal/examplec"
	"github.com/cgoguard/cgoguard/guard/internal/gotext"
)

// The handler walks the runtime's module list: Go code is Go's, C code is
// not. Where the list's layout is unknown, nothing changes until a module
// is loaded after start-up; then every PC counts as Go's, so that every
// fault goes to the Go runtime.
func TestGoModulesInHandler(t *testing.T) {
	if err := Install(); err != nil {
		t.Fatal(err)
	}
	if modulesErr != nil {
		t.Fatalf("module list: %v", modulesErr)
	}
	goPC := reflect.ValueOf(TestGoModulesInHandler).Pointer()
	cPC := uintptr(examplec.ParseRequest)
	if !pcInGo(goPC) || pcInGo(cPC) {
		t.Fatalf("Go PC %#x in Go: %v; C PC %#x in Go: %v", goPC, pcInGo(goPC), cPC, pcInGo(cPC))
	}

	real, _ := gotext.Modules()
	defer setGoModules(real)
	// A runtime whose layout is unknown: the handler watches a stand-in
	// for lastmoduledatap.
	last := new(uintptr)
	*last = 0x1000
	setGoModules(gotext.ModuleList{LastP: uintptr(unsafe.Pointer(last)), Last: 0x1000})
	if !pcInGo(goPC) || pcInGo(cPC) {
		t.Fatal("unknown layout, no module loaded: the main module's range alone should decide")
	}
	*last = 0x2000 // a module was loaded
	if !pcInGo(cPC) {
		t.Fatal("unknown layout, a module loaded: a C PC should count as Go's")
	}
	setGoModules(real)
	runtime.KeepAlive(last)
	if pcInGo(cPC) {
		t.Fatal("the real module list is back: a C PC should be C's")
	}
}
