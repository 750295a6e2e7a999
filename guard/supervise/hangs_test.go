package supervise

import (
	"bufio"
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// A test that waits (for a channel, a read, a process) waits with a
// deadline of a few seconds, and on a timeout fails with every goroutine's
// stack: a hang becomes a failure that says where each goroutine was,
// rather than the whole go test -timeout.

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

// readLine reads a line from br, which reads c, for at most d.
func readLine(t testing.TB, c net.Conn, br *bufio.Reader, d time.Duration) (string, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	line, err := br.ReadString('\n')
	if errors.Is(err, os.ErrDeadlineExceeded) {
		failHung(t, "reading %v: no line within %v (read %q)", c.RemoteAddr(), d, line)
	}
	return line, err
}

// waitTimeout is how long a test waits for anything that should happen at
// once, on a loaded machine.
const waitTimeout = 10 * time.Second

// awaitGroup waits for wg, for at most d.
func awaitGroup(t testing.TB, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	await(t, done, d, what)
}
