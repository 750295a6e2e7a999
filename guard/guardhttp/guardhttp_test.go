//go:build linux && amd64 && cgo

package guardhttp_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/guardhttp"
	"github.com/cgoguard/cgoguard/guard/internal/examplec"
	"github.com/cgoguard/cgoguard/internal/testbuf"
)

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec.Clone())
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) records() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slog.Record(nil), r.recs...)
}

func attrs(rec slog.Record) map[string]string {
	m := map[string]string{"msg": rec.Message, "level": rec.Level.String()}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

// server is a real net/http server on loopback.
type server struct {
	*httptest.Server
	newConns, closed atomic.Int64
	errlog           testbuf.Buffer
}

func startServer(t testing.TB, h http.Handler) *server {
	s := &server{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.newConns.Add(1)
		case http.StateClosed:
			s.closed.Add(1)
		}
	}
	s.Config.ErrorLog = log.New(&s.errlog, "", 0)
	s.Start()
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() { s.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("the server did not close within 5s: a handler is stuck")
		}
	})
	return s
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cMux serves /ok (a healthy C call), /fault (a fault in C) and /stall (a
// C call that never returns).
func cMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, examplec.Parse("42"))
	})
	mux.HandleFunc("/fault", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1000")
		w.Header().Set("X-Kept", "yes")
		fmt.Fprint(w, examplec.Parse("4x2"))
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		examplec.Stall()
		fmt.Fprint(w, "unreachable")
	})
	return mux
}

