package supervise

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// The master's signals: which it takes, and what each does.

// catchSignals makes the master a subreaper if it is to reap (Config.Reap,
// or pid 1), and starts delivering its signals: SIGHUP, SIGTERM, SIGINT,
// the ones it forwards and, when it reaps, SIGCHLD.
func (m *master) catchSignals() (chan os.Signal, error) {
	sigc := make(chan os.Signal, 32)
	sigs := append([]os.Signal{syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT}, m.c.Forward...)
	m.reap = m.c.Reap || os.Getpid() == 1
	if m.reap {
		if os.Getpid() != 1 {
			if err := setSubreaper(); err != nil {
				return nil, fmt.Errorf("supervise: becoming a subreaper: %w", err)
			}
		}
		sigs = append(sigs, syscall.SIGCHLD)
	}
	signal.Notify(sigc, sigs...)
	return sigc, nil
}

// signal acts on s: SIGHUP restarts, SIGTERM and SIGINT stop (a second one
// kills the workers), SIGCHLD reaps, and the rest go to a worker.
func (m *master) signal(s syscall.Signal) {
	switch s {
	case syscall.SIGHUP:
		m.restart("SIGHUP")
	case syscall.SIGTERM, syscall.SIGINT:
		if m.stopping {
			m.logf("%v again while stopping: killing the workers", s)
			for p := range m.live {
				p.cmd.Process.Kill()
			}
			return
		}
		m.stop(fmt.Sprintf("on %v", s))
	case syscall.SIGCHLD:
		m.reapOrphans()
	default:
		// To the serving worker; before the first is ready, to the one
		// starting.
		p := m.cur
		if p == nil {
			p = m.next
		}
		if p == nil {
			m.logf("%v: no worker to pass it to", s)
			return
		}
		p.cmd.Process.Signal(s)
	}
}
