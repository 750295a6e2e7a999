package supervise

import (
	"bufio"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/internal/testwait"
)

// Waits with a deadline that fail with every goroutine's stack
// (internal/testwait), under the short names the tests use.

const waitTimeout = testwait.Timeout

func failHung(t testing.TB, format string, args ...any) {
	t.Helper()
	testwait.FailHung(t, format, args...)
}

func await[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	return testwait.Await(t, ch, d, what)
}

func awaitGroup(t testing.TB, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	testwait.AwaitGroup(t, wg, d, what)
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
