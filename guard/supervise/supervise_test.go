//go:build linux

package supervise

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/supervise/internal/handoff"
)

// server is one ServeHTTP on its own descriptor for a shared socket, as a
// worker has.
type server struct {
	cancel context.CancelFunc
	done   chan error
}

func startServer(t *testing.T, shared net.Listener, h http.Handler) *server {
	t.Helper()
	f, err := handoff.DupListener(shared)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- ServeHTTP(ctx, &http.Server{Handler: h}, l) }()
	return s
}

func (s *server) drain(t *testing.T) {
	t.Helper()
	s.cancel()
	if err := await(t, s.done, waitTimeout, "ServeHTTP's return after the drain"); err != nil {
		t.Errorf("ServeHTTP: %v", err)
	}
}

// TestServeHTTPHandoff: one socket, served by a succession of ServeHTTPs
// (each started before the last drains, as workers are) under 16 clients,
// half on keep-alive connections: every request is answered.
func TestServeHTTPHandoff(t *testing.T) {
	g0 := runtime.NumGoroutine()
	shared, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		fmt.Fprint(w, "ok")
	})

	var ok, failed atomic.Int64
	var errs sync.Map
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{DisableKeepAlives: i%2 == 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for ctx.Err() == nil {
				resp, err := c.Get("http://" + shared.Addr().String() + "/")
				if err == nil {
					var b []byte
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && string(b) != "ok" {
						err = fmt.Errorf("body %q", b)
					}
				}
				if err != nil {
					failed.Add(1)
					errs.Store(err.Error(), true)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	old := startServer(t, shared, h)
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		next := startServer(t, shared, h)
		time.Sleep(5 * time.Millisecond)
		old.drain(t)
		old = next
	}
	time.Sleep(100 * time.Millisecond)
	stop()
	awaitGroup(t, &wg, 2*waitTimeout, "the clients' end") // each request: at most 10s
	old.drain(t)
	t.Logf("%d answered, %d failed through 10 handoffs", ok.Load(), failed.Load())
	if failed.Load() != 0 {
		var l []string
		errs.Range(func(k, _ any) bool { l = append(l, k.(string)); return true })
		t.Errorf("%d requests failed: %q", failed.Load(), l)
	}
	if ok.Load() < 500 {
		t.Errorf("only %d requests answered", ok.Load())
	}
	draining.Store(false)
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > g0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > g0 {
		t.Errorf("%d goroutines, %d before", n, g0)
	}
}

// TestServeHTTPDrainWaitsForInFlight: a request in flight when the drain
// begins is answered, and ServeHTTP returns only after it.
func TestServeHTTPDrainWaitsForInFlight(t *testing.T) {
	shared, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	started := make(chan struct{})
	s := startServer(t, shared, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		fmt.Fprint(w, "done")
	}))
	type result struct {
		body  string
		close bool
		err   error
	}
	res := make(chan result, 1)
	go func() {
		c := &http.Client{Timeout: waitTimeout}
		resp, err := c.Get("http://" + shared.Addr().String() + "/")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{string(b), resp.Close, err}
	}()
	await(t, started, waitTimeout, "the request's arrival in the handler")
	begin := time.Now()
	s.drain(t)
	if d := time.Since(begin); d < 200*time.Millisecond {
		t.Errorf("ServeHTTP returned %v after the drain began, before the request finished", d)
	}
	r := await(t, res, waitTimeout, "the in-flight request's answer")
	if r.err != nil || r.body != "done" {
		t.Errorf("in-flight request: %q %v", r.body, r.err)
	}
	draining.Store(false)
}