func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestLoad: 16 clients on keep-alive connections; 10 % of the requests
// fault in C, 10 % block in C past the deadline, and all the others
// succeed. Each client keeps its one connection throughout.
func TestLoad(t *testing.T) {
	const (
		clients  = 16
		perCl    = 40
		deadline = 500 * time.Millisecond
	)
	g0 := runtime.NumGoroutine()
	rec := &recorder{}
	s := startServer(t, &guardhttp.Guard{
		Handler: cMux(),
		Options: []guard.Option{guard.WithTimeout(deadline)},
		Logger:  slog.New(rec),
	})
	var crashes, interrupts atomic.Int64
	defer guard.OnCrash(func(*guard.CrashError) { crashes.Add(1) })()
	defer guard.OnInterrupt(func(*guard.InterruptError) { interrupts.Add(1) })()

	var ok, faulted, timedOut atomic.Int64
	var mu sync.Mutex
	var failures []string
	fail := func(f string, a ...any) {
		mu.Lock()
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf(f, a...))
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for i := range perCl {
				switch (i + c) % 10 {
				case 0:
					code, body, err := get(cl, s.URL+"/fault")
					if err != nil || code != 500 || body != "Internal Server Error\n" {
						fail("/fault: %d %q %v", code, body, err)
						continue
					}
					faulted.Add(1)
				case 5:
					t0 := time.Now()
					code, body, err := get(cl, s.URL+"/stall")
					if d := time.Since(t0); err != nil || code != 503 || body != "Service Unavailable\n" || d < deadline-10*time.Millisecond {
						fail("/stall: %d %q %v after %v", code, body, err, d)
						continue
					}
					timedOut.Add(1)
				default:
					code, body, err := get(cl, s.URL+"/ok")
					if err != nil || code != 200 || body != "42" {
						fail("/ok: %d %q %v", code, body, err)
						continue
					}
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d clients: %d ok, %d faults answered 500, %d interrupted at %v answered 503, in %v on %d connections",
		clients, ok.Load(), faulted.Load(), timedOut.Load(), deadline, time.Since(start).Round(time.Millisecond), s.newConns.Load())
	for _, f := range failures {
		t.Error(f)
	}
	const n = clients * perCl
	if ok.Load() != n*8/10 || faulted.Load() != n/10 || timedOut.Load() != n/10 {
		t.Errorf("ok %d, faulted %d, timed out %d: want %d, %d, %d", ok.Load(), faulted.Load(), timedOut.Load(), n*8/10, n/10, n/10)
	}
	if c := s.newConns.Load(); c > clients {
		t.Errorf("%d connections for %d clients: a fault or an interrupt cost a connection", c, clients)
	}
	if crashes.Load() != n/10 || interrupts.Load() != n/10 {
		t.Errorf("hooks saw %d crashes and %d interrupts, want %d each", crashes.Load(), interrupts.Load(), n/10)
	}
	var errs, warns int
	for _, r := range rec.records() {
		a := attrs(r)
		switch {
		case r.Level == slog.LevelError && strings.Contains(a["report"], "SIGSEGV") && a["path"] == "/fault" && a["response"] == "500" && a["taint"] == "library":
			errs++
		case r.Level == slog.LevelWarn && a["path"] == "/stall" && a["response"] == "503" && strings.Contains(a["error"], "deadline"):
			warns++
		default:
			t.Errorf("unexpected record: %v", a)
		}
	}
	if errs != n/10 || warns != n/10 {
		t.Errorf("logger got %d fault and %d interrupt records, want %d each", errs, warns, n/10)
	}
	if l := s.errlog.String(); l != "" {
		t.Errorf("server error log: %s", l)
	}
	// Nothing the faults and interrupts abandoned keeps a goroutine.
	s.Close()
	waitFor(t, 5*time.Second, fmt.Sprintf("goroutines back to %d (+2)", g0), func() bool { return runtime.NumGoroutine() <= g0+2 })
}

// TestFaultBeforeHeader: the 500 carries none of the report nor the
// handler's body headers; the logger has the report; the connection
// serves the next request.
func TestFaultBeforeHeader(t *testing.T) {
	rec := &recorder{}
	s := startServer(t, &guardhttp.Guard{Handler: cMux(), Logger: slog.New(rec)})
	cl := &http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get(s.URL + "/fault")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 500 || string(body) != "Internal Server Error\n" {
		t.Fatalf("/fault: %d %q %v", resp.StatusCode, body, err)
	}
	for _, leak := range []string{"SIGSEGV", "examplec", "0x", "rip", ".c:", ".go"} {
		if bytes.Contains(body, []byte(leak)) {
			t.Errorf("body %q holds %q", body, leak)
		}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q: the handler's survived", ct)
	}
	if resp.Header.Get("X-Kept") != "yes" {
		t.Errorf("X-Kept %q: other headers must stay", resp.Header.Get("X-Kept"))
	}
	if code, body, err := get(cl, s.URL+"/ok"); code != 200 || body != "42" || err != nil {
		t.Errorf("/ok after the fault: %d %q %v", code, body, err)
	}
	if s.newConns.Load() != 1 {
		t.Errorf("%d connections, want 1 kept alive", s.newConns.Load())
	}
	recs := rec.records()
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	a := attrs(recs[0])
	if recs[0].Level != slog.LevelError || a["msg"] != "guardhttp: native fault in handler" || a["method"] != "GET" ||
		a["path"] != "/fault" || a["response"] != "500" || a["taint"] != "library" || !strings.HasPrefix(a["error"], "guard: SIGSEGV") {
		t.Errorf("record: %v", a)
	}
	for _, want := range []string{"SIGSEGV", "registers", "rip", "taint"} {
		if !strings.Contains(strings.ToLower(a["report"]), strings.ToLower(want)) {
			t.Errorf("report without %q: %s", want, a["report"])
		}
	}
}

// TestFaultAfterHeader: the header (and part of the body) went out, so
// the connection is aborted: the client sees a truncated response, the
// server logs no panic, the logger has the report.
func TestFaultAfterHeader(t *testing.T) {
	rec := &recorder{}
	mux := http.NewServeMux()
	mux.HandleFunc("/flushed", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		examplec.Parse("x")
	})
	mux.HandleFunc("/header", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(202)
		examplec.Parse("x")
	})
	mux.HandleFunc("/early-hints", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints) // does not commit the header
		examplec.Parse("x")
	})
	s := startServer(t, &guardhttp.Guard{Handler: mux, Logger: slog.New(rec)})
	cl := &http.Client{Timeout: 10 * time.Second}

	resp, err := cl.Get(s.URL + "/flushed")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "partial" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("/flushed: %d %q %v, want 200 \"partial\" and an unexpected EOF", resp.StatusCode, body, err)
	}

	if code, body, err := get(cl, s.URL+"/header"); err == nil {
		t.Errorf("/header: %d %q, want the connection aborted", code, body)
	}
	waitFor(t, 5*time.Second, "both connections closed", func() bool { return s.closed.Load() == 2 })

	if code, body, err := get(cl, s.URL+"/early-hints"); code != 500 || body != "Internal Server Error\n" || err != nil {
		t.Errorf("/early-hints: %d %q %v, want a 500", code, body, err)
	}
	if l := s.errlog.String(); l != "" {
		t.Errorf("server error log: %s", l)
	}
	recs := rec.records()
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	for i, want := range []string{"aborted", "aborted", "500"} {
		if a := attrs(recs[i]); a["response"] != want || !strings.Contains(a["report"], "SIGSEGV") {
			t.Errorf("record %d: %v, want response %q", i, a, want)
		}
	}
}

