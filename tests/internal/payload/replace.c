// A stand-in for a library that installs its own fault handler after
// cgoguard did (as Oracle's client does): it counts what it sees and passes
// each signal on to the handler it replaced.
#include <signal.h>
#include <string.h>

#include "payload.h"

static struct sigaction pl_replaced[65];
static volatile long pl_seen[65];

static void pl_replacement(int sig, siginfo_t *info, void *uc) {
	pl_seen[sig]++;
	const struct sigaction *prev = &pl_replaced[sig];
	if (prev->sa_flags & SA_SIGINFO)
		prev->sa_sigaction(sig, info, uc);
	else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN)
		prev->sa_handler(sig);
}

// Installs the replacement for sig with sigaction (how = 0) or signal()
// (how = 1; then siginfo is not requested, as old code does). Returns 0 on
// success.
int pl_replace_handler(int sig, int how) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	if (sigaction(sig, NULL, &pl_replaced[sig]) != 0)
		return -1;
	if (how == 1)
		return signal(sig, (void (*)(int))pl_replacement) == SIG_ERR ? -1 : 0;
	sa.sa_sigaction = pl_replacement;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigfillset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

long pl_replacement_seen(int sig) { return pl_seen[sig]; }
