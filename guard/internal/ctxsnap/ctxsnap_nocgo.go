//go:build !cgo

package ctxsnap

import "errors"

// Available reports whether Take works in this build (it needs cgo).
const Available = false

// The C functions of the snapshot (none without cgo).
const (
	InnerFunc = "ctxsnap_inner"
	OuterFunc = "ctxsnap_outer"
)

// Snapshot is one thread's state, as the signal handler would capture it.
type Snapshot struct {
	Regs       [23]uint64
	FPRegs     []byte
	StackStart uint64
	Stack      []byte
	ThreadID   int
}

// Take needs cgo.
func Take(maxStack int) (*Snapshot, error) { return nil, errors.New("ctxsnap: needs cgo") }