// TestFaultAfterHijack: a fault after Hijack closes the hijacked
// connection (net/http no longer manages it).
func TestFaultAfterHijack(t *testing.T) {
	rec := &recorder{}
	s := startServer(t, &guardhttp.Guard{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		_ = c
		brw.WriteString("HTTP/1.1 200 OK\r\n")
		brw.Flush()
		examplec.Parse("x")
	}), Logger: slog.New(rec)})
	c, err := net.DialTimeout("tcp", s.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	got, err := io.ReadAll(bufio.NewReader(c))
	if string(got) != "HTTP/1.1 200 OK\r\n" || err != nil {
		t.Errorf("read %q, %v: want the status line, then EOF", got, err)
	}
	waitFor(t, 5*time.Second, "the record", func() bool { return len(rec.records()) == 1 })
	recs := rec.records()
	if len(recs) != 1 || attrs(recs[0])["response"] != "hijacked connection closed" {
		t.Errorf("records: %v", recs)
	}
}

// TestRequestCancelled: with a timeout, the request's context is watched
// too: a client that goes away stops the handler's C call.
func TestRequestCancelled(t *testing.T) {
	rec := &recorder{}
	var interrupted = make(chan *guard.InterruptError, 1)
	defer guard.OnInterrupt(func(e *guard.InterruptError) { interrupted <- e })()
	s := startServer(t, &guardhttp.Guard{Handler: cMux(), Options: []guard.Option{guard.WithTimeout(time.Minute)}, Logger: slog.New(rec)})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/stall", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("/stall: %d, want the client's deadline", resp.StatusCode)
	}
	select {
	case e := <-interrupted:
		if !errors.Is(e, context.Canceled) || !e.InSyscall {
			t.Errorf("interrupt %v (in syscall %v), want context.Canceled in nanosleep", e, e.InSyscall)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stalled C call was not stopped within 5s of the client going away")
	}
	waitFor(t, 5*time.Second, "the record", func() bool { return len(rec.records()) == 1 })
	if a := attrs(rec.records()[0]); a["level"] != "WARN" || a["response"] != "503" || !strings.Contains(a["error"], "canceled") {
		t.Errorf("record: %v", a)
	}
}

// TestGoPanicAsWithoutGuard: a Go panic in the handler, and
// http.ErrAbortHandler, do to the client and the server's log what they
// do without guardhttp; the logger gets nothing.
func TestGoPanicAsWithoutGuard(t *testing.T) {
	boom := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler)
		}
		var m map[string]int
		m["x"] = 1 // a Go runtime error: assignment to entry in nil map
	})
	rec := &recorder{}
	type outcome struct {
		clientErr bool
		log       string
	}
	run := func(h http.Handler, path string) outcome {
		s := startServer(t, h)
		_, _, err := get(&http.Client{Timeout: 10 * time.Second}, s.URL+path)
		waitFor(t, 5*time.Second, "connection closed", func() bool { return s.closed.Load() == 1 })
		return outcome{err != nil, s.errlog.String()}
	}
	for _, path := range []string{"/panic", "/abort"} {
		bare := run(boom, path)
		guarded := run(&guardhttp.Guard{Handler: boom, Logger: slog.New(rec)}, path)
		if !bare.clientErr || !guarded.clientErr {
			t.Errorf("%s: client error bare %v, guarded %v; want both", path, bare.clientErr, guarded.clientErr)
		}
		first := func(s string) string { return strings.SplitN(s, "\n", 2)[0] }
		stripAddr := func(s string) string { // "http: panic serving 127.0.0.1:port: ..."
			if i := strings.Index(s, "127.0.0.1:"); i >= 0 {
				if j := strings.Index(s[i:], ": "); j >= 0 {
					return s[:i] + s[i+j:]
				}
			}
			return s
		}
		if b, g := stripAddr(first(bare.log)), stripAddr(first(guarded.log)); b != g {
			t.Errorf("%s: server log %q bare, %q guarded", path, b, g)
		}
		if path == "/panic" && !strings.Contains(guarded.log, "assignment to entry in nil map") {
			t.Errorf("%s: server log %q", path, guarded.log)
		}
		if path == "/abort" && guarded.log != "" {
			t.Errorf("%s: server log %q, want none", path, guarded.log)
		}
	}
	if n := len(rec.records()); n != 0 {
		t.Errorf("the logger got %d records for Go panics", n)
	}
}

