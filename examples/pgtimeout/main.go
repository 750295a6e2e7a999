//go:build linux && amd64 && cgo

// Command pgtimeout runs a query through libpq's blocking PQexec with a
// deadline that cgoguard enforces: when it passes, the one thread waiting
// inside libpq is interrupted and the call returns an error, however long
// the server takes. The interrupted connection is then discarded (libpq was
// abandoned mid-protocol) and a fresh one shows the process is healthy.
//
//	go build ./examples/pgtimeout
//	./pgtimeout -url 'postgres://me@localhost/mydb' -query 'SELECT pg_sleep(5)' -timeout 500ms
//
// It needs libpq (Debian: libpq-dev). It exits 0 when the final check on a
// fresh connection succeeded, whatever became of the query.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/cgoguard/cgoguard/guard"
)

func main() {
	url := flag.String("url", os.Getenv("DATABASE_URL"), "libpq connection string or URL (default $DATABASE_URL; empty: libpq's defaults, PGHOST etc.)")
	query := flag.String("query", "SELECT pg_sleep(5)", "the query to run with the timeout")
	timeout := flag.Duration("timeout", 500*time.Millisecond, "deadline for the query")
	connectTimeout := flag.Duration("connect-timeout", 10*time.Second, "deadline for each connect")
	flag.Parse()
	if !guard.Supported() {
		fmt.Println("cgoguard:", guard.ErrUnsupported)
		os.Exit(1)
	}
	if *timeout <= 0 || *connectTimeout <= 0 {
		fmt.Fprintln(os.Stderr, "pgtimeout: -timeout and -connect-timeout must be positive")
		os.Exit(2)
	}
	os.Exit(run(*url, *query, *timeout, *connectTimeout))
}

func run(url, query string, timeout, connectTimeout time.Duration) int {
	conn, err := connect(url, connectTimeout)
	if err != nil {
		fmt.Println("pgtimeout:", err)
		return 1
	}
	fmt.Printf("connected (server version %d)\n", conn.serverVersion())

	fmt.Printf("running %q with a %v timeout\n", query, timeout)
	start := time.Now()
	value, rows, err := conn.exec(query, guard.WithTimeout(timeout))
	took := time.Since(start).Round(time.Millisecond)
	var ie *guard.InterruptError
	var qe *queryError
	switch {
	case errors.As(err, &ie):
		fmt.Printf("interrupted after %v: %v\n", took, err)
		fmt.Println("discarding the connection: libpq was abandoned mid-query, its protocol state is unknown")
	case errors.As(err, &qe):
		fmt.Printf("query failed after %v: %v\n", took, err)
	case err != nil: // a crash inside libpq, or the guard could not run the call
		fmt.Printf("call failed after %v: %v\n", took, err)
		fmt.Println("discarding the connection")
	default:
		fmt.Printf("finished after %v: %d row(s), first value %q\n", took, rows, value)
	}
	if err := conn.close(); err != nil {
		fmt.Println("closing the connection:", err)
	}

	fmt.Println("reconnecting")
	conn, err = connect(url, connectTimeout)
	if err != nil {
		fmt.Println("pgtimeout: reconnect:", err)
		return 1
	}
	defer conn.close()
	value, _, err = conn.exec("SELECT 1", guard.WithTimeout(connectTimeout))
	if err != nil || value != "1" {
		fmt.Printf("SELECT 1 on the fresh connection: %q, %v\n", value, err)
		return 1
	}
	fmt.Println("SELECT 1 on a fresh connection returned 1: the process is healthy")
	return 0
}
