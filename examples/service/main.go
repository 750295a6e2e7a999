//go:build cgo

// Command service is an HTTP service over a faulty C library, protected by
// cgoguard and run under supervise: the process started is the master, and
// a worker serves.
//
//	go build -o service ./examples/service
//	./service -addr 127.0.0.1:8080 [-drain 10s]
//
// Every handler runs under guardhttp.Handler, with a 10 s deadline on its C
// calls: GET /pid answers the worker's pid; /work?ms=N spends about N ms
// in C (past 10 s the call is stopped: 503); /crash faults in C (500, and
// the worker carries on); /taint faults inside the C allocator (500, and a
// graceful restart follows); /ready fails while the worker drains. The
// client gets only the status; the crash report goes to stderr (log/slog). SIGHUP to the master
// restarts the worker gracefully from the executable on disk; SIGTERM or
// SIGINT drains it and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/guardhttp"
	"github.com/cgoguard/cgoguard/guard/supervise"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	drain := flag.Duration("drain", 10*time.Second, "bound on a worker's drain, on a restart or a stop")
	pidFile := flag.String("pidfile", "", "write the master's pid to this file")
	flag.Parse()

	err := supervise.Run(supervise.Config{
		Addrs:        []string{*addr},
		DrainTimeout: *drain,
		StartTimeout: 10 * time.Second,
		Heartbeat:    time.Minute,
		PIDFile:      *pidFile,
	}, serve)
	if err != nil {
		log.Fatal(err)
	}
}

func serve(ctx context.Context, ls []net.Listener) error {
	// Do with nothing to run reports whether Do can guard here: it returns
	// an error matching guard.ErrUnsupported off amd64 Linux and on a Go
	// release whose cgo boundary cgoguard does not know (where Supported
	// is true, since Call still works).
	if err := guard.Do(func() {}); err != nil {
		return err
	}
	// Restart on TaintProcess, and after 5 library-level taints in 10
	// minutes.
	supervise.RestartOnTaint(5, 10*time.Minute)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /pid", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getpid())
	})
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 || ms > 60000 {
			http.Error(w, "ms: want 0 to 60000", http.StatusBadRequest)
			return
		}
		work(ms)
		fmt.Fprintf(w, "worked %d ms in pid %d\n", ms, os.Getpid())
	})
	mux.HandleFunc("GET /crash", func(w http.ResponseWriter, r *http.Request) {
		lookup()
	})
	mux.HandleFunc("GET /taint", func(w http.ResponseWriter, r *http.Request) {
		release()
	})
	// For a load balancer or a Kubernetes readinessProbe: fails while the
	// worker drains.
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		if supervise.Draining() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})

	// A fault in C becomes a 500 for that request alone, a C call past the
	// deadline a 503; the report goes to the logger, and its taint to
	// RestartOnTaint's hooks.
	h := &guardhttp.Guard{
		Handler: mux,
		Options: []guard.Option{guard.WithTimeout(10 * time.Second)},
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, nil)).With("worker", os.Getpid()),
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	supervise.Ready()
	return supervise.ServeHTTP(ctx, srv, ls...)
}
