//go:build cgo

// Command service is an HTTP service over a faulty C library, protected by
// cgoguard and run under supervise: the process started is the master, and
// a worker serves.
//
//	go build -o service ./examples/service
//	./service -addr 127.0.0.1:8080 [-drain 10s]
//
// GET /pid answers the worker's pid; /work?ms=N spends about N ms in a
// guarded C call; /crash faults in C (500, and the worker carries on);
// /taint faults inside the C allocator (500, and a graceful restart
// follows); /ready fails while the worker drains. SIGHUP to the master
// restarts the worker gracefully from the executable on disk; SIGTERM or
// SIGINT drains it and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/cgoguard/cgoguard/guard"
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
	if !guard.Supported() {
		return guard.ErrUnsupported
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
		if err := work(ms); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "worked %d ms in pid %d\n", ms, os.Getpid())
	})
	mux.HandleFunc("GET /crash", func(w http.ResponseWriter, r *http.Request) {
		crashed(w, lookup())
	})
	mux.HandleFunc("GET /taint", func(w http.ResponseWriter, r *http.Request) {
		crashed(w, release())
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

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	supervise.Ready()
	return supervise.ServeHTTP(ctx, srv, ls...)
}

func crashed(w http.ResponseWriter, err error) {
	var ce *guard.CrashError
	if !errors.As(err, &ce) {
		http.Error(w, fmt.Sprintf("expected a crash, got %v", err), http.StatusInternalServerError)
		return
	}
	log.Printf("worker pid %d: recovered: %v (taint %v: %s)", os.Getpid(), ce, ce.Taint.Level, ce.Taint.Reason)
	http.Error(w, fmt.Sprintf("%v (taint %v)", ce, ce.Taint.Level), http.StatusInternalServerError)
}
