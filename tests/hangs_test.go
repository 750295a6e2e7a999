package tests

import (
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
