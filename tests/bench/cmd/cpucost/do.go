package main

import (
	"context"
	"errors"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/bench/cfuncs"
)

// doVariants are guard.Do's counterparts of the Call variants: the same
// empty C function and NULL write, reached through a plain cgo call inside
// Do.
func doVariants(arg unsafe.Pointer, ctx context.Context) []struct {
	name string
	div  int
	f    func()
} {
	empty := func() { cfuncs.RawEmpty(arg) }
	null := func() { cfuncs.RawNullWrite() }
	dl := guard.WithTimeout(time.Second)
	nf := guard.WithMaxFrames(0)
	crash := func(err error) {
		if !errors.Is(err, guard.ErrCrash) {
			panic(err)
		}
	}
	return []struct {
		name string
		div  int
		f    func()
	}{
		{"Do", 1, func() { _ = guard.Do(empty) }},
		{"DoDeadline", 1, func() { _ = guard.Do(empty, dl) }},
		{"DoContext", 1, func() { _ = guard.DoContext(ctx, empty) }},
		{"DoFaultRecover", 100, func() { crash(guard.Do(null, nf)) }},
		{"DoFaultRecoverFrames", 100, func() { crash(guard.Do(null)) }},
	}
}
