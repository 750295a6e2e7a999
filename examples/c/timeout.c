/*
 * Blocking calls with a timeout and retries from plain C:
 * cgoguard_add_timeout_to_func (include/cgoguard.h, libcgoguard.a), no Go.
 *
 *   ret_code = cgoguard_add_timeout_to_func(func, n, interval_ms, ret, args...)
 *
 * runs ret = func(args...) with a deadline of interval_ms, up to n attempts
 * while it times out. Every read below is on a pipe this program created,
 * never on stdin, so the program cannot hang on a terminal.
 *
 *  1. read() on a pipe nobody writes to: 3 attempts of 100 ms, all
 *     interrupted: CGOGUARD_TIMEOUT after about 300 ms.
 *  2. The same macro on the same function again, on a pipe a helper thread
 *     writes to once the first attempt was interrupted: the second attempt
 *     returns the data.
 *  3. Four threads at once, each with its own pipe, calling the macro on
 *     read() itself: the pipes of threads 0 and 2 get data in time, those of
 *     1 and 3 never do.
 *  4. A function that faults is not retried: CGOGUARD_FAULT after 1 attempt.
 *
 * Ends with a summary line; the exit status is 0 only if every outcome was
 * the expected one.
 *
 *   make lib
 *   cc -Iinclude -pthread examples/c/timeout.c libcgoguard.a -o timeout
 *   ./timeout
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgoguard.h"

#define INTERVAL_MS 100
#define ATTEMPTS 3
/* The shortest time n timed-out attempts may take, as this program measures
 * it: deadlines are kept on the TSC, calibrated against CLOCK_MONOTONIC over
 * 10 ms, so allow 2% for the calibration error. */
#define MIN_TIMEOUT_MS (ATTEMPTS * INTERVAL_MS * 0.98)

static int nchecks, nbad;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	printf("   %-4s ", ok ? "ok" : "FAIL");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	nchecks++;
	if (!ok)
		nbad++;
}

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *result_name(int rc) {
	switch (rc) {
	case CGOGUARD_OK: return "CGOGUARD_OK";
	case CGOGUARD_TIMEOUT: return "CGOGUARD_TIMEOUT";
	case CGOGUARD_FAULT: return "CGOGUARD_FAULT";
	}
	return cgoguard_strerror(rc);
}

/* ---- 1 and 2: one function, two uses of the macro ---- */

/* When each attempt started: the function below records it. Lives on the
 * caller's stack; only the thread making the call writes it. */
struct attempt_log {
	double t0;
	double start[ATTEMPTS + 1];
	volatile int started; /* read by the writer thread in case 2 */
};

/* read(), noting when each attempt starts. An attempt that is interrupted
 * never gets past read(), so the log is all it leaves. */
static ssize_t logged_read(int fd, char *buf, size_t len, struct attempt_log *log) {
	int k = __atomic_load_n(&log->started, __ATOMIC_RELAXED);
	if (k < ATTEMPTS + 1)
		log->start[k] = now_ms() - log->t0;
	__atomic_store_n(&log->started, k + 1, __ATOMIC_RELEASE);
	return read(fd, buf, len);
}

/* Prints one line per attempt. Only a timeout is retried, so every attempt
 * before the last was interrupted at its deadline. */
static void print_attempts(const struct attempt_log *log, int attempts, int rc, double end) {
	for (int i = 0; i < attempts && i < ATTEMPTS; i++) {
		double until = i + 1 < attempts ? log->start[i + 1] : end;
		const char *how = i + 1 < attempts || rc == CGOGUARD_TIMEOUT ? "timed out, interrupted in read()"
		                  : rc == CGOGUARD_OK                       ? "returned"
		                                                            : result_name(rc);
		printf("   attempt %d: %6.1f ms .. %6.1f ms  %s\n", i + 1, log->start[i], until, how);
	}
}

struct late_writer {
	int fd;
	struct attempt_log *log;
};

/* Writes once the second attempt has started, so the first one surely
 * timed out and the second one surely gets the data. */
static void *write_on_second_attempt(void *p) {
	struct late_writer *w = p;
	double give_up = now_ms() + 5000;
	while (__atomic_load_n(&w->log->started, __ATOMIC_ACQUIRE) < 2 && now_ms() < give_up)
		usleep(1000);
	ssize_t r = write(w->fd, "hello", 5);
	(void)r;
	return NULL;
}

