//go:build linux && amd64 && cgo

package guard

import (
	"runtime"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard/internal/cgoboundary"
)

// Go code reaches a thread's deadline slot through the thread pointer (no
// cgo call): on every thread it must be the slot C uses, before the thread
// has one (nil) and after.
func TestThreadSlotSeenFromGo(t *testing.T) {
	if err := initRegions(); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 8)
	for i := 0; i < 8; i++ {
		go func() {
			runtime.LockOSThread() // a thread of its own: the goroutine exits locked
			g0, c0 := threadSlots()
			err := Do(func() {}, WithTimeout(time.Second)) // gives the thread a slot
			g1, c1 := threadSlots()
			switch {
			case err != nil:
				done <- err.Error()
			case g0 != c0 || g1 != c1 || g1 == nil:
				done <- "Go and C see different slots"
			default:
				done <- ""
			}
		}()
	}
	for i := 0; i < 8; i++ {
		if msg := <-done; msg != "" {
			t.Fatal(msg)
		}
	}
}

// The two halves of the deadline-slot protocol, C's cg_arm (Call with a
// deadline) and Go's regionArm (DoContext), must leave the same slot:
// armed from each in turn on one thread, its fields are compared one by
// one. The only differences are by design: a region's deadline belongs to
// no guard (armed_depth 0) but to a goroutine (region_g).
func TestSlotArmedAlikeFromGoAndC(t *testing.T) {
	if err := initRegions(); err != nil {
		t.Fatal(err)
	}
	w := [2]uintptr{0x1234_5678_9abc_def0, 0x0fed_cba9_8765_4321}
	cases := []struct {
		name                 string
		timeout, grace, lazy int64
	}{
		{"deadline", int64(time.Hour), int64(DefaultGrace), 0},
		{"deadline, never forced", int64(time.Hour), -1, 0},
		{"deadline and lazy cancellation", int64(2 * time.Hour), 0, int64(time.Hour)},
		{"lazy cancellation only", 0, int64(time.Second), int64(time.Hour)},
	}
	seen := map[uint64]bool{} // deadline clocks compared in
	compare := func(t *testing.T, tc armCase) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		g := cgoboundary.G()
		var vc, vg slotView
		for try := 0; ; try++ {
			var rc int
			if vc, rc = armFromC(tc.timeout, tc.grace, tc.lazy, w); rc != 0 {
				t.Fatalf("C arm: %d", rc)
			}
			if vg, rc = armFromGo(g, tc.timeout, tc.grace, tc.lazy, w); rc != 0 {
				t.Fatalf("Go arm: %d", rc)
			}
			// Both arms in one clock: the TSC calibration may end
			// between them.
			tag := vc.before & dlTSC
			if vc.after&dlTSC == tag && vg.before&dlTSC == tag && vg.after&dlTSC == tag {
				seen[tag] = true
				break
			}
			if try == 10 {
				t.Fatal("the deadline clock keeps changing")
			}
		}
		// Each arm starts the slot's next call.
		if vg.gen != (vc.gen+1)&genMask {
			t.Errorf("gen: C armed %d, then Go %d", vc.gen, vg.gen)
		}
		for _, v := range []struct {
			who string
			v   slotView
		}{{"C", vc}, {"Go", vg}} {
			checkArmed(t, v.who, v.v, tc.timeout, tc.grace, tc.lazy, w)
		}
		if vc.armedDepth != 1 || vg.armedDepth != 0 {
			t.Errorf("armed_depth: C %d (want 1, its guard's), Go %d (want 0, a region's)", vc.armedDepth, vg.armedDepth)
		}
		if vg.regionG != g {
			t.Errorf("region_g: Go %#x, want the goroutine's g %#x", vg.regionG, g)
		}
		if after := threadSlotView(); after.deadline != 0 || after.regionG != 0 {
			t.Errorf("after Go's disarm: deadline %#x region_g %#x, want 0", after.deadline, after.regionG)
		}
	}
	run := func(clock string) {
		for _, tc := range cases {
			t.Run(clock+"/"+tc.name, func(t *testing.T) { compare(t, tc) })
		}
	}
	run("first")
	// Both deadline clocks, where the CPU has an invariant TSC: the
	// watchdog calibrates it over its first 10 ms of work.
	for end := time.Now().Add(3 * time.Second); !tscCalibrated() && time.Now().Before(end); {
		if err := Do(func() { time.Sleep(time.Millisecond) }, WithTimeout(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if !seen[dlTSC] && tscCalibrated() {
		run("tsc")
	}
	if !seen[0] || !seen[dlTSC] {
		t.Logf("compared in one deadline clock only (TSC ticks: %v)", seen[dlTSC])
	}

	// The generation wraps at CG_TAG_GEN_MASK alike.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	g := cgoboundary.G()
	if _, rc := armFromC(int64(time.Hour), 0, 0, w); rc != 0 { // the thread's slot
		t.Fatalf("C arm: %d", rc)
	}
	for _, arm := range []struct {
		who string
		f   func() (slotView, int)
	}{
		{"C", func() (slotView, int) { return armFromC(int64(time.Hour), 0, 0, w) }},
		{"Go", func() (slotView, int) { return armFromGo(g, int64(time.Hour), 0, 0, w) }},
	} {
		setThreadSlotGen(genMask)
		if v, rc := arm.f(); rc != 0 || v.gen != 0 {
			t.Errorf("%s arm after gen %#x: gen %#x (rc %d), want 0", arm.who, genMask, v.gen, rc)
		}
	}
}

type armCase struct {
	name                 string
	timeout, grace, lazy int64
}

// checkArmed checks one arm's slot against what was asked of it.
func checkArmed(t *testing.T, who string, v slotView, timeout, grace, lazy int64, w [2]uintptr) {
	t.Helper()
	within := func(field string, got uint64, ns int64) {
		lo, hi := deadlineAdd(v.before, ns), deadlineAdd(v.after, ns)
		if got < lo || got > hi || got&dlTSC != v.before&dlTSC {
			t.Errorf("%s: %s %#x, want the clock plus %d ns: in [%#x, %#x]", who, field, got, ns, lo, hi)
		}
	}
	if timeout > 0 {
		within("deadline", v.deadline, timeout)
	} else if v.deadline != dlNone {
		t.Errorf("%s: deadline %#x, want CG_DL_NONE %#x", who, v.deadline, dlNone)
	}
	if lazy > 0 {
		within("lazy_at", v.lazyAt, lazy)
		if v.ctx != w {
			t.Errorf("%s: ctx %#x, want %#x", who, v.ctx, w)
		}
	} else if v.lazyAt != 0 {
		t.Errorf("%s: lazy_at %#x, want 0", who, v.lazyAt)
	}
	if v.grace != grace {
		t.Errorf("%s: grace %d, want %d", who, v.grace, grace)
	}
}
