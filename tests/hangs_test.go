package tests

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// A test that waits (for a channel, a process, a log line, an answer) waits
// with a deadline of seconds, and on a timeout fails with every goroutine's
// stack: a hang becomes a failure that says where each goroutine was,
// rather than the whole go test -timeout.

// waitTimeout bounds a wait for what should happen at once, on a loaded
// machine.
const waitTimeout = 10 * time.Second

// failHung fails t with what did not happen and a dump of every goroutine.
func failHung(t testing.TB, format string, args ...any) {
	t.Helper()
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Fatalf(format+"\n\ngoroutines:\n%s", append(args, buf)...)
}

// await receives from ch, for at most d.
func await[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		failHung(t, "%s: nothing within %v", what, d)
		panic("unreachable")
	}
}

// awaitGroup waits for wg, for at most d.
func awaitGroup(t testing.TB, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	await(t, done, d, what)
}