static void case_nobody_writes(void) {
	printf("1. read() on a pipe nobody writes to, %d attempts of %d ms\n", ATTEMPTS, INTERVAL_MS);
	int p[2];
	if (pipe(p) != 0) {
		check(0, "pipe: %s", strerror(errno));
		return;
	}
	char buf[16];
	ssize_t got = -2;
	int attempts = 0;
	cgoguard_fault f;
	struct attempt_log log = {.t0 = now_ms()};
	int rc = cgoguard_add_timeout_to_func_ex(&f, &attempts, logged_read, ATTEMPTS, INTERVAL_MS, got, p[0], buf,
	                                         sizeof buf, &log);
	double ms = now_ms() - log.t0;
	print_attempts(&log, attempts, rc, ms);
	check(rc == CGOGUARD_TIMEOUT && attempts == ATTEMPTS && log.started == ATTEMPTS,
	      "%s after %d attempts (%d started), want CGOGUARD_TIMEOUT after %d", result_name(rc), attempts,
	      log.started, ATTEMPTS);
	check(rc != CGOGUARD_TIMEOUT || f.interrupt == CGOGUARD_IN_SYSCALL,
	      "the last attempt was stopped in a system call (interrupt %d)", f.interrupt);
	check(got == -2, "ret left alone (%zd)", got);
	check(ms >= MIN_TIMEOUT_MS && ms < ATTEMPTS * INTERVAL_MS + 2000, "took %.1f ms, want about %d", ms,
	      ATTEMPTS * INTERVAL_MS);
	close(p[0]);
	close(p[1]);
}

static void case_second_attempt_gets_data(void) {
	printf("2. the same function again; data arrives during the second attempt\n");
	int p[2];
	if (pipe(p) != 0) {
		check(0, "pipe: %s", strerror(errno));
		return;
	}
	char buf[16] = {0};
	ssize_t got = -2;
	int attempts = 0;
	struct attempt_log log = {.t0 = now_ms()};
	struct late_writer w = {p[1], &log};
	pthread_t t;
	int err = pthread_create(&t, NULL, write_on_second_attempt, &w);
	if (err != 0) {
		check(0, "pthread_create: %s", strerror(err));
		return;
	}
	int rc = cgoguard_add_timeout_to_func_ex(NULL, &attempts, logged_read, ATTEMPTS, INTERVAL_MS, got, p[0], buf,
	                                         sizeof buf - 1, &log);
	double ms = now_ms() - log.t0;
	pthread_join(t, NULL);
	print_attempts(&log, attempts, rc, ms);
	check(rc == CGOGUARD_OK && attempts == 2, "%s on attempt %d, want CGOGUARD_OK on attempt 2", result_name(rc),
	      attempts);
	check(got == 5 && strcmp(buf, "hello") == 0, "ret = %zd, read \"%s\", want 5 and \"hello\"", got, buf);
	close(p[0]);
	close(p[1]);
}

/* ---- 3: several threads at once ---- */

#define NTHREADS 4

struct reader {
	int id;
	int fd[2];
	int gets_data;
	pthread_barrier_t *barrier;
	/* results */
	int rc;
	ssize_t got;
	char buf[16];
	double start, end;
};

static void *reader_thread(void *p) {
	struct reader *r = p;
	pthread_barrier_wait(r->barrier);
	r->start = now_ms();
	r->got = -2;
	/* read itself, straight from libc: no wrapper needed. */
	r->rc = cgoguard_add_timeout_to_func(read, ATTEMPTS, INTERVAL_MS, r->got, r->fd[0], r->buf, sizeof r->buf - 1);
	r->end = now_ms();
	return NULL;
}