// TestDefaultLogger: without a Logger, slog's default logger gets the
// report.
func TestDefaultLogger(t *testing.T) {
	rec := &recorder{}
	old := slog.Default()
	slog.SetDefault(slog.New(rec))
	defer slog.SetDefault(old)
	s := startServer(t, guardhttp.Handler(cMux()))
	if code, _, err := get(&http.Client{Timeout: 10 * time.Second}, s.URL+"/fault"); code != 500 || err != nil {
		t.Fatalf("/fault: %d %v", code, err)
	}
	recs := rec.records()
	if len(recs) != 1 || !strings.Contains(attrs(recs[0])["report"], "SIGSEGV") {
		t.Errorf("default logger records: %v", recs)
	}
}

// TestHandlerChecks: Handler refuses what Do would refuse on every request.
func TestHandlerChecks(t *testing.T) {
	for name, f := range map[string]func(){
		"nil handler":   func() { guardhttp.Handler(nil) },
		"WithRetries":   func() { guardhttp.Handler(http.NotFoundHandler(), guard.WithRetries(1)) },
		"WithTimeout 0": func() { guardhttp.Handler(http.NotFoundHandler(), guard.WithTimeout(0)) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "guardhttp: ") {
					t.Errorf("%s: panic %v, want guardhttp's", name, r)
				}
			}()
			f()
		}()
	}
	// A Guard built with a bad option answers 500 without running the
	// handler, and logs why.
	rec := &recorder{}
	ran := false
	h := &guardhttp.Guard{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }),
		Options: []guard.Option{guard.WithRetries(1)}, Logger: slog.New(rec)}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if ran || w.Code != 500 || len(rec.records()) != 1 || attrs(rec.records()[0])["msg"] != "guardhttp: handler not run" {
		t.Errorf("bad option: ran %v, code %d, records %v", ran, w.Code, rec.records())
	}
}

// TestWriterInterfaces: the guarded handler's writer keeps what net/http's
// offers: Flusher, Hijacker (HTTP/1 only), io.ReaderFrom,
// io.StringWriter, and http.ResponseController's deadlines.
func TestWriterInterfaces(t *testing.T) {
	got := make(chan string, 1)
	s := startServer(t, guardhttp.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, fl := w.(http.Flusher)
		_, hj := w.(http.Hijacker)
		_, rf := w.(io.ReaderFrom)
		_, sw := w.(io.StringWriter)
		dl := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute))
		got <- fmt.Sprint(fl, hj, rf, sw, dl)
		io.Copy(w, strings.NewReader("copied"))
	})))
	code, body, err := get(&http.Client{Timeout: 10 * time.Second}, s.URL)
	if code != 200 || body != "copied" || err != nil {
		t.Errorf("GET: %d %q %v", code, body, err)
	}
	if g := <-got; g != "true true true true <nil>" {
		t.Errorf("flusher hijacker readerfrom stringwriter deadline-error: %s", g)
	}
	// An inner writer that cannot hijack (HTTP/2's, a recorder) gives a
	// writer that cannot either.
	h := guardhttp.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, hj := w.(http.Hijacker)
		got <- fmt.Sprint(hj)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if g := <-got; g != "false" {
		t.Errorf("hijacker over a recorder: %s", g)
	}
}

