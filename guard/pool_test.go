//go:build linux && amd64 && cgo

package guard

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard/internal/examplec"
	"github.com/cgoguard/cgoguard/internal/testwait"
)

// The fault record pool grows past its first chunk when more records are
// in flight than it holds, every error keeps its details, and every record
// comes back.
func TestPoolGrowsAndDrains(t *testing.T) {
	const goroutines, rounds = 3000, 3
	var wg sync.WaitGroup
	start := make(chan struct{})
	bare := make(chan string, goroutines*rounds)
	for i := 0; i < goroutines; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j := 0; j < rounds; j++ {
				err := Do(func() { examplec.Parse("12x") })
				ce, ok := err.(*CrashError)
				if !ok || ce.PC == 0 || len(ce.Frames) == 0 || ce.Time.IsZero() {
					bare <- errString(err)
				}
			}
		}()
	}
	close(start)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the faults did not end in 2 minutes")
	}
	close(bare)
	for e := range bare {
		t.Fatalf("an error without details: %s", e)
	}
	mapped, free := poolRecords()
	t.Logf("%d records mapped, %d free", mapped, free)
	if mapped == 0 || free != mapped {
		t.Fatalf("%d records mapped, %d free: records were not released", mapped, free)
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// Records held at once beyond the first chunk make the pool grow; no slot
// is ever handed out twice while held, under concurrent takes and
// releases (the free stack's ABA counter), and all come back.
func TestPoolStack(t *testing.T) {
	const held = 3000
	slots := make(map[int]bool, held)
	for i := 0; i < held; i++ {
		s := poolTake()
		if s < 0 || slots[s] {
			t.Fatalf("take %d: slot %d (held already: %v)", i, s, slots[s])
		}
		slots[s] = true
	}
	if mapped, _ := poolRecords(); mapped < held {
		t.Fatalf("%d records mapped while %d are held", mapped, held)
	}
	for s := range slots {
		poolGive(s)
	}

	mapped, _ := poolRecords()
	owner := make([]atomic.Int32, mapped+held)
	var wg sync.WaitGroup
	var bad atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine [4]int
			for i := 0; i < 20000; i++ {
				for j := range mine {
					mine[j] = poolTake()
					if mine[j] < 0 || mine[j] >= len(owner) || !owner[mine[j]].CompareAndSwap(0, 1) {
						bad.Add(1)
						return
					}
				}
				for _, s := range mine {
					owner[s].Store(0)
					poolGive(s)
				}
			}
		}()
	}
	testwait.AwaitGroup(t, &wg, 2*time.Minute, "the test's goroutines")
	if bad.Load() != 0 {
		t.Fatal("a slot was handed out twice, or out of range")
	}
	if m, free := poolRecords(); free != m || m != mapped {
		t.Fatalf("after the concurrent takes: %d mapped (was %d), %d free", m, mapped, free)
	}
}
