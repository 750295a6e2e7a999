//go:build linux && amd64 && cgo

package guard

import (
	"sync"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard/internal/examplec"
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
