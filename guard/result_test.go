//go:build linux && amd64 && cgo

package guard

import (
	"syscall"
	"testing"
)

// The packed results are written in C and decoded in Go: every slot
// boundary, signal and result packed by C (cg_pub_pack, and cg_direct_pack
// for Call's direct path) must come back as it went in.
func TestPackedResultLayout(t *testing.T) {
	slots := []int{-1, 0, 1, 255, 256, 1 << 16, poolSlotsMax - 1, poolSlotsMax}
	sigs := []int{int(syscall.SIGSEGV), int(syscall.SIGBUS), int(syscall.SIGFPE), int(syscall.SIGILL),
		int(syscall.SIGABRT), 34, 37, 64}
	for _, rc := range []int{resultFault, resultTimeout, resultCanceled} {
		for _, sig := range sigs {
			for _, slot := range slots {
				r := packPublished(slot+1, sig, rc)
				if r <= 0 {
					t.Fatalf("pack(%d, %d, %d) = %d, want > 0", slot, sig, rc, r)
				}
				gs, gsig, grc := unpackPublished(r)
				if gs != slot || gsig != sig || grc != rc {
					t.Fatalf("published (%d, %d, %d) decoded as (%d, %d, %d)", slot, sig, rc, gs, gsig, grc)
				}
				d := packDirect(r)
				if d <= 0 {
					t.Fatalf("direct form of (%d, %d, %d) = %d, want > 0", slot, sig, rc, d)
				}
				if back := directResult(d); back != r {
					t.Fatalf("direct (%d, %d, %d): %#x came back as %#x", slot, sig, rc, r, back)
				}
			}
		}
	}
}
