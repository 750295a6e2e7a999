//go:build linux && amd64

package tests

import (
	"runtime"
	"testing"

	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// TestCancelTokenReuseRace: a token re-armed on another thread while
// cgoguard_cancel_request reads it (between its reads of the slot and the
// generation) must not cancel the old thread's call with the new call's
// generation; the new call is the one cancelled.
func TestCancelTokenReuseRace(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	switch r := payload.CancelRace(); r {
	case 0:
	case 1:
		t.Fatal("the request paired the old thread's slot with the new call's generation")
	case 2:
		t.Fatal("the request cancelled neither call")
	default:
		t.Fatalf("set-up failed (%d)", r)
	}
}
