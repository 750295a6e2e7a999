//go:build linux && amd64 && cgo

package main

/*
#cgo CFLAGS: -I/usr/include/postgresql
#cgo LDFLAGS: -lpq
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <libpq-fe.h>

// libpq's blocking calls wrapped as void f(void *arg), the shape guard.Call
// runs. The argument block lives in C memory.
struct pq_call {
	char *text;      // in: the connection string (pq_connect) or the SQL (pq_exec)
	PGconn *conn;    // in (pq_exec, pq_finish); out (pq_connect)
	int status;      // out: PQstatus or PQresultStatus; -1 until libpq returned
	int rows;        // out: PQntuples
	char value[256]; // out: the first value of the first row, as text
	char err[512];   // out: libpq's error message
};

// Connects as PQconnectdb does, but stores the PGconn before it waits, so
// that a connect abandoned at its deadline can still be closed.
static void pq_connect(void *arg) {
	struct pq_call *c = arg;
	c->status = -1;
	PGconn *conn = PQconnectStart(c->text);
	c->conn = conn;
	if (conn == NULL) {
		snprintf(c->err, sizeof c->err, "out of memory");
		c->status = CONNECTION_BAD;
		return;
	}
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	if (PQstatus(conn) != CONNECTION_BAD) {
		while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
			struct pollfd p = {PQsocket(conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0};
			if (poll(&p, 1, -1) < 0 && errno != EINTR)
				break;
			st = PQconnectPoll(conn);
		}
	}
	c->status = PQstatus(conn);
	if (c->status != CONNECTION_OK)
		snprintf(c->err, sizeof c->err, "%s", PQerrorMessage(conn));
}

static void pq_exec(void *arg) {
	struct pq_call *c = arg;
	c->status = -1;
	PGresult *res = PQexec(c->conn, c->text);
	if (res == NULL) {
		snprintf(c->err, sizeof c->err, "%s", PQerrorMessage(c->conn));
		c->status = PGRES_FATAL_ERROR;
		return;
	}
	c->rows = PQntuples(res);
	if (c->rows > 0 && PQnfields(res) > 0)
		snprintf(c->value, sizeof c->value, "%s", PQgetvalue(res, 0, 0));
	snprintf(c->err, sizeof c->err, "%s", PQresultErrorMessage(res));
	c->status = PQresultStatus(res);
	PQclear(res);
}

static void pq_finish(void *arg) {
	struct pq_call *c = arg;
	if (c->conn != NULL)
		PQfinish(c->conn);
	c->conn = NULL;
}

static void *pq_connect_fn(void) { return (void *)pq_connect; }
static void *pq_exec_fn(void) { return (void *)pq_exec; }
static void *pq_finish_fn(void) { return (void *)pq_finish; }

static int pq_ok(int status) { return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK; }
*/
import "C"

import (
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
)

var (
	pqConnect = unsafe.Pointer(C.pq_connect_fn())
	pqExec    = unsafe.Pointer(C.pq_exec_fn())
	pqFinish  = unsafe.Pointer(C.pq_finish_fn())
)

// finishTimeout bounds PQfinish, which sends a Terminate message and closes
// the socket: it has no reason to block, but nothing here may hang.
const finishTimeout = 5 * time.Second

// newCall allocates an argument block in C memory: the guarded thread
// writes it, and cgo's rules forbid handing C a Go pointer to keep.
func newCall(text string, conn *C.PGconn) *C.struct_pq_call {
	c := (*C.struct_pq_call)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_pq_call{}))))
	c.text = C.CString(text)
	c.conn = conn
	c.status = -1
	return c
}

func freeCall(c *C.struct_pq_call) {
	C.free(unsafe.Pointer(c.text))
	C.free(unsafe.Pointer(c))
}

// pgConn is one libpq connection.
type pgConn struct{ conn *C.PGconn }

// connect opens a connection under a guard with a deadline.
func connect(conninfo string, timeout time.Duration) (*pgConn, error) {
	c := newCall(conninfo, nil)
	defer freeCall(c)
	err := guard.Call(pqConnect, unsafe.Pointer(c), guard.WithTimeout(timeout))
	if err == nil && c.status != C.CONNECTION_OK {
		err = fmt.Errorf("connect: %s", strings.TrimSpace(C.GoString(&c.err[0])))
	}
	if err != nil {
		if c.conn != nil { // a connect abandoned (or failed) half way: close what it made
			guard.Call(pqFinish, unsafe.Pointer(c), guard.WithTimeout(finishTimeout))
		}
		return nil, err
	}
	return &pgConn{conn: c.conn}, nil
}

// serverVersion is PQserverVersion, e.g. 150018 for 15.18.
func (p *pgConn) serverVersion() int { return int(C.PQserverVersion(p.conn)) }

// queryError is a query the server (or libpq) reported as failed; the
// connection is still usable.
type queryError struct{ status, msg string }

func (e *queryError) Error() string { return e.status + ": " + e.msg }

// exec runs sql under a guard with opts and returns the first value of the
// first row and the row count. An error from the guard (an
// *guard.InterruptError, say) means libpq was abandoned mid-call: the
// connection must then be discarded.
func (p *pgConn) exec(sql string, opts ...guard.Option) (string, int, error) {
	c := newCall(sql, p.conn)
	defer freeCall(c)
	if err := guard.Call(pqExec, unsafe.Pointer(c), opts...); err != nil {
		return "", 0, err
	}
	if C.pq_ok(c.status) == 0 {
		return "", 0, &queryError{
			status: C.GoString(C.PQresStatus(C.ExecStatusType(c.status))),
			msg:    strings.TrimSpace(C.GoString(&c.err[0])),
		}
	}
	return C.GoString(&c.value[0]), int(c.rows), nil
}

// close calls PQfinish under a guard.
func (p *pgConn) close() error {
	if p.conn == nil {
		return nil
	}
	c := newCall("", p.conn)
	defer freeCall(c)
	p.conn = nil
	return guard.Call(pqFinish, unsafe.Pointer(c), guard.WithTimeout(finishTimeout))
}
