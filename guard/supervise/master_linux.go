package supervise

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// The master's state machine (listen_linux.go holds its sockets,
// process_linux.go starts and waits for its workers, reap_linux.go reaps
// orphans, signals_linux.go takes its signals).
//
// One goroutine (run) owns all the state; each worker has one
// goroutine that reads its control socket and one that waits for it (the
// only Wait of that child); both, the signals and the timers post events.

type evKind int

const (
	evMsg          evKind = iota // a line from a worker
	evExit                       // a worker's Wait returned
	evStartTimeout               // a worker was not ready in time
	evKill                       // a worker's drain or dump time is over
	evStart                      // the backoff after a death is over
)

type event struct {
	kind evKind
	p    *proc
	msg  string
	err  error
}

// proc is one worker.
type proc struct {
	pid      int
	gen      int
	cmd      *exec.Cmd
	ctrl     *net.UnixConn
	started  time.Time
	readyAt  time.Time
	lastBeat time.Time
	ready    bool
	drained  bool // told to drain
	hung     bool
	failure  string // why it was killed before it was ready
	timers   []*time.Timer
}

type master struct {
	c      *Config
	logf   func(format string, args ...any)
	exe    string
	ls     []net.Listener
	events chan event
	done   chan struct{}

	cur, next *proc
	live      map[*proc]bool
	gen       int
	everReady bool
	again     bool // a restart was asked for during one
	stopping  bool
	fatal     error
	deaths    []time.Time
	backoff   time.Duration
	backoffT  *time.Timer

	reap        bool      // reap orphans (reap_linux.go)
	reapPending bool      // look for orphans again on the next tick
	reapedAt    time.Time // the last look
}

func newMaster(c *Config) *master {
	m := &master{
		c:       c,
		events:  make(chan event, 64),
		done:    make(chan struct{}),
		live:    make(map[*proc]bool),
		backoff: c.MinBackoff,
	}
	m.logf = func(format string, args ...any) {
		c.Logger.Printf("master pid %d: "+format, append([]any{os.Getpid()}, args...)...)
	}
	return m
}

func (m *master) post(e event) {
	select {
	case m.events <- e:
	case <-m.done:
	}
}

func notify(state string) {
	daemon.SdNotify(false, state)
}

func (m *master) run() (err error) {
	defer close(m.done)
	exe, err := executablePath()
	if err != nil {
		return fmt.Errorf("supervise: the executable's path: %w", err)
	}
	m.exe = exe
	if m.c.PIDFile != "" {
		if err := writePIDFile(m.c.PIDFile, os.Getpid()); err != nil {
			return fmt.Errorf("supervise: pid file: %w", err)
		}
		defer os.Remove(m.c.PIDFile)
	}
	if m.ls, err = m.listen(); err != nil {
		return err
	}
	// A worker inherits its standard output and error, the control socket
	// and the listeners: nothing else the master was started with (or C
	// code opened without O_CLOEXEC).
	closeOnExecAll()
	defer func() {
		for _, l := range m.ls {
			l.Close()
		}
	}()

	sigc, err := m.catchSignals()
	if err != nil {
		return err
	}
	defer signal.Stop(sigc)

	var watchdog <-chan time.Time
	if d, _ := daemon.SdWatchdogEnabled(false); d > 0 {
		t := time.NewTicker(d / 2)
		defer t.Stop()
		watchdog = t.C
		notify(daemon.SdNotifyWatchdog)
	}
	tick := time.NewTicker(tickInterval(m.c.Heartbeat))
	defer tick.Stop()

	m.logf("listening on %s", listenerAddrs(m.ls))
	if err := m.spawn(); err != nil {
		return err
	}
	for {
		if (m.stopping || m.fatal != nil) && len(m.live) == 0 {
			if m.fatal != nil {
				return m.fatal
			}
			m.logf("stopped")
			return nil
		}
		select {
		case s := <-sigc:
			m.signal(s.(syscall.Signal))
		case e := <-m.events:
			m.handle(e)
		case <-tick.C:
			m.checkHeartbeats()
			if m.reap && (m.reapPending || time.Since(m.reapedAt) >= time.Second) {
				m.reapOrphans()
			}
		case <-watchdog:
			notify(daemon.SdNotifyWatchdog)
		}
	}
}

