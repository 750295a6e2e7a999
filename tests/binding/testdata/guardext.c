/* A SQLite loadable extension for the binding tests: SQL functions that
 * fault, spin or block in C, called by SQLite's virtual machine.
 *
 *   segv()          writes through a null pointer (SIGSEGV)
 *   abrt()          abort() (SIGABRT)
 *   spin(ms)        busy loop in user space for ms milliseconds, no
 *                   system call (ms < 0: for ever); returns ms
 *   sleepread(fd)   one blocking read() of one byte from fd; returns
 *                   what read() returned
 *
 * Built at test time: gcc -shared -fPIC -o guardext.so guardext.c
 * (entry point sqlite3_guardext_init, found from the file name). */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void fn_segv(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
	(void)argc;
	(void)argv;
	*(volatile int *)0 = 1;
	sqlite3_result_int(ctx, 0);
}

static void fn_abrt(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
	(void)argc;
	(void)argv;
	abort();
	sqlite3_result_int(ctx, 0);
}

/* clock_gettime(CLOCK_MONOTONIC) is served by the vDSO: no system call. */
static long long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fn_spin(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
	(void)argc;
	long long ms = sqlite3_value_int64(argv[0]);
	long long end = now_ms() + ms;
	volatile unsigned long n = 0;
	while (ms < 0 || now_ms() < end) {
		for (int i = 0; i < 1000; i++)
			n++;
	}
	sqlite3_result_int64(ctx, ms);
}

static void fn_sleepread(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
	(void)argc;
	char c;
	ssize_t n = read(sqlite3_value_int(argv[0]), &c, 1);
	sqlite3_result_int64(ctx, (sqlite3_int64)n);
}

int sqlite3_guardext_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
	(void)err;
	SQLITE_EXTENSION_INIT2(api);
	int rc = sqlite3_create_function(db, "segv", 0, SQLITE_UTF8, 0, fn_segv, 0, 0);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "abrt", 0, SQLITE_UTF8, 0, fn_abrt, 0, 0);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "spin", 1, SQLITE_UTF8, 0, fn_spin, 0, 0);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "sleepread", 1, SQLITE_UTF8, 0, fn_sleepread, 0, 0);
	return rc;
}
