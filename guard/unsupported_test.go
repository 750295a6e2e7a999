//go:build !(linux && amd64 && cgo)

package guard

import (
	"errors"
	"testing"
	"unsafe"
)

func TestUnsupported(t *testing.T) {
	if Supported() {
		t.Fatal("Supported() = true")
	}
	var x byte
	if err := Call(unsafe.Pointer(&x), nil); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Call: %v", err)
	}
	if err := Install(); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Install: %v", err)
	}
	if _, err := CallFunc(unsafe.Pointer(&x), 1); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("CallFunc: %v", err)
	}
	if err := Call(nil, nil); !errors.Is(err, ErrNilFunction) {
		t.Fatalf("Call(nil): %v", err)
	}
}
