#include <stdlib.h>
#include <string.h>

#include "sqliteclient.h"

__attribute__((noinline)) void sqc_crash_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
	(void)argc;
	(void)argv;
	*(volatile int *)0 = 42;
	sqlite3_result_int(ctx, 0);
}

void sqc_open(void *arg) {
	struct sqc_db *a = arg;
	a->db = NULL;
	a->rc = sqlite3_open_v2(a->path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (a->rc != SQLITE_OK)
		return;
	if (a->busy_ms > 0)
		sqlite3_busy_timeout(a->db, a->busy_ms);
	a->rc = sqlite3_create_function(a->db, "crash", 0, SQLITE_UTF8, NULL, sqc_crash_func, NULL, NULL);
}

void sqc_close(void *arg) {
	struct sqc_db *a = arg;
	a->rc = sqlite3_close(a->db);
	if (a->rc == SQLITE_OK)
		a->db = NULL;
}

static int sqc_row(void *arg, int ncol, char **vals, char **names) {
	struct sqc_exec *a = arg;
	(void)names;
	if (ncol > 0 && vals[0] != NULL)
		a->value = strtoll(vals[0], NULL, 10);
	return 0;
}

void sqc_exec(void *arg) {
	struct sqc_exec *a = arg;
	a->value = 0;
	a->rc = sqlite3_exec(a->db, a->sql, sqc_row, a, NULL);
}