func tickInterval(hb time.Duration) time.Duration {
	if hb > 0 {
		return min(max(hb/4, 10*time.Millisecond), time.Second)
	}
	return time.Second
}

func (m *master) stop(why string) {
	m.stopping = true
	notify(daemon.SdNotifyStopping)
	m.logf("stopping %s: draining (bound %v)", why, m.c.StopTimeout)
	if m.backoffT != nil {
		m.backoffT.Stop()
	}
	for p := range m.live {
		m.drain(p, m.c.StopTimeout)
	}
}

// fail makes run return err once every worker is gone.
func (m *master) fail(err error) {
	if m.fatal != nil {
		return
	}
	m.fatal = err
	m.logf("%v", err)
	if m.backoffT != nil {
		m.backoffT.Stop()
	}
	for p := range m.live {
		p.cmd.Process.Kill()
	}
}

func (m *master) restart(why string) {
	switch {
	case m.stopping || m.fatal != nil:
		return
	case m.next != nil:
		if !m.again {
			m.logf("restart (%s) asked for during one: one more follows it", why)
		}
		m.again = true
		return
	case m.cur == nil:
		m.logf("restart (%s) ignored: no worker serves; one is due to start", why)
		return
	}
	m.logf("graceful restart: %s", why)
	notify(daemon.SdNotifyReloading + "\n" + strings.TrimSuffix(daemon.SdNotifyMonotonicUsec(), "\n"))
	if err := m.spawn(); err != nil {
		m.logf("restart failed: %v; worker pid %d keeps serving", err, m.cur.pid)
		notify(daemon.SdNotifyReady)
	}
}

// drain tells p to drain within bound, and kills it a second after.
func (m *master) drain(p *proc, bound time.Duration) {
	if p.drained {
		return
	}
	p.drained = true
	if m.cur == p {
		m.cur = nil
	}
	if m.next == p {
		m.next = nil
	}
	p.ctrl.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprintf(p.ctrl, "drain %d\n", bound.Nanoseconds()); err != nil {
		m.logf("worker pid %d: telling it to drain: %v; killing it", p.pid, err)
		p.cmd.Process.Kill()
		return
	}
	p.timers = append(p.timers, time.AfterFunc(bound+time.Second, func() {
		m.post(event{kind: evKill, p: p, msg: "did not drain within " + bound.String()})
	}))
}

func (m *master) handle(e event) {
	p := e.p
	switch e.kind {
	case evMsg:
		if !m.live[p] {
			return
		}
		cmd, arg, _ := strings.Cut(e.msg, " ")
		switch cmd {
		case "ready":
			m.ready(p)
		case "beat":
			p.lastBeat = time.Now()
		case "restart":
			if p == m.cur {
				m.restart("worker pid " + strconv.Itoa(p.pid) + ": " + arg)
			}
		case "dumped":
			if p.hung {
				p.cmd.Process.Kill()
			}
		}
	case evStartTimeout:
		if m.live[p] && !p.ready && !p.drained {
			p.failure = fmt.Sprintf("worker pid %d not ready within %v", p.pid, m.c.StartTimeout)
			m.logf("%s: killing it", p.failure)
			p.cmd.Process.Kill()
		}
	case evKill:
		if m.live[p] {
			m.logf("worker pid %d %s: killing it", p.pid, e.msg)
			p.cmd.Process.Kill()
		}
	case evStart:
		m.backoffT = nil
		if m.stopping || m.fatal != nil || m.cur != nil || m.next != nil {
			return
		}
		if err := m.spawn(); err != nil {
			m.logf("%v", err)
			m.died(nil)
		}
	case evExit:
		m.exited(p, e.err)
	}
}

func (m *master) ready(p *proc) {
	if p != m.next || p.ready {
		return
	}
	p.ready, p.readyAt, p.lastBeat = true, time.Now(), time.Now()
	m.next = nil
	old := m.cur
	m.cur = p
	m.everReady = true
	if old != nil {
		m.logf("worker pid %d ready in %v; draining worker pid %d", p.pid, p.readyAt.Sub(p.started).Round(time.Millisecond), old.pid)
		m.drain(old, m.c.DrainTimeout)
	} else {
		m.logf("worker pid %d ready in %v", p.pid, p.readyAt.Sub(p.started).Round(time.Millisecond))
	}
	notify(daemon.SdNotifyReady)
	if old == nil {
		trimMappings() // start-up is over
	}
	if m.again {
		m.again = false
		m.restart("asked for during the last one")
	}
}

