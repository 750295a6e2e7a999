//go:build linux

package tests

// End-to-end tests of guard/supervise: examples/service and
// tests/superviseprog run as real masters with real workers, on loopback,
// under real HTTP load; systemd is a unixgram socket with SO_PASSCRED.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/internal/testbuf"
	"golang.org/x/sys/unix"
)

// serviceBin and superviseProg build the two masters (once per test binary
// run).
func serviceBin(t *testing.T) string {
	t.Helper()
	return sharedProgram(t, "github.com/cgoguard/cgoguard/examples/service")
}

func superviseProg(t *testing.T) string {
	t.Helper()
	return sharedProgram(t, "github.com/cgoguard/cgoguard/tests/superviseprog")
}

// master is a running master process.
type master struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	out  *testbuf.Buffer
	done chan struct{}
	err  error
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startMaster runs cmd as a master; addr is where it serves. The test's
// cleanup kills it and every child it has left, and fails if any survive.
func startMaster(t *testing.T, cmd *exec.Cmd, addr string) *master {
	t.Helper()
	m := &master{t: t, cmd: cmd, addr: addr, out: &testbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = m.out, m.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		m.err = cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		select {
		case <-m.done:
		default:
			kids := childrenOf(cmd.Process.Pid)
			cmd.Process.Kill()
			for _, k := range kids {
				syscall.Kill(k, syscall.SIGKILL)
			}
			await(t, m.done, waitTimeout, "the killed master's exit")
		}
		if t.Failed() {
			t.Logf("master output:\n%s", m.out)
		}
	})
	return m
}

func (m *master) pid() int { return m.cmd.Process.Pid }

// waitExit waits for the master to exit and returns its exit code.
func (m *master) waitExit(d time.Duration) int {
	m.t.Helper()
	await(m.t, m.done, d, "the master's exit")
	var ee *exec.ExitError
	if errors.As(m.err, &ee) {
		return ee.ExitCode()
	}
	if m.err != nil {
		m.t.Fatalf("master: %v", m.err)
	}
	return 0
}

