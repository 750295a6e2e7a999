package tests

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// Benchmarks of the guard's cost, all on the same empty C function so that
// their ratios are meaningful when compared within one run.

func BenchmarkRawCgo(b *testing.B) {
	var arg unsafe.Pointer
	for b.Loop() {
		payload.RawEmpty(arg)
	}
}

func BenchmarkGuardCall(b *testing.B) {
	if err := guard.Install(); err != nil {
		b.Fatal(err)
	}
	var arg unsafe.Pointer
	for b.Loop() {
		if err := guard.Call(payload.Empty, arg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGuardCallFunc(b *testing.B) {
	for b.Loop() {
		if _, err := guard.CallFunc(payload.Sum6, []uintptr{1, 2, 3, 4, 5, 6}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFaultRecover(b *testing.B) {
	for b.Loop() {
		if err := guard.Call(payload.NullWrite, nil, guard.WithMaxFrames(0)); err == nil {
			b.Fatal("no fault")
		}
	}
}

func BenchmarkFaultRecoverFrames(b *testing.B) {
	for b.Loop() {
		if err := guard.Call(payload.NullWrite, unsafe.Pointer(nil)); err == nil {
			b.Fatal("no fault")
		}
	}
}

func BenchmarkGuardCallDeadline(b *testing.B) {
	var arg unsafe.Pointer
	opt := guard.WithTimeout(time.Second)
	for b.Loop() {
		if err := guard.Call(payload.Empty, arg, opt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGuardCallContext(b *testing.B) {
	var arg unsafe.Pointer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for b.Loop() {
		if err := guard.CallContext(ctx, payload.Empty, arg); err != nil {
			b.Fatal(err)
		}
	}
}

// Interrupt lateness: how long after its deadline a call blocked in read()
// returns. Run with a fixed count, e.g. -benchtime 10000x; reports the
// median and 99th percentile in microseconds.
func BenchmarkInterruptLatenessIdle(b *testing.B) { benchLateness(b, 0) }

// The same with both cores kept busy by spinning goroutines.
func BenchmarkInterruptLatenessBusy(b *testing.B) { benchLateness(b, runtime.NumCPU()) }

func benchLateness(b *testing.B, spinners int) {
	if err := payload.BlockingSetup(); err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < spinners; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for x := 0; ; x++ {
				if x%1_000_000 == 0 {
					select {
					case <-stop:
						return
					default:
					}
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	const timeout = time.Millisecond
	r := payload.NewResult(0)
	defer payload.Free(r)
	// intr: deadline to the handler stopping the C call (the interrupt
	// itself); ret: deadline to guard.Call returning (adds the Go
	// scheduler's latency to get the goroutine running again); timer: a
	// time.AfterFunc armed at the same moment for the same deadline, to
	// its callback running: Go's own timer under the same load.
	intr := make([]time.Duration, 0, b.N)
	ret := make([]time.Duration, 0, b.N)
	var timer []time.Duration
	var timerMu sync.Mutex
	var timerWG sync.WaitGroup
	opts := []guard.Option{guard.WithTimeout(timeout), guard.WithMaxFrames(0)}
	for b.Loop() {
		start := time.Now()
		timerWG.Add(1)
		time.AfterFunc(timeout, func() {
			late := time.Since(start) - timeout
			timerMu.Lock()
			timer = append(timer, late)
			timerMu.Unlock()
			timerWG.Done()
		})
		err := guard.Call(payload.ReadPipe, unsafe.Pointer(r), opts...)
		ret = append(ret, time.Since(start)-timeout)
		var ie *guard.InterruptError
		if !errors.As(err, &ie) {
			b.Fatal(err)
		}
		intr = append(intr, ie.Time.Sub(start)-timeout)
	}
	timerWG.Wait()
	pct := func(d []time.Duration, p float64) float64 { return float64(d[int(p*float64(len(d)-1))]) / 1e3 }
	slices.Sort(intr)
	slices.Sort(ret)
	slices.Sort(timer)
	b.ReportMetric(pct(intr, 0.50), "intr-p50-µs")
	b.ReportMetric(pct(intr, 0.99), "intr-p99-µs")
	b.ReportMetric(pct(ret, 0.50), "ret-p50-µs")
	b.ReportMetric(pct(ret, 0.99), "ret-p99-µs")
	b.ReportMetric(pct(timer, 0.50), "timer-p50-µs")
	b.ReportMetric(pct(timer, 0.99), "timer-p99-µs")
}

// Cancellation latency of CallContext on a call blocked in read(): from
// cancel() to the handler stopping the call (intr) and to CallContext
// returning (ret). The cancellation of a call is registered only once it
// has run for the lazy threshold (1 ms): cancel-at is when cancel() is
// called after the start, before or after the threshold.
func BenchmarkCancelLatency(b *testing.B) {
	for _, at := range []time.Duration{200 * time.Microsecond, 3 * time.Millisecond} {
		b.Run(fmt.Sprintf("cancel-at=%v", at), func(b *testing.B) {
			if err := payload.BlockingSetup(); err != nil {
				b.Fatal(err)
			}
			r := payload.NewResult(0)
			defer payload.Free(r)
			var intr, ret []time.Duration
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				// A goroutine watching the clock, not a timer: Go's
				// timers run late while the caller's P is in the C call.
				start := time.Now()
				done := make(chan time.Time)
				go func() {
					for time.Since(start) < at {
					}
					t := time.Now()
					cancel()
					done <- t
				}()
				err := guard.CallContext(ctx, payload.ReadPipe, unsafe.Pointer(r), guard.WithMaxFrames(0))
				end := time.Now()
				cancelled := <-done
				var ie *guard.InterruptError
				var ns *guard.NotStartedError
				if errors.As(err, &ns) {
					continue // cancelled before the call began
				}
				if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) {
					b.Fatal("not a cancellation:", err)
				}
				intr = append(intr, ie.Time.Sub(cancelled))
				ret = append(ret, end.Sub(cancelled))
			}
			slices.Sort(intr)
			slices.Sort(ret)
			pct := func(d []time.Duration, p float64) float64 { return float64(d[int(p*float64(len(d)-1))]) / 1e3 }
			b.ReportMetric(pct(intr, 0.50), "intr-p50-µs")
			b.ReportMetric(pct(intr, 0.99), "intr-p99-µs")
			b.ReportMetric(pct(ret, 0.50), "ret-p50-µs")
			b.ReportMetric(pct(ret, 0.99), "ret-p99-µs")
		})
	}
}

// Deadlines at scale (see TestDeadlineScale): 2,000 goroutines blocked in
// read(), deadlines of 1-3 s (Steady) or 10-100 ms (Storm), re-armed for
// 20 s. One op is the whole run; the metrics are per run.
func BenchmarkDeadlineScaleSteady(b *testing.B) {
	benchScaleRun(b, 2000, time.Second, 3*time.Second)
}

func BenchmarkDeadlineScaleStorm(b *testing.B) {
	benchScaleRun(b, 2000, 10*time.Millisecond, 100*time.Millisecond)
}

func benchScaleRun(b *testing.B, n int, dmin, dmax time.Duration) {
	for b.Loop() {
		s := runScale(b, n, dmin, dmax, 20*time.Second)
		if s.missed.Load() != 0 || s.early.Load() != 0 || s.notTimeout.Load() != 0 {
			b.Fatalf("missed %d, cut short %d, not a timeout %d", s.missed.Load(), s.early.Load(), s.notTimeout.Load())
		}
		b.Logf("%v", s)
		ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
		b.ReportMetric(float64(s.interrupts)/s.elapsed.Seconds(), "intr/s")
		b.ReportMetric(100*s.wdCPU.Seconds()/s.elapsed.Seconds(), "wd-%core")
		b.ReportMetric(ms(pctl(s.intr, .5)), "intr-p50-ms")
		b.ReportMetric(ms(pctl(s.intr, .99)), "intr-p99-ms")
		b.ReportMetric(ms(pctl(s.ret, .5)), "ret-p50-ms")
		b.ReportMetric(ms(pctl(s.ret, .99)), "ret-p99-ms")
		b.ReportMetric(ms(pctl(s.ret, 1)), "ret-max-ms")
	}
}

// The seed-style wrapper on the same empty function: sigaction installs,
// setitimer arm and disarm, and restores around every call.
func BenchmarkSeedStyleCall(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var arg unsafe.Pointer
	for b.Loop() {
		if sig := payload.SeedCall(payload.Empty, arg, 1_000_000); sig != 0 {
			b.Fatalf("signal %d", sig)
		}
	}
}

// The fault round trip once crash dumps are enabled somewhere in the
// process: the handler then captures registers, stack and code for every
// fault (here dropped: this call asks for no dump). Last in the file: once
// enabled, captures stay on for the process.
func BenchmarkFaultRecoverCaptured(b *testing.B) {
	guard.WithDumpDir(b.TempDir()) // enables captures
	noDump := guard.WithDumpDir("")
	for b.Loop() {
		if err := guard.Call(payload.NullWrite, nil, guard.WithMaxFrames(0), noDump); err == nil {
			b.Fatal("no fault")
		}
	}
}

// The same, writing a minidump for every fault (no rate limit).
func BenchmarkFaultRecoverDump(b *testing.B) {
	dir := b.TempDir()
	if err := guard.SetDumpLimits(guard.DumpLimits{MaxFiles: 4, MaxBytes: 1 << 30}); err != nil {
		b.Fatal(err)
	}
	defer guard.SetDumpLimits(guard.DefaultDumpLimits())
	opt := guard.WithDumpDir(dir)
	for b.Loop() {
		var ce *guard.CrashError
		if err := guard.Call(payload.NullWrite, nil, guard.WithMaxFrames(0), opt); !errors.As(err, &ce) || ce.DumpPath == "" {
			b.Fatal("no dump", err)
		}
	}
}

// The fault round trip through guard.Do: the boundary found, the frames
// walked, the panic raised and recovered.
func BenchmarkDoFaultRecover(b *testing.B) {
	for b.Loop() {
		if err := guard.Do(func() { payload.RawCall(payload.NullWrite, nil) }); err == nil {
			b.Fatal("no fault")
		}
	}
}

func BenchmarkDoFaultRecoverNoFrames(b *testing.B) {
	opt := guard.WithMaxFrames(0)
	for b.Loop() {
		if err := guard.Do(func() { payload.RawCall(payload.NullWrite, nil) }, opt); err == nil {
			b.Fatal("no fault")
		}
	}
}
