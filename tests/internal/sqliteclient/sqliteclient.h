/* The SQLite calls the real-library tests make, each of the shape guard.Call
 * runs: void f(void *arg), with an argument block in C memory. */
#ifndef SQLITECLIENT_H
#define SQLITECLIENT_H

#include <sqlite3.h>

struct sqc_db {
	const char *path; /* in: for sqc_open */
	int busy_ms;      /* in: for sqc_open: sqlite3_busy_timeout, 0 for none */
	sqlite3 *db;      /* out of sqc_open; in for the others */
	int rc;           /* out: the SQLite result code */
};

struct sqc_exec {
	sqlite3 *db;      /* in */
	const char *sql;  /* in */
	long long value;  /* out: the first column of the last row, if any */
	int rc;           /* out */
};

void sqc_open(void *arg);   /* struct sqc_db: opens path and registers crash() */
void sqc_close(void *arg);  /* struct sqc_db */
void sqc_exec(void *arg);   /* struct sqc_exec: runs sql with sqlite3_exec */

/* The scalar SQL function crash(), registered by sqc_open: writes through a
 * NULL pointer, so SELECT crash() faults in our code called by SQLite's
 * virtual machine, several libsqlite3 frames below the guard point. */
void sqc_crash_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);

#endif
