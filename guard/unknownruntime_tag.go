//go:build linux && amd64 && cgo && cgoguard_testunknownruntime

package guard

// Built with -tags cgoguard_testunknownruntime (for tests only), the
// package sees its runtime's cgo boundary one byte off, as a Go release
// laid out otherwise would look: Do must refuse, naming the Go version,
// and Call must go on working.
func init() { boundarySkew = 1 }
