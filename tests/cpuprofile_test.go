package tests

// A CPU profile taken while guarded faults happen survives and is valid.
// faultLoop, the background of guarded faults, is here; it also serves
// gopanics_test.go, notify_test.go and deadline_test.go.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// faultLoop keeps n goroutines taking guarded faults until stop is called
// (every other one in plain cgo calls inside guard.Do, the rest through Call),
// and reports the first wrong result. It returns once the first fault was
// taken.
func faultLoop(t *testing.T, n int) (stop func() int64) {
	t.Helper()
	if err := guard.Install(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var count atomic.Int64
	var bad atomic.Value
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			fns := []unsafe.Pointer{payload.NullWrite, payload.Abort, payload.StackOverflw}
			r := payload.NewResult(0)
			defer payload.Free(r)
			for {
				select {
				case <-done:
					return
				default:
				}
				fn := fns[i%len(fns)]
				var err error
				if i%2 == 1 { // every other worker: a plain cgo call inside guard.Do
					err = guard.Do(func() { payload.RawCall(fn, unsafe.Pointer(r)) }, guard.WithMaxFrames(8))
				} else {
					err = guard.Call(fn, unsafe.Pointer(r), guard.WithMaxFrames(8))
				}
				if !errors.Is(err, guard.ErrCrash) {
					bad.Store(errString(err))
					return
				}
				count.Add(1)
			}
		}(i)
	}
	var once sync.Once
	stop = func() int64 {
		once.Do(func() {
			close(done)
			wg.Wait()
			if b := bad.Load(); b != nil {
				t.Errorf("guarded fault loop: %v", b)
			}
		})
		return count.Load()
	}
	// Return once the loop is under way: on a loaded machine its goroutines
	// may not run for a while, and the caller's work is meant to overlap
	// with guarded faults.
	for deadline := time.Now().Add(10 * time.Second); count.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) || bad.Load() != nil {
			stop()
			t.Fatalf("the guarded fault loop took no fault in 10s (%v)", bad.Load())
		}
	}
	return stop
}

// A CPU profile at a high rate, with a busy goroutine forcing preemption,
// taken while goroutines loop on guarded faults: signals land everywhere,
// including on the first instruction after a handler rewrote the context.
// The process must survive and the profile must be valid.
func TestCPUProfileDuringFaults(t *testing.T) {
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	for round := 0; round < rounds; round++ {
		stop := faultLoop(t, 3)
		busyDone := make(chan struct{})
		go func() { // busy: keeps the scheduler preempting
			x := 0
			for {
				select {
				case <-busyDone:
					return
				default:
				}
				for i := 0; i < 1e6; i++ {
					x += i
				}
			}
		}()
		var buf bytes.Buffer
		runtime.SetCPUProfileRate(2000) // pprof then warns that the rate is already set; it keeps 2000 Hz
		if err := pprof.StartCPUProfile(&buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
		pprof.StopCPUProfile()
		close(busyDone)
		n := stop()
		if n == 0 {
			t.Fatal("no guarded faults during the profile")
		}
		samples, err := countProfileSamples(buf.Bytes())
		if err != nil || samples == 0 {
			t.Fatalf("round %d: profile unreadable (%v) or empty (%d samples)", round, err, samples)
		}
		if round < rounds-1 {
			continue
		}
		// Once, the real reader too.
		path := filepath.Join(t.TempDir(), "cpu.pprof")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-raw", path).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("pprof cannot read the profile: %v\n%s", err, out)
		}
		if !bytes.Contains(out, []byte("samples/count")) {
			t.Fatalf("profile has no samples:\n%.2000s", out)
		}
	}
}

// countProfileSamples checks that p is a gzipped protocol buffer and counts
// its top-level field 2 entries (Profile.sample in profile.proto).
func countProfileSamples(p []byte) (int, error) {
	zr, err := gzip.NewReader(bytes.NewReader(p))
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return 0, err
	}
	n := 0
	for len(b) > 0 {
		key, k := binary.Uvarint(b)
		if k <= 0 {
			return n, errors.New("bad field key")
		}
		b = b[k:]
		switch key & 7 {
		case 0: // varint
			_, k = binary.Uvarint(b)
			if k <= 0 {
				return n, errors.New("bad varint")
			}
			b = b[k:]
		case 2: // length-delimited
			l, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < l {
				return n, errors.New("bad length")
			}
			b = b[k+int(l):]
			if key>>3 == 2 {
				n++
			}
		default:
			return n, fmt.Errorf("unexpected wire type %d", key&7)
		}
	}
	return n, nil
}