// BenchmarkTrivial: the cost of the guard on a trivial handler, side by
// side with the bare handler in one run. served: real requests on one
// keep-alive loopback connection; direct: ServeHTTP alone, no network.
// interleaved: bare and guarded requests in turn, each timed, on the same
// connection: the ratio of the medians (robust to a machine that others
// load).
func BenchmarkTrivial(b *testing.B) {
	trivial := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	guarded := guardhttp.Handler(trivial)
	mux := http.NewServeMux()
	mux.Handle("/bare", trivial)
	mux.Handle("/guarded", guarded)
	s := startServer(b, mux)
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	req := func(b *testing.B, url string) {
		resp, err := cl.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
	for _, name := range []string{"bare", "guarded"} {
		b.Run("served/"+name, func(b *testing.B) {
			url := s.URL + "/" + name
			req(b, url)
			b.ResetTimer()
			for range b.N {
				req(b, url)
			}
		})
	}
	b.Run("served/interleaved", func(b *testing.B) {
		req(b, s.URL+"/bare")
		var tb, tg []time.Duration
		b.ResetTimer()
		for i := range b.N {
			name, d := "/bare", &tb
			if i%2 == 1 {
				name, d = "/guarded", &tg
			}
			t0 := time.Now()
			req(b, s.URL+name)
			*d = append(*d, time.Since(t0))
		}
		if len(tg) > 0 {
			mb, mg := median(tb), median(tg)
			b.ReportMetric(float64(mb.Nanoseconds()), "bare-ns/req")
			b.ReportMetric(float64(mg.Nanoseconds()), "guarded-ns/req")
			b.ReportMetric(float64(mg)/float64(mb), "ratio")
		}
	})
	for _, name := range []string{"bare", "guarded"} {
		h := map[string]http.Handler{"bare": trivial, "guarded": guarded}[name]
		b.Run("direct/"+name, func(b *testing.B) {
			w := &nullWriter{h: make(http.Header)}
			r := httptest.NewRequest("GET", "/", nil)
			b.ReportAllocs()
			for range b.N {
				h.ServeHTTP(w, r)
			}
		})
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

type nullWriter struct{ h http.Header }

func (w *nullWriter) Header() http.Header         { return w.h }
func (w *nullWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nullWriter) WriteHeader(int)             {}

// TestHTTP2: over HTTP/2 a fault after the header resets that stream
// alone, as http.ErrAbortHandler does; a fault before it answers 500; the
// connection serves on.
func TestHTTP2(t *testing.T) {
	rec := &recorder{}
	mux := cMux()
	mux.HandleFunc("/flushed", func(w http.ResponseWriter, r *http.Request) {
		if _, hj := w.(http.Hijacker); hj {
			t.Error("the writer offers Hijack over HTTP/2")
		}
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		examplec.Parse("x")
	})
	s := &server{Server: httptest.NewUnstartedServer(&guardhttp.Guard{Handler: mux, Logger: slog.New(rec)})}
	s.EnableHTTP2 = true
	s.Config.ErrorLog = log.New(&s.errlog, "", 0)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.newConns.Add(1)
		}
	}
	s.StartTLS()
	defer s.Close()
	cl := s.Client()
	cl.Timeout = 10 * time.Second

	resp, err := cl.Get(s.URL + "/flushed")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "partial" || err == nil {
		t.Errorf("/flushed: HTTP/%d %q %v, want HTTP/2 \"partial\" and a stream error", resp.ProtoMajor, body, err)
	}
	if code, body, err := get(cl, s.URL+"/fault"); code != 500 || body != "Internal Server Error\n" || err != nil {
		t.Errorf("/fault: %d %q %v", code, body, err)
	}
	if code, body, err := get(cl, s.URL+"/ok"); code != 200 || body != "42" || err != nil {
		t.Errorf("/ok: %d %q %v", code, body, err)
	}
	if n := s.newConns.Load(); n != 1 {
		t.Errorf("%d connections, want 1: the stream reset cost the connection", n)
	}
	if l := s.errlog.String(); l != "" {
		t.Errorf("server error log: %s", l)
	}
	if recs := rec.records(); len(recs) != 2 || attrs(recs[0])["response"] != "aborted" || attrs(recs[1])["response"] != "500" {
		t.Errorf("records: %d", len(recs))
	}
}

// TestInsideTimeoutHandler: inside http.TimeoutHandler (which runs the
// handler on a goroutine of its own), the Guard covers that goroutine,
// and the request context's deadline, earlier than WithTimeout's, stops
// the C call.
func TestInsideTimeoutHandler(t *testing.T) {
	rec := &recorder{}
	interrupted := make(chan *guard.InterruptError, 1)
	defer guard.OnInterrupt(func(e *guard.InterruptError) { interrupted <- e })()
	g := &guardhttp.Guard{Handler: cMux(), Options: []guard.Option{guard.WithTimeout(time.Minute)}, Logger: slog.New(rec)}
	s := startServer(t, http.TimeoutHandler(g, 200*time.Millisecond, "timed out"))
	cl := &http.Client{Timeout: 10 * time.Second}
	t0 := time.Now()
	// Both fire at the request's deadline: TimeoutHandler's answer, or the
	// Guard's for the interrupted call, whichever is first.
	if code, body, err := get(cl, s.URL+"/stall"); code != 503 || (body != "timed out" && body != "Service Unavailable\n") || err != nil {
		t.Errorf("/stall: %d %q %v, want a 503", code, body, err)
	}
	select {
	case e := <-interrupted:
		if !errors.Is(e, context.DeadlineExceeded) || time.Since(t0) > 5*time.Second {
			t.Errorf("interrupt %v after %v, want the request's deadline", e, time.Since(t0))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the C call was not stopped within 5s of the request's deadline")
	}
	if code, _, err := get(cl, s.URL+"/fault"); code != 500 || err != nil {
		t.Errorf("/fault: %d %v", code, err)
	}
	waitFor(t, 5*time.Second, "two records", func() bool { return len(rec.records()) == 2 })
}
