package tests

import (
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/internal/testwait"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

var scaleFull = flag.Bool("scale.full", false, "TestDeadlineScale at full size: 2,000 goroutines for 20 s, twice (make stress)")

// scaleRun is one run of many goroutines, each blocked in read() on a pipe
// nobody writes to under a deadline drawn from [dmin, dmax], re-armed in a
// loop for dur.
type scaleRun struct {
	calls, early, missed, notTimeout atomic.Int64
	noRecord                         atomic.Int64    // interrupts reported without details (no fault record)
	intr, ret                        []time.Duration // lateness past each deadline
	wdCPU                            time.Duration   // the watchdog thread's CPU time during the run
	elapsed                          time.Duration
	interrupts                       uint64                // guard.ReadStats().Interrupts during the run
	wd                               payload.WatchdogStats // the watchdog's counters during the run
	fds, threads, rssKiB             [2]int                // after warm-up, at the end
}

// watchdogCPU is the CPU time the thread named cgoguard-wd has used.
func watchdogCPU(t testing.TB) time.Duration {
	ents, _ := os.ReadDir("/proc/self/task")
	for _, e := range ents {
		comm, err := os.ReadFile(filepath.Join("/proc/self/task", e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "cgoguard-wd" {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc/self/task", e.Name(), "schedstat"))
		if err != nil {
			t.Fatal(err)
		}
		ns, _ := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		return time.Duration(ns)
	}
	t.Fatal("no cgoguard-wd thread")
	return 0
}

func runScale(t testing.TB, n int, dmin, dmax, dur time.Duration) *scaleRun {
	if err := payload.BlockingSetup(); err != nil {
		t.Fatal(err)
	}
	// Each goroutine holds a thread while blocked in C.
	if n+100 > 10000 {
		t.Fatal("too many threads")
	}
	s := &scaleRun{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var started sync.WaitGroup
	for i := range n {
		wg.Add(1)
		started.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			r := payload.NewResult(0)
			defer payload.Free(r)
			var intr, ret []time.Duration
			first := true
			for {
				d := dmin + time.Duration(rng.Int63n(int64(dmax-dmin)+1))
				if first {
					// All blocked at once first (so that every thread
					// exists before the resources are sampled), the
					// deadlines spread over the range.
					d = max(dmax, time.Second) + time.Duration(rng.Int63n(int64(dmax))+1)
					first = false
					started.Done()
				}
				start := time.Now()
				err := guard.Call(payload.ReadPipe, unsafe.Pointer(r), guard.WithTimeout(d), guard.WithMaxFrames(0))
				took := time.Since(start)
				s.calls.Add(1)
				var ie *guard.InterruptError
				switch {
				case err == nil:
					s.missed.Add(1) // read returned: impossible on this pipe
				case !errors.As(err, &ie) || !errors.Is(err, guard.ErrTimeout):
					s.notTimeout.Add(1)
					t.Errorf("not a timeout: %v", err)
				case took < d || !ie.Time.IsZero() && ie.Time.Before(start.Add(d)):
					if s.early.Add(1) <= 5 { // interrupted before its deadline: a stray signal
						t.Logf("cut short: deadline %v, returned after %v, interrupted after %v", d, took, ie.Time.Sub(start))
					}
				default:
					// A zero Time: the interrupt came back without
					// its record (only the signal known), which the
					// growing record pool no longer allows.
					if ie.Time.IsZero() {
						s.noRecord.Add(1)
					} else {
						intr = append(intr, ie.Time.Sub(start.Add(d)))
					}
					ret = append(ret, took-d)
				}
				select {
				case <-stop:
					mu.Lock()
					s.intr = append(s.intr, intr...)
					s.ret = append(s.ret, ret...)
					mu.Unlock()
					return
				default:
				}
			}
		}(int64(i) + 1)
	}
	started.Wait()
	// Warm-up: a quarter of the run, and past the first round of calls
	// (all blocked at once), before the resources are first sampled.
	warm := max(dur/4, 2*max(dmax, time.Second))
	time.Sleep(warm)
	runtime.GC()
	s.fds[0], s.threads[0], s.rssKiB[0] = countDir(t, "/proc/self/fd"), countDir(t, "/proc/self/task"), rssKiB(t)
	cpu0, st0, wd0, t0 := watchdogCPU(t), guard.ReadStats(), payload.ReadWatchdogStats(), time.Now()
	time.Sleep(dur - warm)
	s.wdCPU = watchdogCPU(t) - cpu0
	wd1 := payload.ReadWatchdogStats()
	s.wd = payload.WatchdogStats{Passes: wd1.Passes - wd0.Passes, Visits: wd1.Visits - wd0.Visits,
		Fences: wd1.Fences - wd0.Fences, Sent: wd1.Sent - wd0.Sent, NotResent: wd1.NotResent - wd0.NotResent}
	s.interrupts = guard.ReadStats().Interrupts - st0.Interrupts
	s.elapsed = time.Since(t0)
	runtime.GC()
	s.fds[1], s.threads[1], s.rssKiB[1] = countDir(t, "/proc/self/fd"), countDir(t, "/proc/self/task"), rssKiB(t)
	close(stop)
	testwait.AwaitGroup(t, &wg, 5*time.Minute, "the test's goroutines")
	slices.Sort(s.intr)
	slices.Sort(s.ret)
	return s
}

func pctl(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[int(p*float64(len(d)-1))]
}

func (s *scaleRun) String() string {
	return fmt.Sprintf("%d calls (%d without a record), %.0f interrupts/s; lateness to interrupt p50 %v p99 %v max %v, to return p50 %v p99 %v max %v; watchdog %.1f%% of a core (per s: %.0f passes, %.0f slots looked at, %.0f fences, %.0f signals sent, %.0f resends skipped); fds %v threads %v RSS %v KiB",
		s.calls.Load(), s.noRecord.Load(), float64(s.interrupts)/s.elapsed.Seconds(),
		pctl(s.intr, .5), pctl(s.intr, .99), pctl(s.intr, 1), pctl(s.ret, .5), pctl(s.ret, .99), pctl(s.ret, 1),
		100*s.wdCPU.Seconds()/s.elapsed.Seconds(), float64(s.wd.Passes)/s.elapsed.Seconds(), float64(s.wd.Visits)/s.elapsed.Seconds(),
		float64(s.wd.Fences)/s.elapsed.Seconds(), float64(s.wd.Sent)/s.elapsed.Seconds(), float64(s.wd.NotResent)/s.elapsed.Seconds(),
		s.fds, s.threads, s.rssKiB)
}

// Many calls blocked at once, each re-armed in a loop: every call is
// interrupted once, at or after its deadline (none missed, none cut short
// by a signal meant for an earlier call), and descriptors, threads and
// memory stay flat. The short slice runs in make test; -scale.full (make
// stress) runs the two cases: 2,000 goroutines with 1-3 s
// deadlines, then with 10-100 ms (a storm of interrupts).
func TestDeadlineScale(t *testing.T) {
	type cfg struct {
		n          int
		dmin, dmax time.Duration
		dur        time.Duration
	}
	cfgs := []cfg{{300, 100 * time.Millisecond, 300 * time.Millisecond, 8 * time.Second}, {200, 10 * time.Millisecond, 100 * time.Millisecond, 6 * time.Second}}
	if *scaleFull {
		cfgs = []cfg{{2000, time.Second, 3 * time.Second, 20 * time.Second}, {2000, 10 * time.Millisecond, 100 * time.Millisecond, 20 * time.Second}}
	}
	if testing.Short() {
		cfgs = []cfg{{100, 10 * time.Millisecond, 50 * time.Millisecond, 3 * time.Second}}
	}
	for _, c := range cfgs {
		t.Run(fmt.Sprintf("n=%d/%v-%v", c.n, c.dmin, c.dmax), func(t *testing.T) {
			s := runScale(t, c.n, c.dmin, c.dmax, c.dur)
			t.Log(s)
			if s.missed.Load() != 0 || s.early.Load() != 0 || s.notTimeout.Load() != 0 || s.noRecord.Load() != 0 {
				t.Fatalf("missed %d, cut short %d, not a timeout %d, without details %d", s.missed.Load(), s.early.Load(), s.notTimeout.Load(), s.noRecord.Load())
			}
			if s.calls.Load() < int64(c.n) {
				t.Fatalf("only %d calls", s.calls.Load())
			}
			// No interrupt was lost: every call came back, the slowest
			// well within the run (a lost interrupt leaves a call
			// blocked for good, and wg.Wait in runScale hangs).
			if s.fds[1] > s.fds[0] || s.threads[1] > s.threads[0]+4 || s.rssKiB[1] > s.rssKiB[0]+32*1024 {
				t.Fatalf("resources grew: %v", s)
			}
		})
	}
}
