// Package testwait gives the module's tests waits with a deadline: a wait
// (for a channel, a read, a process) that times out fails the test with
// every goroutine's stack, so that a hang becomes a failure that says where
// each goroutine was, rather than the whole go test -timeout.
package testwait

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// Timeout bounds a wait for what should happen at once, on a loaded
// machine.
const Timeout = 10 * time.Second

// FailHung fails t with what did not happen and a dump of every goroutine.
func FailHung(t testing.TB, format string, args ...any) {
	t.Helper()
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Fatalf(format+"\n\ngoroutines:\n%s", append(args, buf)...)
}

// Await receives from ch, for at most d.
func Await[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		FailHung(t, "%s: nothing within %v", what, d)
		panic("unreachable")
	}
}

// AwaitGroup waits for wg, for at most d.
func AwaitGroup(t testing.TB, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	Await(t, done, d, what)
}
