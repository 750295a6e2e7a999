// Command symwarmprog is a helper for tests/symbolizer_test.go: n goroutines,
// each on a thread of its own, take their first guarded fault at the same
// moment (the process's first symbolization of C frames), and the program
// prints how much anonymous memory the process gained, in KiB:
//
//	rssanon-growth-kib <n>
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
	n := flag.Int("n", 1, "goroutines faulting at once")
	flag.Parse()
	if err := guard.Install(); err != nil {
		fmt.Println("install:", err)
		os.Exit(1)
	}
	// Threads first, so their creation is not counted.
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, *n)
	for i := 0; i < *n; i++ {
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
	before := rssAnonKiB()
	close(start)
	done.Wait()
	after := rssAnonKiB()
	for i, err := range errs {
		var ce *guard.CrashError
		if !errors.As(err, &ce) || len(ce.Frames) == 0 || ce.Frames[0].Function != "pl_null_write" {
			fmt.Printf("goroutine %d: %v\n", i, err)
			os.Exit(1)
		}
	}
	fmt.Println("rssanon-growth-kib", after-before)
}

func rssAnonKiB() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			kib, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				panic(err)
			}
			return kib
		}
	}
	panic("no RssAnon in /proc/self/status")
}
