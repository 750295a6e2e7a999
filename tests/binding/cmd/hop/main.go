// Command hop runs "SELECT segv()" (the test extension's faulting SQL
// function) through database/sql and go-sqlite3 inside guard.DoContext,
// with the binding given a cancellable context or not, for the
// goroutine-hopping test (hop_test.go). A recovered fault prints
// "recovered: <error>" and exits 0; an unrecovered one kills the process
// the way Go kills it.
//
// Mode guardsql-exec-cancellable runs the statement through guardsql
// with the cancellable context and no DoContext of its own: guardsql
// must keep it on the calling goroutine.
//
//	hop -ext guardext.so exec-cancellable|exec-background|exec-withoutcancel|query-cancellable|guardsql-exec-cancellable
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/guardsql"
	"github.com/mattn/go-sqlite3"
)

func main() {
	ext := flag.String("ext", "", "the test extension (.so)")
	flag.Parse()
	if *ext == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: hop -ext guardext.so mode")
		os.Exit(64)
	}
	sql.Register("sqlite3_hop", &sqlite3.SQLiteDriver{Extensions: []string{*ext}})
	dir, err := os.MkdirTemp("", "hop")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite3_hop", "file:"+filepath.Join(dir, "hop.db"))
	if err != nil {
		fail(err)
	}
	if _, err := db.Exec("CREATE TABLE t(x)"); err != nil {
		fail(err)
	}
	// The context DoContext owns: cancellable, with a deadline far off.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var bindingCtx context.Context
	query := false
	switch flag.Arg(0) {
	case "exec-cancellable":
		bindingCtx = ctx // the binding runs the statement on a goroutine of its own
	case "exec-background":
		bindingCtx = context.Background()
	case "exec-withoutcancel":
		bindingCtx = context.WithoutCancel(ctx)
	case "query-cancellable":
		bindingCtx, query = ctx, true
	case "guardsql-exec-cancellable":
		g, err := guardsql.Open("sqlite3_hop", "file:"+filepath.Join(dir, "hop.db"))
		if err != nil {
			fail(err)
		}
		_, err = g.ExecContext(ctx, "SELECT segv()")
		if !errors.Is(err, guard.ErrCrash) {
			fail(fmt.Errorf("guardsql ExecContext returned %v, want a CrashError", err))
		}
		fmt.Printf("recovered: %v\n", err)
		os.Exit(0) // g is poisoned: not closed
	default:
		fail(fmt.Errorf("unknown mode %q", flag.Arg(0)))
	}
	var opErr error
	err = guard.DoContext(ctx, func() {
		if query {
			var v int
			opErr = db.QueryRowContext(bindingCtx, "SELECT segv()").Scan(&v)
		} else {
			_, opErr = db.ExecContext(bindingCtx, "SELECT segv()")
		}
	})
	if !errors.Is(err, guard.ErrCrash) {
		fail(fmt.Errorf("DoContext returned %v (statement: %v), want a CrashError", err, opErr))
	}
	fmt.Printf("recovered: %v\n", err)
	os.Exit(0) // db is poisoned: not closed
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "hop:", err)
	os.Exit(1)
}
