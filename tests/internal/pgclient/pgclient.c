// libpq calls wrapped as void f(void *arg), the shape guard.Call runs.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "pgclient.h"

static void pgc_copy(char *dst, size_t n, const char *src) {
	snprintf(dst, n, "%s", src ? src : "");
}

void pgc_connectdb(void *arg) {
	struct pgc_conn *c = arg;
	c->status = -1;
	c->errmsg[0] = 0;
	PGconn *conn = PQconnectdb(c->conninfo);
	c->conn = conn;
	if (conn == NULL) {
		pgc_copy(c->errmsg, sizeof c->errmsg, "PQconnectdb: out of memory");
		c->status = CONNECTION_BAD;
		return;
	}
	c->status = PQstatus(conn);
	if (c->status != CONNECTION_OK)
		pgc_copy(c->errmsg, sizeof c->errmsg, PQerrorMessage(conn));
}

// What PQconnectdb does, but with the PGconn stored in the argument block
// before anything blocks: a connect abandoned at its deadline can still be
// closed with pgc_finish (PQconnectdb's PGconn is lost with the call).
void pgc_connect_poll(void *arg) {
	struct pgc_conn *c = arg;
	c->status = -1;
	c->errmsg[0] = 0;
	PGconn *conn = PQconnectStart(c->conninfo);
	// A store through an argument is complete before the calls below:
	// the compiler cannot know they do not read it.
	c->conn = conn;
	if (conn == NULL) {
		pgc_copy(c->errmsg, sizeof c->errmsg, "PQconnectStart: out of memory");
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
		pgc_copy(c->errmsg, sizeof c->errmsg, PQerrorMessage(conn));
}

void pgc_finish(void *arg) {
	struct pgc_conn *c = arg;
	if (c->conn != NULL)
		PQfinish(c->conn);
	c->conn = NULL;
}

void pgc_exec(void *arg) {
	struct pgc_exec *e = arg;
	e->status = -1;
	e->ntuples = 0;
	e->isnull = 0;
	e->value[0] = 0;
	e->errmsg[0] = 0;
	PGresult *res = PQexec(e->conn, e->sql);
	if (res == NULL) {
		pgc_copy(e->errmsg, sizeof e->errmsg, PQerrorMessage(e->conn));
		e->status = PGRES_FATAL_ERROR;
		return;
	}
	e->status = PQresultStatus(res);
	e->ntuples = PQntuples(res);
	if (e->ntuples > 0 && PQnfields(res) > 0) {
		e->isnull = PQgetisnull(res, 0, 0);
		pgc_copy(e->value, sizeof e->value, PQgetvalue(res, 0, 0));
	}
	pgc_copy(e->errmsg, sizeof e->errmsg, PQresultErrorMessage(res));
	PQclear(res);
}
