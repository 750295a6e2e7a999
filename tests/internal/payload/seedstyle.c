// The per-call protection of the design cgoguard replaces, for the
// benchmarks: install handlers for the fault signals and SIGALRM with
// sigaction, arm a process-wide setitimer, sigsetjmp, call, then disarm and
// restore every handler. Single-threaded only (one process-wide timer, one
// jump buffer), as the original was.
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>

#include "payload.h"

static sigjmp_buf pl_seed_jb;

static void pl_seed_handler(int sig) { siglongjmp(pl_seed_jb, sig); }

static const int pl_seed_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM};
#define PL_SEED_N 6

// Runs fn(arg) the seed way with a timeout in microseconds; returns 0, or
// the signal that ended it.
int pl_seed_call(pl_fn fn, void *arg, long timeout_us) {
	struct sigaction sa, old[PL_SEED_N];
	struct itimerval it, off;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = pl_seed_handler;
	sa.sa_flags = SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < PL_SEED_N; i++)
		sigaction(pl_seed_sigs[i], &sa, &old[i]);
	memset(&it, 0, sizeof it);
	memset(&off, 0, sizeof off);
	it.it_value.tv_sec = timeout_us / 1000000;
	it.it_value.tv_usec = timeout_us % 1000000;
	int sig = sigsetjmp(pl_seed_jb, 1);
	if (sig == 0) {
		setitimer(ITIMER_REAL, &it, NULL);
		fn(arg);
	}
	setitimer(ITIMER_REAL, &off, NULL);
	for (int i = 0; i < PL_SEED_N; i++)
		sigaction(pl_seed_sigs[i], &old[i], NULL);
	return sig;
}
