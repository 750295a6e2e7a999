// The C functions the benchmarks call, the same bodies as the test
// payloads' (tests/internal/payload, which this module cannot import): an
// empty function, a NULL write, a read() that blocks forever, and the
// seed-style per-call wrapper.
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cfuncs.h"

void bf_empty(void *arg) { (void)arg; }

__attribute__((noinline)) void bf_null_write(void *arg) {
	(void)arg;
	*(volatile int *)0 = 42;
}

static int bf_pipe[2] = {-1, -1};

// Creates the pipe bf_read_pipe waits on (nobody ever writes to it);
// idempotent.
int bf_pipe_setup(void) {
	if (bf_pipe[0] >= 0)
		return 0;
	return pipe(bf_pipe);
}

void bf_read_pipe(void *arg) {
	long *out = arg;
	char c;
	*out = read(bf_pipe[0], &c, 1);
}

// The per-call protection of the design cgoguard replaces: install handlers
// for the fault signals and SIGALRM with sigaction, arm a process-wide
// setitimer, sigsetjmp, call, then disarm and restore every handler.
// Single-threaded only (one process-wide timer, one jump buffer).
static sigjmp_buf bf_seed_jb;

static void bf_seed_handler(int sig) { siglongjmp(bf_seed_jb, sig); }

static const int bf_seed_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM};
#define BF_SEED_N 6

// Runs fn(arg) the seed way with a timeout in microseconds; returns 0, or
// the signal that ended it.
int bf_seed_call(bf_fn fn, void *arg, long timeout_us) {
	struct sigaction sa, old[BF_SEED_N];
	struct itimerval it, off;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = bf_seed_handler;
	sa.sa_flags = SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < BF_SEED_N; i++)
		sigaction(bf_seed_sigs[i], &sa, &old[i]);
	memset(&it, 0, sizeof it);
	memset(&off, 0, sizeof off);
	it.it_value.tv_sec = timeout_us / 1000000;
	it.it_value.tv_usec = timeout_us % 1000000;
	int sig = sigsetjmp(bf_seed_jb, 1);
	if (sig == 0) {
		setitimer(ITIMER_REAL, &it, NULL);
		fn(arg);
	}
	setitimer(ITIMER_REAL, &off, NULL);
	for (int i = 0; i < BF_SEED_N; i++)
		sigaction(bf_seed_sigs[i], &old[i], NULL);
	return sig;
}
