// Command odbc shows guard/guardsql over github.com/alexbrainman/odbc
// (unixODBC and a driver such as psqlODBC; docs/databases.md): a query
// blocked in the driver's network read past its deadline comes back as a
// *guard.InterruptError from the database/sql call, the connection it
// used is abandoned (its server backend is never used again), and the
// pool goes on.
//
//	cd examples/odbc && go build && ./odbc -dsn 'Driver={PostgreSQL Unicode};Servername=127.0.0.1;Port=5432;Database=postgres;Username=postgres'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	_ "github.com/alexbrainman/odbc" // registers "odbc"
	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/guardsql"
)

func main() {
	dsn := flag.String("dsn", "", "ODBC connection string of a PostgreSQL server")
	flag.Parse()
	if err := run(*dsn); err != nil {
		fmt.Fprintln(os.Stderr, "odbc example:", err)
		os.Exit(1)
	}
}

func run(dsn string) error {
	if dsn == "" {
		return errors.New("-dsn is required")
	}
	// guardsql runs every driver call under guard.Do: check that Do can
	// guard here (amd64 Linux, a Go release cgoguard knows).
	if err := guard.Do(func() {}); err != nil {
		return err
	}
	// Operations without a deadline of their own get 10s.
	db, err := guardsql.Open("odbc", dsn, guard.WithTimeout(10*time.Second))
	if err != nil {
		return err
	}
	ctx := context.Background()

	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	var pid int
	if err := c.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		return err
	}
	// The server sleeps for 30s; the deadline is 300ms.
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	var s string
	err = c.QueryRowContext(tctx, "SELECT pg_sleep(30)").Scan(&s)
	cancel()
	var ie *guard.InterruptError
	if !errors.As(err, &ie) || !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("want an InterruptError at the deadline, got %v", err)
	}
	fmt.Printf("query stopped after %v: %v\n  connection to backend %d abandoned (%d so far)\n",
		time.Since(start).Round(time.Millisecond), ie, pid, guardsql.Abandoned())
	c.Close() // returns at once: it never calls into the abandoned connection

	for i := 0; i < 5; i++ {
		var p int
		if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&p); err != nil {
			return err
		}
		if p == pid {
			return fmt.Errorf("the abandoned connection's backend %d answered again", pid)
		}
	}
	fmt.Println("healthy queries on other backends")
	start = time.Now()
	if err := db.Close(); err != nil {
		return err
	}
	fmt.Printf("closed in %v\n", time.Since(start).Round(time.Millisecond))
	fmt.Println("odbc example: ok")
	return nil
}
