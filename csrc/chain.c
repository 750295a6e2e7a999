/*
 * Passing a signal on: to the handler installed before cgoguard's (the Go
 * runtime's, in a Go program) by a tail jump from cg_sigentry, so it sees
 * exactly the frame the kernel built; to a handler that replaced ours by a
 * call, as the kernel would have run it; or, with no handler at all (a C
 * program), by the default action.
 *
 * Hazards:
 *  - A replacement that chains back to us (it saw cgoguard as its
 *    predecessor) must go on to the original handler, not around in a loop;
 *    one that siglongjmps out (the probing pattern of GCs and JITs) never
 *    comes back to clear the state that tells a chain-back: it is told from
 *    a new signal by its siginfo and a deeper stack (cg_repl_state).
 *  - The handler runs with every signal blocked: the replacement runs under
 *    its own mask and flags (SA_NODEFER, SA_RESETHAND, SA_SIGINFO), and the
 *    handler's full mask is put back after it.
 *  - A synchronous fault with no handler must die by the kernel's default
 *    action, which it does when the instruction runs again.
 */
#if defined(__x86_64__) && defined(__linux__)
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* Did this thread's replacement handler chain back to us (the same
 * siginfo, and cg_dispatch's frame deeper on the stack than the one that
 * called the replacement)? STALE: a replacement set the state and left by
 * a jump; this is a fresh signal. frame is cg_dispatch's frame address:
 * both sides measure the same function's frame, whatever the compiler
 * inlined. */
int cg_repl_state(const siginfo_t *info, uintptr_t frame) {
	if (cg_thread.repl_sp == 0)
		return CG_REPL_NONE;
	if (info == cg_thread.repl_info && frame < cg_thread.repl_sp)
		return CG_REPL_CHAINBACK;
	return CG_REPL_STALE;
}

static int cg_in_replacement(const siginfo_t *info, uintptr_t frame) {
	int st = cg_repl_state(info, frame);
	if (st == CG_REPL_STALE) {
		cg_thread.repl_info = NULL;
		cg_thread.repl_sp = 0;
	}
	return st == CG_REPL_CHAINBACK;
}

/* Where a signal that is not a guarded fault goes. Returns the handler to
 * tail-jump to, or NULL when the signal was dealt with here. */
void *cg_pass_on(int sig, siginfo_t *info, void *uc, uintptr_t frame) {
	struct cg_chain *c = &cg_chains[sig];
	uintptr_t h = __atomic_load_n(&c->next, __ATOMIC_ACQUIRE);
	uintptr_t orig = __atomic_load_n(&c->orig, __ATOMIC_ACQUIRE);

	if (h != orig && cg_in_replacement(info, frame)) {
		/* A replacement handler chained back to us: continue down the
		 * original chain. */
		h = orig;
	} else if (h != orig && h != (uintptr_t)SIG_DFL && h != (uintptr_t)SIG_IGN) {
		/* Call the replacement (not a tail jump: we must see it return to
		 * clear the flag), then resume as it decided; under the mask and
		 * flags it was installed with, as the kernel would have run it:
		 * the interrupted mask, its sa_mask, and the signal itself
		 * unless SA_NODEFER. A replacement that siglongjmps out without
		 * restoring the mask thus leaves what it would have without us. */
		int flags = __atomic_load_n(&c->next_flags, __ATOMIC_RELAXED);
		uint64_t mask, full = ~0ULL;
		memcpy(&mask, &((ucontext_t *)uc)->uc_sigmask, sizeof mask);
		mask |= __atomic_load_n(&c->next_mask, __ATOMIC_RELAXED);
		if (!(flags & SA_NODEFER))
			mask |= 1ULL << (sig - 1);
		if (flags & SA_RESETHAND) {
			/* one-shot: the next one takes the default action */
			__atomic_store_n(&c->next, (uintptr_t)SIG_DFL, __ATOMIC_RELEASE);
		}
		cg_thread.repl_info = info;
		cg_thread.repl_sp = frame;
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, 8L);
		/* With its siginfo and context even when it was installed
		 * without SA_SIGINFO (signal()): the x86-64 kernel passes both
		 * to every handler, and a replacement that chains back by hand
		 * hands on what it was given, which must not be garbage. */
		((void (*)(int, siginfo_t *, void *))h)(sig, info, uc);
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &full, NULL, 8L);
		cg_thread.repl_info = NULL;
		cg_thread.repl_sp = 0;
		return NULL;
	}

	if (h != (uintptr_t)SIG_DFL && h != (uintptr_t)SIG_IGN)
		return (void *)h;

	/* No handler to chain to (a C program): act as the kernel would. */
	if (sig != SIGABRT && info->si_code > 0) {
		/* A real fault: restore the default action and return; the
		 * instruction faults again and the process dies the normal way
		 * (the kernel does so even for an ignored synchronous fault). */
		struct sigaction dfl;
		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		cg_libc_sigaction(sig, &dfl, NULL);
		return NULL;
	}
	if (h == (uintptr_t)SIG_IGN)
		return NULL;
	/* A sent signal whose action is the default (terminate with a core):
	 * restore the default and send it again; it is blocked while we run and
	 * is delivered as soon as this handler returns. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	cg_libc_sigaction(sig, &dfl, NULL);
	syscall(SYS_tgkill, (int)syscall(SYS_getpid), cg_current_tid(), sig);
	return NULL;
}

#endif /* x86-64 Linux */
