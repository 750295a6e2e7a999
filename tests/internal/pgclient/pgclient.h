#ifndef PGCLIENT_H
#define PGCLIENT_H

#include <libpq-fe.h>

// The argument blocks of the guard-compatible libpq wrappers. They live in
// C memory: the guarded thread writes them, and a call abandoned at its
// deadline leaves them as far as it got.

struct pgc_conn {
	char *conninfo;     // in: libpq connection string or URL (malloc'd)
	PGconn *conn;       // out: the connection (pgc_connect_poll: as soon as libpq allocated it)
	int status;         // out: PQstatus, -1 until the call finishes
	char errmsg[512];   // out: PQerrorMessage when the status is not CONNECTION_OK
};

struct pgc_exec {
	PGconn *conn;       // in
	char *sql;          // in (malloc'd)
	int status;         // out: PQresultStatus, -1 until PQexec returns
	int ntuples;        // out
	int isnull;         // out: the first value is NULL
	char value[256];    // out: the first value of the first row, as text
	char errmsg[512];   // out: PQresultErrorMessage (or PQerrorMessage)
};

void pgc_connectdb(void *arg);    // struct pgc_conn: PQconnectdb
void pgc_connect_poll(void *arg); // struct pgc_conn: PQconnectStart + PQconnectPoll
void pgc_finish(void *arg);       // struct pgc_conn: PQfinish(conn); conn = NULL
void pgc_exec(void *arg);         // struct pgc_exec: PQexec

#endif
