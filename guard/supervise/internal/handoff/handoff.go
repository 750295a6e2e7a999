//go:build linux

// Package handoff is the protocol between a supervise master and its
// workers: which descriptors a worker inherits, the environment that names
// them, and the environment no worker may inherit.
//
// A worker starts with the control socket at descriptor 3 and the listening
// sockets from descriptor 4 on, in order. EnvWorker holds "ctrl-fd,count".
package handoff

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// EnvWorker marks a worker and describes its descriptors.
const EnvWorker = "CGOGUARD_SUPERVISE_WORKER"

// CtrlFD is the control socket's descriptor in a worker; listeners follow.
const CtrlFD = 3

// stripped are the variables that describe the master's own relation to its
// service manager, and this protocol's own; a worker that inherited them
// (or a process it spawns) would take them for its own.
var stripped = []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", EnvWorker}

// Strip returns env without the service manager's variables (NOTIFY_SOCKET,
// WATCHDOG_*, LISTEN_*) and this protocol's.
func Strip(env []string) []string {
	out := make([]string, 0, len(env))
next:
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		for _, s := range stripped {
			if name == s {
				continue next
			}
		}
		if strings.HasPrefix(name, "WATCHDOG_") || strings.HasPrefix(name, "LISTEN_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// WorkerEnv returns the EnvWorker assignment for n listeners.
func WorkerEnv(n int) string {
	return EnvWorker + "=" + strconv.Itoa(CtrlFD) + "," + strconv.Itoa(n)
}

// DupListener returns a new descriptor for l's socket, close-on-exec, as a
// file. It does not use (*net.TCPListener).File: the descriptor is
// duplicated from the raw one, so the file is known to be non-blocking and
// passing it to a child (os/exec calls Fd) does not switch the socket, which
// every holder shares, to blocking mode.
func DupListener(l net.Listener) (*os.File, error) {
	sc, ok := l.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("handoff: %T has no raw descriptor", l)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = dupCloexec(int(fd))
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, fmt.Errorf("handoff: dup: %w", derr)
	}
	return os.NewFile(uintptr(nfd), "listener:"+l.Addr().String()), nil
}

// Inherited reads EnvWorker: ok is false outside a worker. It returns the
// control connection and the listeners, and unsets EnvWorker so that no
// process the worker spawns sees it.
func Inherited() (ctrl *net.UnixConn, ls []net.Listener, ok bool, err error) {
	v, ok := os.LookupEnv(EnvWorker)
	if !ok {
		return nil, nil, false, nil
	}
	os.Unsetenv(EnvWorker)
	a, b, found := strings.Cut(v, ",")
	cfd, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !found || err1 != nil || err2 != nil || cfd < 0 || n < 0 {
		return nil, nil, true, fmt.Errorf("handoff: bad %s=%q", EnvWorker, v)
	}
	syscall.CloseOnExec(cfd)
	f := os.NewFile(uintptr(cfd), "supervise-ctrl")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, nil, true, fmt.Errorf("handoff: control socket: %w", err)
	}
	uc, isUnix := c.(*net.UnixConn)
	if !isUnix {
		c.Close()
		return nil, nil, true, errors.New("handoff: control descriptor is not a unix socket")
	}
	for i := 0; i < n; i++ {
		fd := cfd + 1 + i
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "listener")
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			uc.Close()
			return nil, nil, true, fmt.Errorf("handoff: listener %d (fd %d): %w", i, fd, err)
		}
		ls = append(ls, l)
	}
	return uc, ls, true, nil
}

// ControlPair returns a connected pair of stream sockets, both
// close-on-exec: the master's end as a connection, the worker's as a file
// to pass to it.
func ControlPair() (master *net.UnixConn, worker *os.File, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("handoff: socketpair: %w", err)
	}
	mf := os.NewFile(uintptr(fds[0]), "supervise-ctrl")
	c, err := net.FileConn(mf)
	mf.Close()
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, err
	}
	return c.(*net.UnixConn), os.NewFile(uintptr(fds[1]), "supervise-ctrl"), nil
}