func (m *master) exited(p *proc, err error) {
	if !m.live[p] {
		return
	}
	delete(m.live, p)
	for _, t := range p.timers {
		t.Stop()
	}
	p.ctrl.Close()
	// Keep the master small: what starting and watching the worker took is
	// garbage now; return it rather than let the heap grow to the
	// collector's first goal.
	defer func() {
		debug.FreeOSMemory()
		trimMappings()
	}()
	status := "exit status 0"
	if err != nil {
		status = err.Error()
	}
	switch {
	case p.drained:
		m.logf("worker pid %d drained and exited (%s)", p.pid, status)
	case m.stopping || m.fatal != nil:
		m.logf("worker pid %d exited (%s)", p.pid, status)
		if p == m.cur {
			m.cur = nil
		}
		if p == m.next {
			m.next = nil
		}
	case p == m.next:
		m.next = nil
		why := p.failure
		if why == "" {
			why = fmt.Sprintf("worker pid %d exited before it was ready (%s)", p.pid, status)
		}
		if !m.everReady {
			m.fail(errors.New("supervise: " + why))
			return
		}
		if m.cur != nil {
			m.logf("restart failed: %s; worker pid %d keeps serving", why, m.cur.pid)
			notify(daemon.SdNotifyReady)
			m.again = false
			return
		}
		m.logf("%s", why)
		m.died(p)
	case p == m.cur:
		m.cur = nil
		what := "died"
		if p.hung {
			what = "hung and was killed"
		}
		if m.next != nil {
			m.logf("worker pid %d %s (%s) during a restart; worker pid %d is starting", p.pid, what, status, m.next.pid)
			m.countDeath()
			return
		}
		m.logf("worker pid %d %s (%s)", p.pid, what, status)
		m.died(p)
	}
}

// countDeath records a death and fails on a crash loop.
func (m *master) countDeath() bool {
	now := time.Now()
	keep := m.deaths[:0]
	for _, t := range m.deaths {
		if now.Sub(t) < m.c.CrashWindow {
			keep = append(keep, t)
		}
	}
	m.deaths = append(keep, now)
	if len(m.deaths) >= m.c.CrashLoop {
		m.fail(fmt.Errorf("supervise: crash loop: %d worker deaths within %v", len(m.deaths), m.c.CrashWindow))
		return false
	}
	return true
}

// died handles the death of the serving worker p (nil: a start failed):
// a restart after the backoff.
func (m *master) died(p *proc) {
	if !m.countDeath() {
		return
	}
	if p != nil && p.ready && time.Since(p.readyAt) >= m.c.MaxBackoff {
		m.backoff = m.c.MinBackoff
	}
	d := m.backoff
	m.backoff = min(2*m.backoff, m.c.MaxBackoff)
	m.logf("starting a new worker in %v", d)
	m.backoffT = time.AfterFunc(d, func() { m.post(event{kind: evStart}) })
}

// checkHeartbeats replaces a ready worker that has reported no progress
// within c.Heartbeat, after asking it for its goroutines.
func (m *master) checkHeartbeats() {
	p := m.cur
	if m.c.Heartbeat <= 0 || p == nil || p.hung || p.drained {
		return
	}
	if since := time.Since(p.lastBeat); since > m.c.Heartbeat {
		p.hung = true
		m.logf("worker pid %d reported no progress for %v: asking for its goroutines, then killing it", p.pid, since.Round(time.Millisecond))
		p.ctrl.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := fmt.Fprintf(p.ctrl, "dump\n"); err != nil {
			p.cmd.Process.Kill()
			return
		}
		p.timers = append(p.timers, time.AfterFunc(2*time.Second, func() {
			m.post(event{kind: evKill, p: p, msg: "did not write its goroutines within 2s"})
		}))
	}
}
