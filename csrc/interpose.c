/*
 * Notices when someone changes the handler of a guarded signal, so the next
 * guarded call can put cgoguard's handler back in front (install.c,
 * cg_repair_handlers).
 *
 * These definitions take the place of glibc's for every caller linked into
 * the same executable (the Go runtime's cgo sigaction shim included), and for
 * shared libraries when the executable exports them (the linker does so when
 * a library on the link line refers to them). They forward to glibc
 * unchanged; the only addition is a flag. They may run inside signal
 * handlers (the Go runtime calls sigaction there), so they are
 * async-signal-safe.
 *
 * Not seen: raw rt_sigaction system calls, sigset(), and libraries that bind
 * to glibc's symbols directly (dlopen with RTLD_DEEPBIND);
 * cgoguard_verify_handlers checks the kernel's table for those.
 */
#if defined(__x86_64__) && defined(__linux__)
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

static void cg_note_change(int sig, const struct sigaction *act) {
	if (act != NULL && cg_is_guarded_signal(sig) && __atomic_load_n(&cg_installed, __ATOMIC_ACQUIRE))
		__atomic_store_n(&cg_handlers_dirty, 1, __ATOMIC_RELEASE);
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
	struct sigaction fixed;
	if (act != NULL && (uintptr_t)act->sa_handler == (uintptr_t)cg_sigentry) {
		/* Someone putting back the handler they saw (ours), perhaps
		 * without SA_SIGINFO or SA_ONSTACK: keep it fully working. */
		fixed = *act;
		fixed.sa_flags |= SA_SIGINFO | SA_ONSTACK;
		sigfillset(&fixed.sa_mask);
		act = &fixed;
	}
	int rc = cg_libc_sigaction(sig, act, old);
	if (rc == 0)
		cg_note_change(sig, act);
	return rc;
}

/* signal() with glibc's BSD semantics: handler stays installed, the signal is
 * blocked while it runs, interrupted system calls restart. */
static __sighandler_t cg_signal_with(int sig, __sighandler_t handler, int flags, int self_mask) {
	struct sigaction act, old;
	if (handler == SIG_ERR || sig <= 0 || sig >= _NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	memset(&act, 0, sizeof act);
	act.sa_handler = handler;
	sigemptyset(&act.sa_mask);
	if (self_mask)
		sigaddset(&act.sa_mask, sig);
	act.sa_flags = flags;
	if (sigaction(sig, &act, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

__sighandler_t signal(int sig, __sighandler_t handler) {
	return cg_signal_with(sig, handler, SA_RESTART, 1);
}

__sighandler_t bsd_signal(int sig, __sighandler_t handler) {
	return cg_signal_with(sig, handler, SA_RESTART, 1);
}

__sighandler_t ssignal(int sig, __sighandler_t handler) {
	return cg_signal_with(sig, handler, SA_RESTART, 1);
}

/* System V semantics: one-shot, not blocked while running, no restart. */
__sighandler_t sysv_signal(int sig, __sighandler_t handler) {
	return cg_signal_with(sig, handler, SA_RESETHAND | SA_NODEFER, 0);
}

/* What signal() compiles to under strict X/Open (glibc's <signal.h>). */
__sighandler_t __sysv_signal(int sig, __sighandler_t handler) {
	return cg_signal_with(sig, handler, SA_RESETHAND | SA_NODEFER, 0);
}

#endif /* x86-64 Linux */
