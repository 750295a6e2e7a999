//go:build linux

// Command superviseprog is a supervised HTTP service for the tests of
// guard/supervise (tests/supervise_test.go). It behaves well unless the file
// named by -behave, read as each worker starts, says otherwise:
//
//	never       never call Ready
//	delay=D     call Ready after D
//	exit        exit 3 before Ready
//	die=D       exit 4 D after Ready
//
// Endpoints: /pid, /env (the worker's environment), /fds (its descriptors), /sleep?ms=N (logs "sleeping N ms" on entry), /hang
// (never answers, and so stops the worker's progress), /restart, /orphan
// (leaves an orphan that exits at once), /die (exit 5 at once).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cgoguard/cgoguard/guard/supervise"
)

func main() {
	var c supervise.Config
	addr := flag.String("addr", "", "address to listen on (none: socket activation only)")
	names := flag.String("names", "", "socket activation: names to take, comma-separated")
	behave := flag.String("behave", "", "file naming how the worker misbehaves")
	flag.DurationVar(&c.StartTimeout, "start", 5*time.Second, "start timeout")
	flag.DurationVar(&c.DrainTimeout, "drain", 5*time.Second, "drain timeout")
	flag.DurationVar(&c.StopTimeout, "stop", 0, "stop timeout")
	flag.DurationVar(&c.Heartbeat, "heartbeat", 0, "hang detection")
	flag.IntVar(&c.CrashLoop, "crashloop", 5, "deaths in -window that end the master")
	flag.DurationVar(&c.CrashWindow, "window", time.Minute, "crash loop window")
	flag.DurationVar(&c.MinBackoff, "backoff", 50*time.Millisecond, "first restart backoff")
	flag.StringVar(&c.PIDFile, "pidfile", "", "pid file")
	flag.BoolVar(&c.Reap, "reap", false, "be a child subreaper")
	flag.Parse()
	if *addr != "" {
		c.Addrs = []string{*addr}
	}
	if *names != "" {
		c.Names = strings.Split(*names, ",")
	}
	err := supervise.Run(c, func(ctx context.Context, ls []net.Listener) error {
		return serve(ctx, ls, *behave)
	})
	if err != nil {
		log.Fatal(err)
	}
}

func serve(ctx context.Context, ls []net.Listener, behave string) error {
	how := ""
	if behave != "" {
		b, _ := os.ReadFile(behave)
		how = strings.TrimSpace(string(b))
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			fmt.Fprintf(os.Stderr, "worker pid %d: got SIGUSR1\n", os.Getpid())
		}
	}()

	mux := http.NewServeMux()
	mux.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, os.Getpid()) })
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		// As a process the worker spawns sees it.
		out, err := exec.Command("/usr/bin/env").Output()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write(out)
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		// Tells the tests the request is in the handler.
		fmt.Fprintf(os.Stderr, "worker pid %d: sleeping %d ms\n", os.Getpid(), ms)
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprint(w, os.Getpid())
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { select {} })
	mux.HandleFunc("/restart", func(w http.ResponseWriter, r *http.Request) {
		supervise.Restart("asked over HTTP")
		fmt.Fprint(w, os.Getpid())
	})
	mux.HandleFunc("/orphan", func(w http.ResponseWriter, r *http.Request) {
		// The shell exits at once; its background child is re-parented.
		out, err := exec.Command("/bin/sh", "-c", "sleep 0.2 & echo $!").Output()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write(out)
	})
	mux.HandleFunc("/fds", func(w http.ResponseWriter, r *http.Request) {
		ents, _ := os.ReadDir("/proc/self/fd")
		for _, e := range ents {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			fmt.Fprintf(w, "%s %s\n", e.Name(), l)
		}
	})
	mux.HandleFunc("/die", func(w http.ResponseWriter, r *http.Request) { os.Exit(5) })
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		if supervise.Draining() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux}

	switch {
	case how == "never":
	case how == "exit":
		os.Exit(3)
	case strings.HasPrefix(how, "delay="):
		d, _ := time.ParseDuration(strings.TrimPrefix(how, "delay="))
		time.AfterFunc(d, supervise.Ready)
	case strings.HasPrefix(how, "die="):
		d, _ := time.ParseDuration(strings.TrimPrefix(how, "die="))
		supervise.Ready()
		time.AfterFunc(d, func() { os.Exit(4) })
	default:
		supervise.Ready()
	}
	return supervise.ServeHTTP(ctx, srv, ls...)
}
