/*
 * Installation of the handlers: cgoguard's in front of every guarded signal,
 * the handler found there saved to chain to (cg_chains), and repair when
 * someone replaced ours (interpose.c notices; the next guarded call, or
 * cgoguard_verify_handlers, puts ours back in front, chaining to the new
 * one).
 *
 * Hazards:
 *  - Installed after the Go runtime started, never from a constructor: the
 *    Go runtime forwards only some signals to a handler it found at start
 *    (runtime/signal_unix.go, sigfwdgo), never SIGABRT or SIGILL.
 *  - SA_ONSTACK on every handler: Go throws for a signal on a stack it does
 *    not know, and a stack overflow is caught only on the alternate stack.
 *  - cg_chains is read by the handler on any thread while a repair writes
 *    it: each word is stored atomically, next last.
 *  - The core talks to glibc's sigaction directly: the public one may be
 *    cgoguard's own wrapper (interpose.c).
 */
#if defined(__x86_64__) && defined(__linux__)
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* Defined by glibc; the public sigaction may be cgoguard's own wrapper
 * (interpose.c), so the core always talks to glibc directly. */
extern int __sigaction(int, const struct sigaction *, struct sigaction *);

int cg_libc_sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
	return __sigaction(sig, act, old);
}

/* The fault signals, then the timeout signal once deadlines are in use. */
int cg_signals[CG_NFAULTSIG + 1] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, 0};
static int cg_nsig = CG_NFAULTSIG; /* atomic */

int cg_is_guarded_signal(int sig) {
	int n = __atomic_load_n(&cg_nsig, __ATOMIC_ACQUIRE);
	for (int i = 0; i < n; i++)
		if (cg_signals[i] == sig)
			return 1;
	return 0;
}

struct cg_chain cg_chains[_NSIG];

int cg_installed;
int cg_handlers_dirty;
static pthread_mutex_t cg_install_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cg_repairs;

uint64_t cgoguard_handler_repairs(void) { return __atomic_load_n(&cg_repairs, __ATOMIC_RELAXED); }

static uintptr_t cg_handler_of(const struct sigaction *sa) {
	return (sa->sa_flags & SA_SIGINFO) ? (uintptr_t)sa->sa_sigaction : (uintptr_t)sa->sa_handler;
}

static void cg_our_action(struct sigaction *sa) {
	memset(sa, 0, sizeof *sa);
	sa->sa_sigaction = cg_sigentry;
	/* Same flags and mask as the Go runtime's handlers: a chained Go handler
	 * runs under the mask it expects. SA_ONSTACK is required in a Go process
	 * and is what lets a stack overflow be caught at all. */
	sa->sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigfillset(&sa->sa_mask);
}

/* Puts our handler in front of whatever sig has now. Caller holds the mutex. */
static int cg_take_signal(int sig, int first) {
	struct sigaction ours, old;
	cg_our_action(&ours);
	if (cg_libc_sigaction(sig, &ours, &old) != 0)
		return -1;
	uintptr_t h = cg_handler_of(&old);
	if (h == (uintptr_t)cg_sigentry)
		return 0; /* ours already (perhaps with wrong flags): nothing to chain */
	struct cg_chain *c = &cg_chains[sig];
	if (first)
		__atomic_store_n(&c->orig, h, __ATOMIC_RELEASE);
	uint64_t mask;
	memcpy(&mask, &old.sa_mask, sizeof mask);
	__atomic_store_n(&c->next_flags, old.sa_flags, __ATOMIC_RELAXED);
	__atomic_store_n(&c->next_mask, mask, __ATOMIC_RELAXED);
	__atomic_store_n(&c->next, h, __ATOMIC_RELEASE);
	return 0;
}

int cgoguard_install(void) {
	if (__atomic_load_n(&cg_installed, __ATOMIC_ACQUIRE))
		return CGOGUARD_OK;
	/* With internal linking the C code sits inside the Go text range, and a
	 * fault in it could not be told from a fault in Go. */
	if (cg_pc_in_go((uintptr_t)cgoguard_install))
		return CGOGUARD_ELINKMODE;
	pthread_mutex_lock(&cg_install_mu);
	int rc = CGOGUARD_OK;
	if (!__atomic_load_n(&cg_installed, __ATOMIC_RELAXED)) {
		cg_checked_init(); /* without it, checked reads use process_vm_readv alone */
		struct sigaction saved[CG_NFAULTSIG];
		int i;
		for (i = 0; i < CG_NFAULTSIG; i++) {
			cg_libc_sigaction(cg_signals[i], NULL, &saved[i]);
			if (cg_take_signal(cg_signals[i], 1) != 0)
				break;
		}
		if (i < CG_NFAULTSIG) {
			while (--i >= 0)
				cg_libc_sigaction(cg_signals[i], &saved[i], NULL);
			rc = CGOGUARD_EINSTALL;
		} else {
			__atomic_store_n(&cg_handlers_dirty, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&cg_installed, 1, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&cg_install_mu);
	return rc;
}

static int cg_needs_repair(int sig) {
	struct sigaction cur;
	if (cg_libc_sigaction(sig, NULL, &cur) != 0)
		return 0;
	int want = SA_SIGINFO | SA_ONSTACK;
	return cg_handler_of(&cur) != (uintptr_t)cg_sigentry || (cur.sa_flags & want) != want;
}

/* Checks every guarded signal's handler and puts ours back in front where it
 * was replaced. Returns the number repaired, or CGOGUARD_EINSTALL. */
int cg_repair_handlers(void) {
	int n = 0, rc = 0;
	pthread_mutex_lock(&cg_install_mu);
	__atomic_store_n(&cg_handlers_dirty, 0, __ATOMIC_RELAXED);
	for (int i = 0; i < __atomic_load_n(&cg_nsig, __ATOMIC_ACQUIRE); i++) {
		if (!cg_needs_repair(cg_signals[i]))
			continue;
		if (cg_take_signal(cg_signals[i], 0) != 0)
			rc = CGOGUARD_EINSTALL;
		else
			n++;
	}
	pthread_mutex_unlock(&cg_install_mu);
	if (n)
		__atomic_fetch_add(&cg_repairs, (uint64_t)n, __ATOMIC_RELAXED);
	return rc ? rc : n;
}

/* Puts our handler on the timeout signal, chaining to the one it had. */
int cg_install_timeout_signal(int sig) {
	pthread_mutex_lock(&cg_install_mu);
	int rc = cg_take_signal(sig, 1);
	if (rc == 0) {
		cg_signals[CG_NFAULTSIG] = sig;
		__atomic_store_n(&cg_nsig, CG_NFAULTSIG + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&cg_install_mu);
	return rc;
}

int cgoguard_verify_handlers(void) {
	if (!__atomic_load_n(&cg_installed, __ATOMIC_ACQUIRE)) {
		int rc = cgoguard_install();
		if (rc != CGOGUARD_OK)
			return rc;
	}
	return cg_repair_handlers();
}

#endif /* x86-64 Linux */