static void case_threads(void) {
	printf("3. %d threads at once, each reading its own pipe; threads 0 and 2 get data in time\n", NTHREADS);
	struct reader rd[NTHREADS];
	pthread_t t[NTHREADS];
	pthread_barrier_t barrier;
	pthread_barrier_init(&barrier, NULL, NTHREADS + 1);
	int made = 0;
	for (int i = 0; i < NTHREADS; i++) {
		memset(&rd[i], 0, sizeof rd[i]);
		rd[i].id = i;
		rd[i].gets_data = i % 2 == 0;
		rd[i].barrier = &barrier;
		if (pipe(rd[i].fd) != 0) {
			check(0, "pipe: %s", strerror(errno));
			break;
		}
		if (pthread_create(&t[i], NULL, reader_thread, &rd[i]) != 0) {
			check(0, "pthread_create failed");
			break;
		}
		made++;
	}
	if (made < NTHREADS) {
		/* The barrier would never open: give up on the whole program. */
		printf("timeout: setup failed\n");
		_exit(1);
	}
	double t0 = now_ms();
	pthread_barrier_wait(&barrier);
	usleep(30 * 1000); /* data after 30 ms: well within the first 100 ms attempt */
	for (int i = 0; i < NTHREADS; i++) {
		if (rd[i].gets_data) {
			char msg[16];
			int n = snprintf(msg, sizeof msg, "data %d", i);
			ssize_t w = write(rd[i].fd[1], msg, (size_t)n);
			(void)w;
		}
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&barrier);

	double latest_start = 0, earliest_end = 1e300;
	for (int i = 0; i < NTHREADS; i++) {
		struct reader *r = &rd[i];
		printf("   thread %d: %6.1f ms .. %6.1f ms  %s", i, r->start - t0, r->end - t0, result_name(r->rc));
		if (r->rc == CGOGUARD_OK)
			printf(", read \"%s\"", r->buf);
		printf("\n");
		if (r->gets_data) {
			char want[16];
			snprintf(want, sizeof want, "data %d", i);
			check(r->rc == CGOGUARD_OK && r->got == (ssize_t)strlen(want) && strcmp(r->buf, want) == 0,
			      "thread %d: %s, ret %zd, want CGOGUARD_OK and \"%s\"", i, result_name(r->rc), r->got, want);
		} else {
			double ms = r->end - r->start;
			check(r->rc == CGOGUARD_TIMEOUT && r->got == -2 && ms >= MIN_TIMEOUT_MS,
			      "thread %d: %s after %.1f ms, want CGOGUARD_TIMEOUT after %d ms", i, result_name(r->rc), ms,
			      ATTEMPTS * INTERVAL_MS);
			if (r->start > latest_start)
				latest_start = r->start;
			if (r->end < earliest_end)
				earliest_end = r->end;
		}
		close(r->fd[0]);
		close(r->fd[1]);
	}
	/* The threads that timed out must have waited at the same time, not one
	 * after the other. */
	check(latest_start < earliest_end, "the timed-out threads overlapped in time");
}

/* ---- 4: a fault is not retried ---- */

static int *volatile null_ptr = NULL;

__attribute__((noinline)) static int store_through(int *p, int v) {
	*p = v;
	return v;
}

static void case_fault(void) {
	printf("4. a function that faults: not retried\n");
	int ret = -2, attempts = 0;
	cgoguard_fault f;
	memset(&f, 0, sizeof f);
	int rc = cgoguard_add_timeout_to_func_ex(&f, &attempts, store_through, ATTEMPTS, INTERVAL_MS, ret, null_ptr, 7);
	printf("   attempt 1: %s, %s at addr %#llx\n", result_name(rc), f.signo == SIGSEGV ? "SIGSEGV" : "?",
	       (unsigned long long)f.addr);
	check(rc == CGOGUARD_FAULT && attempts == 1 && f.signo == SIGSEGV && f.addr == 0 && ret == -2,
	      "%s after %d attempt(s), signal %d, want CGOGUARD_FAULT (SIGSEGV at 0) after 1", result_name(rc),
	      attempts, f.signo);
	int x = 0;
	rc = cgoguard_add_timeout_to_func(store_through, ATTEMPTS, INTERVAL_MS, ret, &x, 7);
	check(rc == CGOGUARD_OK && ret == 7 && x == 7, "the next call runs normally: %s, ret %d", result_name(rc), ret);
}

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(20); /* a hang fails instead of blocking */
	case_nobody_writes();
	case_second_attempt_gets_data();
	case_threads();
	case_fault();
	if (nbad == 0)
		printf("timeout: all %d checks as expected\n", nchecks);
	else
		printf("timeout: %d of %d checks not as expected\n", nbad, nchecks);
	return nbad == 0 ? 0 : 1;
}
