//go:build !(linux && amd64 && cgo)

package guard

import (
	"context"
	"errors"
	"testing"
	"time"
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
	if _, err := CallFunc(unsafe.Pointer(&x), []uintptr{1}, WithTimeout(time.Second)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("CallFunc: %v", err)
	}
	ran := false
	if err := Do(func() { ran = true }); !errors.Is(err, ErrUnsupported) || ran {
		t.Fatalf("Do: %v (ran %v)", err, ran)
	}
	if err := DoContext(context.Background(), func() { ran = true }); !errors.Is(err, ErrUnsupported) || ran {
		t.Fatalf("DoContext: %v (ran %v)", err, ran)
	}
	if err := Do(nil); !errors.Is(err, ErrNilFunction) {
		t.Fatalf("Do(nil): %v", err)
	}
	if err := Call(nil, nil); !errors.Is(err, ErrNilFunction) {
		t.Fatalf("Call(nil): %v", err)
	}
}