// TestOnDrainHijacked: connections a handler hijacked are the OnDrain
// function's: it runs when the drain begins, ServeHTTP waits for it, and
// its context ends at the drain's deadline.
func TestOnDrainHijacked(t *testing.T) {
	defer func(d time.Duration) { defaultDrainBound = d }(defaultDrainBound)
	defaultDrainBound = 500 * time.Millisecond

	var mu sync.Mutex
	var hijacked []net.Conn
	remove := OnDrain(func(ctx context.Context) {
		mu.Lock()
		for _, c := range hijacked {
			io.WriteString(c, "bye\n")
			c.Close()
		}
		mu.Unlock()
		<-ctx.Done() // a hook that takes all the time it is given
	})
	defer remove()

	shared, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	s := startServer(t, shared, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		// Known to the hook before the client can see the answer and
		// begin the drain.
		mu.Lock()
		hijacked = append(hijacked, c)
		mu.Unlock()
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
	}))
	c, err := net.DialTimeout("tcp", shared.Addr().String(), waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	for {
		line, err := readLine(t, c, br, waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	begin := time.Now()
	s.drain(t)
	if d := time.Since(begin); d < 400*time.Millisecond || d > 2*time.Second {
		t.Errorf("ServeHTTP returned %v after the drain began; the hook's deadline was 500ms", d)
	}
	if line, err := readLine(t, c, br, waitTimeout); line != "bye\n" {
		t.Errorf("hijacked connection read %q, %v; want the hook's goodbye", line, err)
	}
	draining.Store(false)
}

func TestTaintPolicy(t *testing.T) {
	var got []string
	p := &taintPolicy{k: 3, window: time.Minute, restart: func(r string) { got = append(got, r) }}
	lib := guard.Taint{Level: guard.TaintLibrary}
	t0 := time.Now()
	p.observe(guard.Taint{}, "crash", t0)
	p.observe(lib, "crash", t0)
	p.observe(lib, "interrupt", t0.Add(30*time.Second))
	if len(got) != 0 {
		t.Fatalf("restart after 2 library taints: %q", got)
	}
	p.observe(lib, "crash", t0.Add(61*time.Second)) // the first has left the window
	if len(got) != 0 {
		t.Fatalf("restart with 2 library taints in the window: %q", got)
	}
	p.observe(lib, "crash", t0.Add(62*time.Second))
	if len(got) != 1 || !strings.Contains(got[0], "3 crashes or interrupts with taint library within 1m0s") {
		t.Fatalf("after 3 library taints in the window: %q", got)
	}
	p.observe(guard.Taint{Level: guard.TaintProcess, Reason: "heap"}, "crash", t0)
	if len(got) != 2 || got[1] != "crash with taint process: heap" {
		t.Fatalf("after a process taint: %q", got)
	}
}

func TestConfigCheck(t *testing.T) {
	for _, s := range []syscall.Signal{syscall.SIGURG, syscall.SIGCHLD, syscall.SIGPIPE, syscall.SIGHUP} {
		c := Config{Addrs: []string{":0"}, Forward: []os.Signal{s}}
		if err := c.check(); err == nil {
			t.Errorf("forwarding %v accepted", s)
		}
	}
	c := Config{}
	if err := c.check(); err == nil {
		t.Error("no Addrs accepted")
	}
	c = Config{Addrs: []string{":0"}}
	c.setDefaults()
	if err := c.check(); err != nil {
		t.Error(err)
	}
	if c.StopTimeout != c.DrainTimeout || c.StartTimeout != 30*time.Second || c.CrashLoop != 5 {
		t.Errorf("defaults: %+v", c)
	}
}

// TestReadyRestartMessages: a worker's Ready, Restart (once) and heartbeat
// reach the control socket as the master reads them.
func TestReadyRestartMessages(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w := &worker{ctrl: b, logger: log.New(io.Discard, "", 0), cancel: cancel}
	current.Store(w)
	defer current.Store(nil)
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(a)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go w.heartbeat(ctx, 40*time.Millisecond, nil)
	Ready()
	Ready()
	Restart("one")
	Restart("two")
	want := map[string]bool{"ready": true, "restart one": true, "beat": true}
	deadline := time.After(waitTimeout)
	seen := map[string]int{}
	for len(want) > 0 {
		select {
		case l := <-lines:
			seen[l]++
			delete(want, l)
		case <-deadline:
			failHung(t, "missing %v; seen %v", want, seen)
		}
	}
	done := Busy() // work in flight, none finishing: no more beats
	// A beat whose tick read no work in flight just before Busy may still
	// be on its way (net.Pipe is synchronous): drain until the beats stop,
	// then none may come.
	const quiet = 200 * time.Millisecond
	stopBy := time.Now().Add(waitTimeout)
	for drained := false; !drained; {
		select {
		case <-lines:
			if time.Now().After(stopBy) {
				failHung(t, "beats still come %v after Busy", waitTimeout)
			}
		case <-time.After(quiet):
			drained = true
		}
	}
	select {
	case l := <-lines:
		t.Errorf("%q while work was stuck, after %v without a line", l, quiet)
	case <-time.After(quiet):
	}
	done()
	cancel(nil)
	b.Close()
	if seen["ready"] != 1 || seen["restart two"] != 0 {
		t.Errorf("messages %v: want one ready and one restart", seen)
	}
	if errors.Is(context.Cause(ctx), ErrDrain) {
		t.Error("drained")
	}
}
