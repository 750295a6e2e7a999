package gotext

import (
	"reflect"
	"runtime"
	"testing"
)

// The module list's layout is known and checks out on every release the
// package supports, and the first module is the main one.
func TestModules(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("Range is amd64 only")
	}
	l, err := Modules()
	if err != nil {
		t.Fatalf("%s: %v", runtime.Version(), err)
	}
	if l.First == 0 || l.LastP == 0 || l.Last != l.First || l.OffEtext != l.OffText+8 || l.OffNext <= l.OffEtext {
		t.Fatalf("implausible module list: %+v", l)
	}
	texts := Texts()
	start, end := Range()
	if len(texts) != 1 || texts[0] != [2]uintptr{start, end} {
		t.Fatalf("texts %#x, want only the main module's [%#x, %#x)", texts, start, end)
	}
	if pc := reflect.ValueOf(TestModules).Pointer(); pc < start || pc >= end {
		t.Fatalf("a Go function at %#x is outside the main module's text", pc)
	}
}
