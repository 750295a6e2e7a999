// Package sqliteclient wraps the SQLite calls the real-library tests make
// as C functions of the shape guard.Call runs, void f(void *arg), each
// taking an argument block in C memory (cgo is not allowed in _test.go
// files). Building it needs SQLite's headers and library (Debian:
// libsqlite3-dev; .ci/deps.sh installs it).
package sqliteclient

/*
#cgo CFLAGS: -O2 -g
#cgo LDFLAGS: -lsqlite3
#include <stdlib.h>
#include <stdint.h>
#include "sqliteclient.h"

static sqlite3 *sqc_handle(uintptr_t v) { return (sqlite3 *)v; }
*/
import "C"

import "unsafe"

// The wrapped calls, of C type void (*)(void *), for guard.Call.
var (
	// Open opens a *DB's path (creating the file) and registers the SQL
	// function crash(), which writes through a NULL pointer.
	Open = unsafe.Pointer(C.sqc_open)
	// Close closes a *DB's connection.
	Close = unsafe.Pointer(C.sqc_close)
	// Exec runs an *Exec's SQL with sqlite3_exec.
	Exec = unsafe.Pointer(C.sqc_exec)
)

// SQLITE_OK and SQLITE_BUSY.
const (
	OK   = int(C.SQLITE_OK)
	Busy = int(C.SQLITE_BUSY)
)

// DB is the argument block of Open and Close, in C memory.
type DB struct{ p *C.struct_sqc_db }

// NewDB makes the block for the database file at path; busyMs sets
// sqlite3_busy_timeout (0: none). Free it with Free.
func NewDB(path string, busyMs int) DB {
	p := (*C.struct_sqc_db)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_sqc_db{}))))
	p.path = C.CString(path)
	p.busy_ms = C.int(busyMs)
	return DB{p}
}

// Arg is the block, for guard.Call.
func (d DB) Arg() unsafe.Pointer { return unsafe.Pointer(d.p) }

// RC is the result code of the last Open or Close.
func (d DB) RC() int { return int(d.p.rc) }

// Free releases the block (not the connection: Close it first, or leave a
// connection abandoned by a fault or an interrupt as it is).
func (d DB) Free() {
	C.free(unsafe.Pointer(d.p.path))
	C.free(unsafe.Pointer(d.p))
}

// ExecArgs is the argument block of Exec, in C memory.
type ExecArgs struct{ p *C.struct_sqc_exec }

// NewExec makes the block that runs sql on d's connection, or, with a zero
// DB, on the bogus handle bogus (a pointer SQLite will read through).
func NewExec(d DB, bogus uintptr, sql string) ExecArgs {
	p := (*C.struct_sqc_exec)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_sqc_exec{}))))
	if d.p != nil {
		p.db = d.p.db
	} else {
		p.db = C.sqc_handle(C.uintptr_t(bogus))
	}
	p.sql = C.CString(sql)
	return ExecArgs{p}
}

// Arg is the block, for guard.Call.
func (e ExecArgs) Arg() unsafe.Pointer { return unsafe.Pointer(e.p) }

// RC is sqlite3_exec's result.
func (e ExecArgs) RC() int { return int(e.p.rc) }

// Value is the first column of the last row the statement returned.
func (e ExecArgs) Value() int64 { return int64(e.p.value) }

// Free releases the block.
func (e ExecArgs) Free() {
	C.free(unsafe.Pointer(e.p.sql))
	C.free(unsafe.Pointer(e.p))
}
