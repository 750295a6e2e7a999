package tests

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
	"testing"
	"time"
)

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
