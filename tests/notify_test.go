package tests

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// os/signal keeps delivering after the guard is installed.
func TestSignalNotify(t *testing.T) {
	stop := faultLoop(t, 2)
	defer stop()
	// The guarded signals too: sent with kill(), they are asynchronous to
	// Go (os/signal delivers them), and to cgoguard none is a fault.
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGINT, syscall.SIGTERM,
		syscall.SIGABRT, syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGILL} {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, sig)
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-ch:
			if got != sig {
				t.Errorf("got %v, want %v", got, sig)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%v not delivered", sig)
		}
		signal.Stop(ch)
	}
}