// waitLog waits for the output to match re and returns the match.
func (m *master) waitLog(re string, d time.Duration) []string {
	m.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(d)
	for {
		if s := rx.FindStringSubmatch(m.out.String()); s != nil {
			return s
		}
		if time.Now().After(deadline) {
			if d == 0 {
				m.t.Fatalf("no output matching %q", re)
			}
			failHung(m.t, "no output matching %q within %v", re, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// get makes one request on a new connection.
func get(addr, path string) (int, string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// workerPid is the pid answering /pid, once the service answers.
func (m *master) workerPid() int {
	m.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, err := get(m.addr, "/pid")
		if err == nil && code == 200 {
			pid, err := strconv.Atoi(strings.TrimSpace(body))
			if err != nil {
				m.t.Fatalf("/pid: %q", body)
			}
			return pid
		}
		if time.Now().After(deadline) {
			failHung(m.t, "/pid: %d %q %v", code, body, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitNewWorker waits for /pid to answer a pid other than old.
func (m *master) waitNewWorker(old int, d time.Duration) int {
	m.t.Helper()
	deadline := time.Now().Add(d)
	for {
		if pid := m.workerPid(); pid != old {
			return pid
		}
		if time.Now().After(deadline) {
			failHung(m.t, "worker pid %d still serves after %v", old, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitChildren waits until the master has exactly n children.
func (m *master) waitChildren(n int, d time.Duration) []int {
	m.t.Helper()
	deadline := time.Now().Add(d)
	for {
		kids := childrenOf(m.pid())
		if len(kids) == n {
			return kids
		}
		if time.Now().After(deadline) {
			failHung(m.t, "master has children %v, want %d after %v", kids, n, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procStat returns the fields of /proc/pid/stat after the command name:
// state, ppid, pgrp, ...
func procStat(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// childrenOf lists pid's children (zombies included), from /proc.
func childrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStat(p); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, p)
		}
	}
	return kids
}

// gone reports whether pid has exited (no process, or a zombie).
func gone(pid int) bool {
	f := procStat(pid)
	return f == nil || f[0] == "Z"
}

func waitGone(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !gone(pid) {
		if time.Now().After(deadline) {
			failHung(t, "pid %d still running after %v", pid, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countFDs(pid int) int {
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(ents)
}

// loadGen is the load: clients/2 clients on keep-alive connections and
// clients/2 on a new connection per request, each with one request in
// flight at a time.
type loadGen struct {
	ok, failed, refused atomic.Int64
	mu                  sync.Mutex
	errs                []string
	stop                context.CancelFunc
	wg                  sync.WaitGroup
}

func startLoad(addr, path string, clients int) *loadGen {
	ctx, cancel := context.WithCancel(context.Background())
	g := &loadGen{stop: cancel}
	for i := range clients {
		keepAlive := i%2 == 0
		g.wg.Go(func() {
			tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Timeout: 20 * time.Second, Transport: tr}
			for ctx.Err() == nil {
				resp, err := c.Get("http://" + addr + path)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err == nil {
					g.ok.Add(1)
					continue
				}
				g.failed.Add(1)
				if errors.Is(err, syscall.ECONNREFUSED) {
					g.refused.Add(1)
				}
				g.mu.Lock()
				if len(g.errs) < 20 {
					g.errs = append(g.errs, fmt.Sprintf("keep-alive=%v: %v", keepAlive, err))
				}
				g.mu.Unlock()
			}
		})
	}
	return g
}

// finish stops the clients and waits for them (each request is bounded by
// its client's 20s timeout).
func (g *loadGen) finish(t testing.TB) {
	t.Helper()
	g.stop()
	awaitGroup(t, &g.wg, 30*time.Second, "the load's clients")
}

// TestSuperviseRestartsUnderLoad: 16 clients (8 keep-alive, 8 new
// connections) on examples/service while it restarts 20 times, by SIGHUP
// and by /taint in turn: no request fails, the master keeps its pid, each
// restart brings a new worker in its own process group, one worker is left,
// and SIGTERM ends it all with exit 0.
func TestSuperviseRestartsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("the load tests run without -short (make test-go, make test-supervise)")
	}
	addr := freeAddr(t)
	m := startMaster(t, exec.Command(serviceBin(t), "-addr", addr, "-drain", "5s"), addr)
	pid := m.workerPid()
	if pg := procStat(pid); len(pg) < 3 || pg[2] == strconv.Itoa(m.pid()) || pg[2] != strconv.Itoa(pid) {
		t.Errorf("worker pid %d: process group %v, want its own", pid, pg)
	}

	g := startLoad(addr, "/work?ms=2", 16)
	time.Sleep(300 * time.Millisecond)
	const restarts = 20
	for i := range restarts {
		if i%2 == 0 {
			syscall.Kill(m.pid(), syscall.SIGHUP)
		} else if code, body, err := get(addr, "/taint"); err != nil || code != 500 || body != "Internal Server Error\n" {
			// guardhttp answers the status alone; the report goes to the
			// worker's log.
			t.Fatalf("/taint: %d %q %v", code, body, err)
		} else {
			m.waitLog(fmt.Sprintf(`level=ERROR msg="guardhttp: native fault in handler" worker=%d .*path=/taint .*response=500 error="guard: SIGABRT[^"]*" taint=process`, pid), 5*time.Second)
		}
		pid = m.waitNewWorker(pid, 15*time.Second)
		time.Sleep(150 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	g.finish(t)

	t.Logf("load: %d requests answered, %d failed, %d refused, %d restarts, master pid %d",
		g.ok.Load(), g.failed.Load(), g.refused.Load(), restarts, m.pid())
	if g.failed.Load() != 0 {
		t.Errorf("%d requests failed (%d refused): %v", g.failed.Load(), g.refused.Load(), g.errs)
	}
	if g.ok.Load() < 1000 {
		t.Errorf("only %d requests answered", g.ok.Load())
	}
	// The last old worker's drain may still be under way.
	for deadline := time.Now().Add(waitTimeout); strings.Count(m.out.String(), "drained and exited") < restarts && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	out := m.out.String()
	if n := strings.Count(out, "drained and exited"); n != restarts {
		t.Errorf("%d workers drained, want %d", n, restarts)
	}
	for _, s := range regexp.MustCompile(`master pid (\d+)`).FindAllStringSubmatch(out, -1) {
		if s[1] != strconv.Itoa(m.pid()) {
			t.Fatalf("a log line from master pid %s, want %d", s[1], m.pid())
		}
	}
	kids := m.waitChildren(1, 10*time.Second)
	if kids[0] != pid {
		t.Errorf("child %d, want the serving worker %d", kids[0], pid)
	}

	syscall.Kill(m.pid(), syscall.SIGTERM)
	if code := m.waitExit(15 * time.Second); code != 0 {
		t.Errorf("master exit code %d after SIGTERM, want 0", code)
	}
	if !gone(pid) {
		t.Errorf("worker pid %d outlived the master", pid)
	}
}

// TestSuperviseKill9: a worker killed with SIGKILL, twice, under the same
// load: it is replaced, no connection is refused, and the failures are at
// most the requests in flight when it died (16 clients, one each).
func TestSuperviseKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("the load tests run without -short (make test-go, make test-supervise)")
	}
	addr := freeAddr(t)
	m := startMaster(t, exec.Command(serviceBin(t), "-addr", addr), addr)
	pid := m.workerPid()
	g := startLoad(addr, "/work?ms=2", 16)
	time.Sleep(300 * time.Millisecond)
	for range 2 {
		syscall.Kill(pid, syscall.SIGKILL)
		pid = m.waitNewWorker(pid, 15*time.Second)
		time.Sleep(300 * time.Millisecond)
	}
	before := g.ok.Load()
	for deadline := time.Now().Add(waitTimeout); g.ok.Load() == before && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	answered := g.ok.Load() > before
	g.finish(t)
	t.Logf("load: %d requests answered, %d failed, %d refused, 2 workers killed: %v", g.ok.Load(), g.failed.Load(), g.refused.Load(), g.errs)
	if g.refused.Load() != 0 {
		t.Errorf("%d connections refused", g.refused.Load())
	}
	if f := g.failed.Load(); f > 2*16 {
		t.Errorf("%d requests failed, more than were in flight (at most 16 per kill)", f)
	}
	if !answered {
		t.Errorf("no request answered within %v after the second kill", waitTimeout)
	}
	m.waitLog(`worker pid \d+ died \(signal: killed\)`, time.Second)
	m.waitChildren(1, 5*time.Second)
}

// TestSuperviseStop: SIGTERM while a request is in flight: it is answered,
// the readiness endpoint fails from then on, the master exits 0, no child
// is left and the pid file is gone.
func TestSuperviseStop(t *testing.T) {
	addr := freeAddr(t)
	pidFile := filepath.Join(t.TempDir(), "service.pid")
	// superviseprog, not examples/service: its /sleep logs its entry,
	// so that the SIGTERM comes once the request is in the handler.
	m := startMaster(t, exec.Command(superviseProg(t), "-addr", addr, "-drain", "5s", "-pidfile", pidFile), addr)
	pid := m.workerPid()
	if b, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(m.pid()) {
		t.Errorf("pid file: %q %v, want %d", b, err, m.pid())
	}
	// A keep-alive connection to the worker, for the readiness endpoint.
	ka := &http.Client{Timeout: waitTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer ka.CloseIdleConnections()
	ready := func() int {
		resp, err := ka.Get("http://" + addr + "/ready")
		if err != nil {
			t.Fatalf("/ready: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := ready(); c != 200 {
		t.Fatalf("/ready before the stop: %d", c)
	}
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		c, b, err := get(addr, "/sleep?ms=1000")
		res <- result{c, b, err}
	}()
	m.waitLog(fmt.Sprintf(`worker pid %d: sleeping 1000 ms`, pid), waitTimeout)
	syscall.Kill(m.pid(), syscall.SIGTERM)
	m.waitLog(`worker pid \d+: draining`, 2*time.Second)
	if c := ready(); c != 503 {
		t.Errorf("/ready while draining: %d, want 503", c)
	}
	r := await(t, res, 2*waitTimeout, "the in-flight request's answer")
	if r.err != nil || r.code != 200 || r.body != strconv.Itoa(pid) {
		t.Errorf("in-flight request: %d %q %v", r.code, r.body, r.err)
	}
	if code := m.waitExit(10 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if !gone(pid) {
		t.Errorf("worker pid %d left behind", pid)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left: %v", err)
	}
	m.waitLog(`STOPPING|stopping on terminated`, time.Second)
}

func behaveFile(t *testing.T, how string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "behave")
	if err := os.WriteFile(p, []byte(how), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSuperviseCrashLoop: workers that die after start are restarted with
// doubling backoff, and the third death within the window ends the master
// with a non-zero exit and a clear message, no child left.
func TestSuperviseCrashLoop(t *testing.T) {
	addr := freeAddr(t)
	m := startMaster(t, exec.Command(superviseProg(t), "-addr", addr, "-behave", behaveFile(t, "die=100ms"),
		"-crashloop", "3", "-window", "30s", "-backoff", "50ms"), addr)
	if code := m.waitExit(20 * time.Second); code == 0 {
		t.Fatal("master exit code 0 after a crash loop")
	}
	out := m.out.String()
	if !strings.Contains(out, "crash loop: 3 worker deaths within 30s") {
		t.Errorf("no crash loop message")
	}
	for _, d := range []string{"starting a new worker in 50ms", "starting a new worker in 100ms"} {
		if !strings.Contains(out, d) {
			t.Errorf("no %q (the backoff doubles)", d)
		}
	}
	for _, s := range regexp.MustCompile(`started worker pid (\d+)`).FindAllStringSubmatch(out, -1) {
		if pid, _ := strconv.Atoi(s[1]); !gone(pid) {
			t.Errorf("worker pid %d left behind", pid)
		}
	}
}

// TestSuperviseHang: a worker whose requests stop completing is asked for
// its goroutines, killed and replaced; one that is idle, or whose requests
// complete, is not.
func TestSuperviseHang(t *testing.T) {
	addr := freeAddr(t)
	m := startMaster(t, exec.Command(superviseProg(t), "-addr", addr, "-heartbeat", "1s"), addr)
	pid := m.workerPid()
	// Idle, then busy with requests that complete: no hang.
	time.Sleep(time.Second)
	for range 8 {
		if code, _, err := get(addr, "/sleep?ms=200"); err != nil || code != 200 {
			t.Fatalf("/sleep: %d %v", code, err)
		}
	}
	if strings.Contains(m.out.String(), "no progress") {
		t.Fatal("a healthy worker was taken for hung")
	}
	go get(addr, "/hang") // fails when the worker is killed
	m.waitLog(fmt.Sprintf(`worker pid %d reported no progress`, pid), 5*time.Second)
	m.waitLog(fmt.Sprintf(`worker pid %d: goroutines, at the master's request:\n(?s:.*)goroutine \d+`, pid), 3*time.Second)
	m.waitLog(fmt.Sprintf(`worker pid %d hung and was killed`, pid), 5*time.Second)
	m.waitNewWorker(pid, 10*time.Second)
	m.waitChildren(1, 5*time.Second)
}

// TestSuperviseOrphan: a worker whose master is killed with SIGKILL finishes
// its in-flight request and exits.
func TestSuperviseOrphan(t *testing.T) {
	addr := freeAddr(t)
	m := startMaster(t, exec.Command(superviseProg(t), "-addr", addr, "-drain", "3s"), addr)
	pid := m.workerPid()
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		c, _, err := get(addr, "/sleep?ms=800")
		res <- result{c, err}
	}()
	m.waitLog(fmt.Sprintf(`worker pid %d: sleeping 800 ms`, pid), waitTimeout)
	syscall.Kill(m.pid(), syscall.SIGKILL)
	m.waitExit(5 * time.Second)
	if r := await(t, res, 2*waitTimeout, "the in-flight request's answer"); r.err != nil || r.code != 200 {
		t.Errorf("in-flight request: %d %v", r.code, r.err)
	}
	waitGone(t, pid, 5*time.Second)
	if !strings.Contains(m.out.String(), "the master is gone") {
		t.Error("the worker did not say why it drained")
	}
}

// notifyPeer is a unixgram socket standing in for systemd's notify socket;
// it records each message with its sender's pid (SO_PASSCRED).
type notifyPeer struct {
	path string
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []notifyMsg
	done chan struct{}
}

type notifyMsg struct {
	pid  int
	text string
	at   time.Time
}

func newNotifyPeer(t *testing.T) *notifyPeer {
	t.Helper()
	p := &notifyPeer{path: filepath.Join(t.TempDir(), "notify"), done: make(chan struct{})}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	p.conn = c
	rc, _ := c.SyscallConn()
	rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
	go func() {
		defer close(p.done)
		buf, oob := make([]byte, 4096), make([]byte, 1024)
		for {
			n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			msg := notifyMsg{text: string(buf[:n]), at: time.Now()}
			if scms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, s := range scms {
					if cred, err := unix.ParseUnixCredentials(&s); err == nil {
						msg.pid = int(cred.Pid)
					}
				}
			}
			p.mu.Lock()
			p.msgs = append(p.msgs, msg)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); await(t, p.done, waitTimeout, "the notify socket's reader") })
	return p
}

func (p *notifyPeer) messages() []notifyMsg {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.msgs)
}

// TestSuperviseNotify: with NOTIFY_SOCKET and WATCHDOG_USEC set, the
// master, and only the master, sends READY=1, then on SIGHUP RELOADING=1
// with MONOTONIC_USEC and READY=1 once the new worker serves, then on
// SIGTERM STOPPING=1, and WATCHDOG=1 throughout; the worker and what it
// spawns see none of the service manager's variables.
func TestSuperviseNotify(t *testing.T) {
	addr := freeAddr(t)
	peer := newNotifyPeer(t)
	cmd := exec.Command(superviseProg(t), "-addr", addr)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+peer.path, "WATCHDOG_USEC=200000",
		"LISTEN_PID=1", "LISTEN_FDS=1", "LISTEN_FDNAMES=stale")
	m := startMaster(t, cmd, addr)
	pid := m.workerPid()
	code, env, err := get(addr, "/env")
	if err != nil || code != 200 {
		t.Fatalf("/env: %d %v", code, err)
	}
	for _, v := range []string{"NOTIFY_SOCKET", "WATCHDOG_", "LISTEN_", "CGOGUARD_SUPERVISE"} {
		if strings.Contains(env, v) {
			t.Errorf("the worker's child sees %s:\n%s", v, env)
		}
	}
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	hup := ts.Nano() / 1000
	syscall.Kill(m.pid(), syscall.SIGHUP)
	m.waitNewWorker(pid, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // watchdog pings
	syscall.Kill(m.pid(), syscall.SIGTERM)
	if code := m.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}

	var seq []string
	watchdogs := 0
	for _, msg := range peer.messages() {
		if msg.pid != m.pid() {
			t.Errorf("%q sent by pid %d, not the master (%d)", msg.text, msg.pid, m.pid())
		}
		if msg.text == "WATCHDOG=1" {
			watchdogs++
			continue
		}
		if rest, ok := strings.CutPrefix(msg.text, "RELOADING=1\nMONOTONIC_USEC="); ok {
			usec, err := strconv.ParseInt(rest, 10, 64)
			if err != nil || usec < hup || usec > hup+5e6 {
				t.Errorf("MONOTONIC_USEC=%q, want the time of the SIGHUP (%d)", rest, hup)
			}
			msg.text = "RELOADING=1"
		}
		seq = append(seq, msg.text)
	}
	want := []string{"READY=1", "RELOADING=1", "READY=1", "STOPPING=1"}
	if !slices.Equal(seq, want) {
		t.Errorf("messages %q, want %q", seq, want)
	}
	if watchdogs < 3 {
		t.Errorf("%d WATCHDOG=1 messages, want several (every 100ms)", watchdogs)
	}
}

// TestSuperviseSocketActivation: a socket passed at descriptor 3 with
// LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set to the master's pid is
// served, across a restart, and the master binds nothing itself.
func TestSuperviseSocketActivation(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	f, err := l.(*net.TCPListener).File()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	// LISTEN_PID must be the master's own pid: the shell sets it and
	// execs the master in its place.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, superviseProg(t), "-names", "http")
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES=http")
	cmd.ExtraFiles = []*os.File{f}
	m := startMaster(t, cmd, addr)
	f.Close()
	pid := m.workerPid()
	m.waitLog(`listening on `+regexp.QuoteMeta(addr), time.Second)
	syscall.Kill(m.pid(), syscall.SIGHUP)
	m.waitNewWorker(pid, 10*time.Second)
	if _, env, _ := get(addr, "/env"); strings.Contains(env, "LISTEN_") {
		t.Errorf("the worker's child sees LISTEN_*:\n%s", env)
	}
	syscall.Kill(m.pid(), syscall.SIGTERM)
	if code := m.waitExit(10 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestSuperviseAddrInUse: a busy address ends the master at once with the
// error, before any worker starts.
func TestSuperviseAddrInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := startMaster(t, exec.Command(serviceBin(t), "-addr", l.Addr().String()), l.Addr().String())
	if code := m.waitExit(5 * time.Second); code == 0 {
		t.Fatal("exit code 0")
	}
	if out := m.out.String(); !strings.Contains(out, "address already in use") || strings.Contains(out, "started worker") {
		t.Errorf("output:\n%s", out)
	}
}

// TestSuperviseNeverReady: a first worker that never calls Ready ends the
// master with an error after the start timeout; a replacement that never
// does is killed and the old worker keeps serving.
func TestSuperviseNeverReady(t *testing.T) {
	bin := superviseProg(t)
	t.Run("first", func(t *testing.T) {
		addr := freeAddr(t)
		start := time.Now()
		m := startMaster(t, exec.Command(bin, "-addr", addr, "-behave", behaveFile(t, "never"), "-start", "1s"), addr)
		if code := m.waitExit(10 * time.Second); code == 0 {
			t.Fatal("exit code 0")
		}
		m.waitLog(`supervise: worker pid \d+ not ready within 1s`, 0)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("restart", func(t *testing.T) {
		addr := freeAddr(t)
		behave := behaveFile(t, "")
		m := startMaster(t, exec.Command(bin, "-addr", addr, "-behave", behave, "-start", "1s"), addr)
		pid := m.workerPid()
		os.WriteFile(behave, []byte("never"), 0o644)
		syscall.Kill(m.pid(), syscall.SIGHUP)
		m.waitLog(fmt.Sprintf(`restart failed: worker pid \d+ not ready within 1s; worker pid %d keeps serving`, pid), 5*time.Second)
		if now := m.workerPid(); now != pid {
			t.Errorf("pid %d serves, want %d", now, pid)
		}
		m.waitChildren(1, 5*time.Second)
	})
}

// TestSuperviseSignalStorm: 20 SIGHUPs within a second end with one
// healthy worker, and the master holds as many descriptors as before.
func TestSuperviseSignalStorm(t *testing.T) {
	addr := freeAddr(t)
	m := startMaster(t, exec.Command(superviseProg(t), "-addr", addr, "-drain", "2s"), addr)
	pid := m.workerPid()
	m.waitLog(fmt.Sprintf(`worker pid %d ready in`, pid), waitTimeout) // the master's start-up is over
	fds := countFDs(m.pid())
	// In pairs 1ms apart, the pairs 100ms apart: the second of a pair
	// comes while the first's restart is under way.
	for i := range 20 {
		syscall.Kill(m.pid(), syscall.SIGHUP)
		time.Sleep(time.Duration(1+99*(i%2)) * time.Millisecond)
	}
	m.waitNewWorker(pid, 10*time.Second)
	// The master takes its signals in order: once a worker has the
	// SIGUSR1 it passes on, it has acted on every SIGHUP.
	syscall.Kill(m.pid(), syscall.SIGUSR1)
	m.waitLog(`worker pid \d+: got SIGUSR1`, waitTimeout)
	// The last restart is over once every graceful restart has its
	// worker's ready line and every restart asked for during one has
	// followed it.
	for deadline := time.Now().Add(waitTimeout); ; {
		out := m.out.String()
		r, ok := strings.Count(out, "graceful restart: "), strings.Count(out, "; draining worker pid ")
		asked, followed := strings.Count(out, "one more follows it"), strings.Count(out, "graceful restart: asked for during the last one")
		if r > 0 && r == ok && asked == followed {
			break
		}
		if time.Now().After(deadline) {
			failHung(t, "within %v: %d graceful restarts, %d workers ready after one; %d restarts asked for during one, %d followed",
				waitTimeout, r, ok, asked, followed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Settled: one child, serving, and no restart under way.
	kids := m.waitChildren(1, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if k := childrenOf(m.pid()); !slices.Equal(k, kids) {
		t.Fatalf("children %v, then %v", kids, k)
	}
	if p := m.workerPid(); p != kids[0] {
		t.Errorf("pid %d serves, the child is %d", p, kids[0])
	}
	// The master may still be handling the last drained worker's exit.
	n := countFDs(m.pid())
	for deadline := time.Now().Add(waitTimeout); n != fds && time.Now().Before(deadline); n = countFDs(m.pid()) {
		time.Sleep(10 * time.Millisecond)
	}
	if n != fds {
		t.Errorf("master holds %d descriptors, %d before", n, fds)
	}
	// The worker holds its control socket, the listener and the
	// connection asking: nothing of the workers before it, nor what this
	// test process's C code left without close-on-exec.
	_, list, err := get(addr, "/fds")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(list, "socket:"); n > 4 {
		t.Errorf("the worker holds %d sockets:\n%s", n, list)
	}
	started := strings.Count(m.out.String(), "started worker")
	t.Logf("20 SIGHUPs: %d workers started", started)
	if started > 21 {
		t.Errorf("%d workers started for 20 SIGHUPs", started)
	}
	if !strings.Contains(m.out.String(), "asked for during one: one more follows it") {
		t.Error("no SIGHUP came during a restart: the storm was no storm")
	}
}

// TestSuperviseExitMidRestart: the new worker exits before it is ready (the
// old one keeps serving), or the old one dies while the new one starts
// (the new one takes over).
func TestSuperviseExitMidRestart(t *testing.T) {
	bin := superviseProg(t)
	t.Run("new", func(t *testing.T) {
		addr := freeAddr(t)
		behave := behaveFile(t, "")
		m := startMaster(t, exec.Command(bin, "-addr", addr, "-behave", behave), addr)
		pid := m.workerPid()
		os.WriteFile(behave, []byte("exit"), 0o644)
		syscall.Kill(m.pid(), syscall.SIGHUP)
		m.waitLog(fmt.Sprintf(`restart failed: worker pid \d+ exited before it was ready \(exit status 3\); worker pid %d keeps serving`, pid), 5*time.Second)
		if now := m.workerPid(); now != pid {
			t.Errorf("pid %d serves, want %d", now, pid)
		}
	})
	t.Run("old", func(t *testing.T) {
		addr := freeAddr(t)
		behave := behaveFile(t, "")
		m := startMaster(t, exec.Command(bin, "-addr", addr, "-behave", behave), addr)
		pid := m.workerPid()
		os.WriteFile(behave, []byte("delay=1s"), 0o644)
		syscall.Kill(m.pid(), syscall.SIGHUP)
		m.waitLog(`started worker pid \d+ \(generation 2\)`, 5*time.Second)
		syscall.Kill(pid, syscall.SIGKILL)
		m.waitLog(fmt.Sprintf(`worker pid %d died \(signal: killed\) during a restart; worker pid \d+ is starting`, pid), 5*time.Second)
		m.waitNewWorker(pid, 10*time.Second)
		m.waitChildren(1, 5*time.Second)
		if strings.Contains(m.out.String(), "generation 3") {
			t.Error("a third worker was started")
		}
	})
}

// TestSuperviseReap: a master that is a subreaper (as pid 1 is) reaps an
// orphan its worker left, and leaves its workers to their own Wait.
func TestSuperviseReap(t *testing.T) {
	addr := freeAddr(t)
	m := startMaster(t, exec.Command(superviseProg(t), "-addr", addr, "-reap"), addr)
	pid := m.workerPid()
	code, body, err := get(addr, "/orphan")
	if err != nil || code != 200 {
		t.Fatalf("/orphan: %d %v", code, err)
	}
	orphan := strings.TrimSpace(body)
	m.waitLog(`reaped orphan pid `+orphan+` \(exit status 0\)`, 5*time.Second)
	if n, _ := strconv.Atoi(orphan); procStat(n) != nil {
		t.Errorf("orphan %s still in the process table", orphan)
	}
	// A worker's exit is still its own Wait's.
	syscall.Kill(pid, syscall.SIGKILL)
	m.waitLog(fmt.Sprintf(`worker pid %d died \(signal: killed\)`, pid), 5*time.Second)
	m.waitNewWorker(pid, 10*time.Second)
	if strings.Contains(m.out.String(), fmt.Sprintf("reaped orphan pid %d ", pid)) {
		t.Error("the reaper took a worker's exit")
	}
}

// TestSuperviseForward: SIGUSR1 to the master reaches the serving worker.
func TestSuperviseForward(t *testing.T) {
	addr := freeAddr(t)
	m := startMaster(t, exec.Command(superviseProg(t), "-addr", addr), addr)
	pid := m.workerPid()
	syscall.Kill(m.pid(), syscall.SIGUSR1)
	m.waitLog(fmt.Sprintf(`worker pid %d: got SIGUSR1`, pid), 5*time.Second)
}

// TestSuperviseDeploy: a SIGHUP runs what is at the path the master was
// started from now: a symbolic link switched to a new release is followed.
func TestSuperviseDeploy(t *testing.T) {
	dir := t.TempDir()
	release2 := filepath.Join(dir, "release2")
	script := "#!/bin/sh\nSUPERVISE_RELEASE=2 exec " + superviseProg(t) + " \"$@\"\n"
	if err := os.WriteFile(release2, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	current := filepath.Join(dir, "current")
	if err := os.Symlink(superviseProg(t), current); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	m := startMaster(t, exec.Command(current, "-addr", addr), addr)
	pid := m.workerPid()
	if _, env, _ := get(addr, "/env"); strings.Contains(env, "SUPERVISE_RELEASE") {
		t.Fatal("release 2 before the deploy")
	}
	next := filepath.Join(dir, "next")
	if err := os.Symlink(release2, next); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, current); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(m.pid(), syscall.SIGHUP)
	m.waitNewWorker(pid, 10*time.Second)
	if _, env, _ := get(addr, "/env"); !strings.Contains(env, "SUPERVISE_RELEASE=2") {
		t.Errorf("the new worker is not release 2:\n%s", env)
	}
}

// TestSuperviseStopBound: SIGTERM with a request that never finishes: the
// master exits 0 within the stop bound plus its one second, and the stuck
// worker is gone.
func TestSuperviseStopBound(t *testing.T) {
	addr := freeAddr(t)
	m := startMaster(t, exec.Command(superviseProg(t), "-addr", addr, "-stop", "1s"), addr)
	pid := m.workerPid()
	go get(addr, "/hang")
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	syscall.Kill(m.pid(), syscall.SIGTERM)
	if code := m.waitExit(waitTimeout); code != 0 {
		t.Errorf("exit code %d", code)
	}
	// The kill comes at 2s; the slack is for a loaded machine, well short
	// of the hung request's forever.
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("stopped in %v, want about 1s (+1s)", d)
	}
	if !gone(pid) {
		t.Errorf("worker pid %d left behind", pid)
	}
}

// TestSupervisePID1: the master as pid 1 of a new pid namespace (with its
// own /proc), as in a container: it reaps an orphan its worker leaves, and
// SIGTERM drains and exits 0. Needs unshare(1) and the privilege to use it.
func TestSupervisePID1(t *testing.T) {
	if out, err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "/bin/true").CombinedOutput(); err != nil {
		t.Skipf("no pid namespace: unshare: %v %s", err, out)
	}
	addr := freeAddr(t)
	m := startMaster(t, exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
		superviseProg(t), "-addr", addr), addr)
	m.workerPid()
	m.waitLog(`master pid 1: started worker`, time.Second)
	code, body, err := get(addr, "/orphan")
	if err != nil || code != 200 {
		t.Fatalf("/orphan: %d %v", code, err)
	}
	m.waitLog(`master pid 1: reaped orphan pid `+strings.TrimSpace(body)+` \(exit status 0\)`, 5*time.Second)
	kids := childrenOf(m.pid()) // unshare's child: the master
	if len(kids) != 1 {
		t.Fatalf("unshare's children: %v", kids)
	}
	syscall.Kill(kids[0], syscall.SIGTERM)
	if code := m.waitExit(10 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	m.waitLog(`master pid 1: stopped`, 0)
}

// TestSuperviseWorkerFDs: descriptors the master was started with (here a
// pipe at 3 to 6) do not reach its workers.
func TestSuperviseWorkerFDs(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pipe, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(superviseProg(t), "-addr", addr)
	cmd.ExtraFiles = []*os.File{w, w, w, w}
	m := startMaster(t, cmd, addr)
	w.Close()
	m.workerPid()
	_, list, err := get(addr, "/fds")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(list, pipe) {
		t.Errorf("the worker holds the master's %s:\n%s", pipe, list)
	}
}
