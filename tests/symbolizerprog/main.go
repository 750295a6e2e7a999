// Command symbolizerprog is a helper for tests/symbols_test.go: it measures
// what symbolizing C frames costs the process in C memory, and prints
//
//	growth-kib <KiB>
//
// With -n N, N goroutines, each on a thread of its own, take their first
// guarded fault at the same moment (the process's first symbolization);
// the growth is of RssAnon. With -repeat N, one goroutine takes N faults at
// a PC that symbolizes to two frames (an inlined function) after a warm-up;
// the growth is of RssAnon less what the Go runtime holds from the OS, that
// is, of C memory.
//
// It is not meant to be run by hand.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

func main() {
	n := flag.Int("n", 0, "goroutines taking their first fault at once")
	repeat := flag.Int("repeat", 0, "faults at one inlined PC, one goroutine")
	flag.Parse()
	if err := guard.Install(); err != nil {
		fail("install: %v", err)
	}
	switch {
	case *n > 0:
		fmt.Println("growth-kib", concurrentFirst(*n))
	case *repeat > 0:
		fmt.Println("growth-kib", repeated(*repeat))
	default:
		fail("give -n or -repeat")
	}
}

func concurrentFirst(n int) int {
	// Threads first, so their creation is not counted.
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		ready.Add(1)
		done.Add(1)
		go func(i int) {
			defer done.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ready.Done()
			<-start
			errs[i] = guard.Call(payload.NullWrite, nil)
		}(i)
	}
	ready.Wait()
	runtime.GC()
	before := statusKiB("RssAnon:")
	close(start)
	done.Wait()
	after := statusKiB("RssAnon:")
	for i, err := range errs {
		checkFrames(err, fmt.Sprint("goroutine ", i), "pl_null_write")
	}
	return after - before
}

func repeated(n int) int {
	runtime.LockOSThread()
	fault := func() {
		checkFrames(guard.Call(payload.InlinedNullWrite, nil), "inlined fault", "pl_inlined_store", "pl_inlined_null_write")
	}
	for i := 0; i < 1000; i++ {
		fault()
	}
	// Two halves, measured apart: a leak grows C memory in both, a one-off
	// (a thread the runtime starts on a loaded machine, with its stack and
	// malloc arena) in one only. The smaller growth, doubled, is reported.
	half := func() int {
		runtime.GC()
		before := statusKiB("RssAnon:") - goHeldKiB()
		for i := 0; i < n/2; i++ {
			fault()
		}
		runtime.GC()
		return statusKiB("RssAnon:") - goHeldKiB() - before
	}
	return 2 * min(half(), half())
}

// checkFrames fails unless err is a CrashError whose innermost frames are
// the functions named.
func checkFrames(err error, what string, funcs ...string) {
	var ce *guard.CrashError
	if !errors.As(err, &ce) || len(ce.Frames) < len(funcs) {
		fail("%s: want a CrashError with frames %v, got %v", what, funcs, err)
	}
	for i, fn := range funcs {
		if ce.Frames[i].Function != fn {
			fail("%s: frame %d is %q, want %q (frames %v)", what, i, ce.Frames[i].Function, fn, ce.Frames)
		}
	}
}

// goHeldKiB is what the Go runtime holds from the OS and has not released:
// an upper bound of Go's share of RSS.
func goHeldKiB() int {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int((m.Sys - m.HeapReleased) / 1024)
}

func statusKiB(field string) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fail("%v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kib, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				fail("%s: %v", field, err)
			}
			return kib
		}
	}
	fail("no %s in /proc/self/status", field)
	return 0
}

func fail(format string, args ...any) {
	fmt.Printf(format+"\n", args...)
	os.Exit(1)
}
