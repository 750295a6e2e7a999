// Package pgclient wraps the libpq calls the PostgreSQL tests make as C
// functions of the shape guard.Call runs, void f(void *arg), each taking an
// argument block in C memory (cgo is not allowed in _test.go files, so the C
// lives here). Building it needs libpq's headers and library (Debian:
// libpq-dev; .ci/deps.sh installs it).
package pgclient

/*
#cgo CFLAGS: -O2 -g -I/usr/include/postgresql
#cgo LDFLAGS: -lpq
#include <stdlib.h>
#include "pgclient.h"
*/
import "C"

import "unsafe"

// The wrapped calls, of C type void (*)(void *), for guard.Call.
var (
	// ConnectDB calls PQconnectdb with a *Conn's conninfo. Abandoned at a
	// deadline, the half-made PGconn (and its socket) is lost with the call.
	ConnectDB = unsafe.Pointer(C.pgc_connectdb)
	// ConnectPoll connects as PQconnectdb does, through PQconnectStart and
	// PQconnectPoll, storing the PGconn in the *Conn before it waits: an
	// abandoned connect can then be closed with Finish.
	ConnectPoll = unsafe.Pointer(C.pgc_connect_poll)
	// Finish calls PQfinish on a *Conn's connection, if any, and clears it.
	Finish = unsafe.Pointer(C.pgc_finish)
	// Exec calls PQexec with a *Query's connection and SQL.
	Exec = unsafe.Pointer(C.pgc_exec)
)

// CONNECTION_OK, PGRES_COMMAND_OK and PGRES_TUPLES_OK.
const (
	ConnectionOK = int(C.CONNECTION_OK)
	CommandOK    = int(C.PGRES_COMMAND_OK)
	TuplesOK     = int(C.PGRES_TUPLES_OK)
)

// Conn is the argument block of ConnectDB, ConnectPoll and Finish.
type Conn C.struct_pgc_conn

// NewConn allocates a Conn in C memory with the connection string set.
// Release it with Free (after Finish: Free does not close the connection).
func NewConn(conninfo string) *Conn {
	c := (*Conn)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_pgc_conn{}))))
	c.conninfo = C.CString(conninfo)
	c.status = -1
	return c
}

// Free releases the block and its string; the connection, if any, is not
// closed.
func (c *Conn) Free() {
	C.free(unsafe.Pointer(c.conninfo))
	C.free(unsafe.Pointer(c))
}

// Arg is the block as guard.Call's argument.
func (c *Conn) Arg() unsafe.Pointer { return unsafe.Pointer(c) }

// Status is PQstatus after a connect, -1 if the call did not finish.
func (c *Conn) Status() int { return int(c.status) }

// OK reports a finished connect with status CONNECTION_OK.
func (c *Conn) OK() bool { return c.status == C.CONNECTION_OK && c.conn != nil }

// HasPGconn reports whether the block holds a PGconn (to be finished).
func (c *Conn) HasPGconn() bool { return c.conn != nil }

// Err is libpq's error message for a connect that failed.
func (c *Conn) Err() string { return C.GoString(&c.errmsg[0]) }

// ServerVersion is PQserverVersion (e.g. 150018), 0 without a connection.
func (c *Conn) ServerVersion() int {
	if c.conn == nil {
		return 0
	}
	return int(C.PQserverVersion(c.conn))
}

// Query is the argument block of Exec.
type Query C.struct_pgc_exec

// NewQuery allocates a Query in C memory for running sql on c's connection.
// Release it with Free.
func NewQuery(c *Conn, sql string) *Query {
	e := (*Query)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_pgc_exec{}))))
	e.conn = c.conn
	e.sql = C.CString(sql)
	e.status = -1
	return e
}

// Free releases the block and its string.
func (e *Query) Free() {
	C.free(unsafe.Pointer(e.sql))
	C.free(unsafe.Pointer(e))
}

// Arg is the block as guard.Call's argument.
func (e *Query) Arg() unsafe.Pointer { return unsafe.Pointer(e) }

// Status is PQresultStatus, -1 if PQexec did not return.
func (e *Query) Status() int { return int(e.status) }

// StatusName is PQresStatus of Status ("PGRES_TUPLES_OK"...), or "unfinished".
func (e *Query) StatusName() string {
	if e.status < 0 {
		return "unfinished"
	}
	return C.GoString(C.PQresStatus(C.ExecStatusType(e.status)))
}

// OK reports PGRES_COMMAND_OK or PGRES_TUPLES_OK.
func (e *Query) OK() bool { return e.status == C.PGRES_COMMAND_OK || e.status == C.PGRES_TUPLES_OK }

// Value is the first value of the first row as text ("" if none or NULL).
func (e *Query) Value() string { return C.GoString(&e.value[0]) }

// Rows is the number of rows returned.
func (e *Query) Rows() int { return int(e.ntuples) }

// Err is the result's error message.
func (e *Query) Err() string { return C.GoString(&e.errmsg[0]) }
