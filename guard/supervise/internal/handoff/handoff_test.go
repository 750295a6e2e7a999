//go:build linux

package handoff

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
)

// waitTimeout bounds every wait of these tests (a child, a read): a hang
// fails within seconds, with every goroutine's stack.
const waitTimeout = 10 * time.Second

func failHung(t *testing.T, format string, args ...any) {
	t.Helper()
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Fatalf(format+"\n\ngoroutines:\n%s", append(args, buf)...)
}

// runChild runs cmd, for at most waitTimeout.
func runChild(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitTimeout):
		cmd.Process.Kill()
		failHung(t, "%v: not done within %v", cmd.Args, waitTimeout)
	}
}

func nonblocking(t *testing.T, l net.Listener) bool {
	t.Helper()
	rc, err := l.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var ferr error
	rc.Control(func(fd uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		flags = int(r)
		if e != 0 {
			ferr = e
		}
	})
	if ferr != nil {
		t.Fatal(ferr)
	}
	return flags&syscall.O_NONBLOCK != 0
}

// TestDupListenerStaysNonblocking: passing a listener to a child through
// DupListener leaves the shared socket non-blocking; (*net.TCPListener).File
// and Fd, which os/exec calls, switch it to blocking for every holder.
func TestDupListenerStaysNonblocking(t *testing.T) {
	pass := func(f *os.File) {
		t.Helper()
		cmd := exec.Command("/bin/true")
		cmd.ExtraFiles = []*os.File{f}
		runChild(t, cmd)
		f.Close()
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := DupListener(l)
	if err != nil {
		t.Fatal(err)
	}
	pass(f)
	if !nonblocking(t, l) {
		t.Error("the socket is blocking after DupListener and exec")
	}

	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	f2, err := l2.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	pass(f2)
	if nonblocking(t, l2) {
		t.Log("File and Fd no longer switch the socket to blocking mode")
	} else {
		t.Log("as expected, File and Fd switched the shared socket to blocking mode")
	}
}

func TestStrip(t *testing.T) {
	env := []string{"PATH=/bin", "NOTIFY_SOCKET=/run/n", "WATCHDOG_USEC=1", "WATCHDOG_PID=2",
		"LISTEN_PID=3", "LISTEN_FDS=1", "LISTEN_FDNAMES=x", EnvWorker + "=3,1", "HOME=/root", "NOTIFY=1"}
	got := Strip(env)
	if want := []string{"PATH=/bin", "HOME=/root", "NOTIFY=1"}; !slices.Equal(got, want) {
		t.Errorf("Strip: %q, want %q", got, want)
	}
}

// TestControlPair: both ends are close-on-exec, and a child that is given
// the worker's end through ExtraFiles (and nothing else) holds it.
func TestControlPair(t *testing.T) {
	m, w, err := ControlPair()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cmd := exec.Command("/bin/sh", "-c", "echo hello >&3")
	cmd.ExtraFiles = []*os.File{w}
	runChild(t, cmd)
	w.Close()
	m.SetReadDeadline(time.Now().Add(waitTimeout))
	buf := make([]byte, 16)
	n, err := m.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		failHung(t, "the control socket: nothing within %v", waitTimeout)
	}
	if string(buf[:n]) != "hello\n" {
		t.Errorf("read %q", buf[:n])
	}
	// The child is gone and the master's copy of the worker's end is
	// closed: end of file.
	if n, err := m.Read(buf); errors.Is(err, os.ErrDeadlineExceeded) {
		failHung(t, "the control socket: no end of file within %v", waitTimeout)
	} else if n != 0 || err == nil {
		t.Errorf("read %d, %v; want end of file", n, err)
	}
}
