/*
 * The signal handler: decides whether a signal is a fault of the innermost
 * open guard on this thread (or the watchdog's timeout signal for the call
 * it runs), and either unwinds to that guard point or passes the signal on
 * to the handler that was installed before.
 *
 * Everything reachable from cg_dispatch is async-signal-safe: no malloc, no
 * locks, no stdio; only TLS (initial-exec), atomics, system calls, and
 * libgcc's unwinder (unwind.c), which takes no lock and does not allocate
 * on glibc >= 2.35.
 */
#if defined(__x86_64__) && defined(__linux__)
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Defined by glibc; the public sigaction may be cgoguard's own wrapper
 * (interpose.c), so the core always talks to glibc directly. */
extern int __sigaction(int, const struct sigaction *, struct sigaction *);

int cg_libc_sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
	return __sigaction(sig, act, old);
}

/* The fault signals, then the timeout signal once deadlines are in use. */
static int cg_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, 0};
#define CG_NFAULTSIG 5
static int cg_nsig = CG_NFAULTSIG; /* atomic */

int cg_is_guarded_signal(int sig) {
	int n = __atomic_load_n(&cg_nsig, __ATOMIC_ACQUIRE);
	for (int i = 0; i < n; i++)
		if (cg_signals[i] == sig)
			return 1;
	return 0;
}

/*
 * The handler each guarded signal had before cgoguard: where signals that
 * are not a guarded fault go. chain_orig is the one found at first install
 * (the Go runtime's, in a Go program). chain_next differs from it after a
 * repair: the handler that replaced cgoguard's. Read by the signal handler,
 * so stored as atomically read words.
 */
struct cg_chain {
	uintptr_t orig;       /* handler address, or SIG_DFL / SIG_IGN */
	uintptr_t next;
	int next_flags;
	uint64_t next_mask;   /* next's sa_mask, as the kernel's 64-bit set */
};
static struct cg_chain cg_chains[_NSIG];

int cg_installed;
int cg_handlers_dirty;
static pthread_mutex_t cg_install_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cg_repairs;
static uint64_t cg_recoveries;
static uint64_t cg_interrupts;

static uintptr_t cg_go_text_start, cg_go_text_end;

void cg_set_go_text(uintptr_t start, uintptr_t end) {
	cg_go_text_start = start;
	cg_go_text_end = end;
}

int cg_pc_in_go(uintptr_t pc) {
	return (pc >= cg_go_text_start && pc < cg_go_text_end) || cg_pc_in_go_module(pc);
}

uint64_t cgoguard_handler_repairs(void) { return __atomic_load_n(&cg_repairs, __ATOMIC_RELAXED); }
uint64_t cgoguard_recovered(void) { return __atomic_load_n(&cg_recoveries, __ATOMIC_RELAXED); }
uint64_t cgoguard_interrupted(void) { return __atomic_load_n(&cg_interrupts, __ATOMIC_RELAXED); }

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

/* ---- signal handler ---- */

static int cg_sys_gettid(void) { return (int)syscall(SYS_gettid); }

/*
 * The handler decides in one place, then acts: cg_classify looks at the
 * signal and at async-signal-safe state (the per-thread record, the guard
 * records, the region table, memory read through the kernel) and changes
 * nothing; cg_act then does what the decision says, and is the only code
 * that pops guards, writes fault records or rewrites the context.
 */
enum cg_action {
	CG_PASS,     /* not ours: to the handler installed before (cg_pass_on) */
	CG_IGNORE,   /* ours, nothing to do: a stale timeout signal, or one
	              * for a call that may still run (grace period) */
	CG_PROBE,    /* a fault inside this thread's probe: resume its caller */
	CG_AT_GUARD, /* resume at a guard point of guard.Call (cg_resume) */
	CG_AT_LAND,  /* resume at the cgo boundary's land function (guard.Do) */
};

/* The replacement-handler state of the thread (cg_thread.repl_*). */
enum { CG_REPL_NONE, CG_REPL_CHAINBACK, CG_REPL_STALE };

struct cg_decision {
	enum cg_action action;
	int repl;      /* CG_REPL_*: STALE is cleared by cg_act */
	int rc;        /* AT_GUARD, AT_LAND: CGOGUARD_FAULT, _TIMEOUT or _CANCELED */
	int interrupt; /* CGOGUARD_NOT_INTERRUPTED, _IN_SYSCALL or _FORCED */
	/* AT_GUARD: the guard, its place on the guard stack (1-based; the
	 * stack is cut to depth - 1) and the deciding walk, whose frames are
	 * already in guard->out (memory the guard owns; unread unless the
	 * decision is to resume there). */
	struct cg_guard *guard;
	int depth, walk, nframes;
	struct cg_boundary_hit hit; /* AT_LAND */
};

/* Did this thread's replacement handler chain back to us (same siginfo,
 * deeper on the stack)? STALE: a replacement set the state and left by a
 * jump; this is a fresh signal. */
static int cg_repl_state(const siginfo_t *info) {
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	if (cg_thread.repl_sp == 0)
		return CG_REPL_NONE;
	if (info == cg_thread.repl_info && sp < cg_thread.repl_sp)
		return CG_REPL_CHAINBACK;
	return CG_REPL_STALE;
}

static int cg_in_replacement(const siginfo_t *info) {
	int st = cg_repl_state(info);
	if (st == CG_REPL_STALE) {
		cg_thread.repl_info = NULL;
		cg_thread.repl_sp = 0;
	}
	return st == CG_REPL_CHAINBACK;
}

/*
 * Is this signal a fault of the guarded call running on this thread?
 *  - the interrupted PC must not be Go code: a fault in Go (including a Go
 *    callback made from guarded C) is the Go runtime's, and so is a signal
 *    raised by the runtime itself;
 *  - SEGV/BUS/FPE/ILL: generated by the kernel for an instruction of this
 *    thread (si_code > 0);
 *  - any guarded signal sent to this very thread by this process with
 *    tgkill (SI_TKILL): that is raise() and abort() in the guarded code.
 *    kill() from anywhere, and anything from another process, is not.
 */
static int cg_fault_is_ours(int sig, const siginfo_t *info, const ucontext_t *uc) {
	if (cg_pc_in_go(cg_ctx_pc(uc)))
		return 0;
	if (info->si_code > 0)
		return sig != SIGABRT;
	if (info->si_code == SI_TKILL)
		return info->si_pid == (pid_t)syscall(SYS_getpid);
	return 0;
}

/* Is g an open guard whose frame lies above the fault on this stack? A
 * record left behind by a Go panic that unwound through guarded C frames
 * fails these checks once its memory has been reused. */
static int cg_guard_live(const struct cg_guard *g, const ucontext_t *uc) {
	uintptr_t sp = cg_ctx_sp(uc);
	return g->canary == ((uintptr_t)g ^ (uintptr_t)CG_CANARY_VALUE) && (uintptr_t)g > sp;
}

void cg_record(cgoguard_fault *f, int32_t depth, int max_frames, int walk, int sig,
               const siginfo_t *info, const ucontext_t *uc) {
	struct timespec ts;

	f->signo = sig;
	f->code = info->si_code;
	f->tid = cg_thread.tid;
	f->sender_pid = info->si_code <= 0 ? info->si_pid : 0;
	f->addr = (sig == SIGABRT || info->si_code <= 0) ? 0 : (uint64_t)(uintptr_t)info->si_addr;
	f->pc = (uint64_t)cg_ctx_pc(uc);
	f->sp = (uint64_t)cg_ctx_sp(uc);
	cg_ctx_regs(f->regs, uc);
	f->depth = depth;
	f->interrupt = CGOGUARD_NOT_INTERRUPTED;
	f->time_ns = 0;
	if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
		f->time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	if (walk == CG_WALK_UNKNOWN && f->nframes == 1 && max_frames > 1) {
		/* The walk stopped at the faulting PC itself: a jump or call to
		 * an address with no code. The word at SP is then usually the
		 * return address of that call (if SP points anywhere). */
		uintptr_t ra = 0;
		if (cg_read_word((uintptr_t)f->sp, &ra) && ra != 0 && ra != (uintptr_t)cg_invoke_ret)
			f->frames[f->nframes++] = (uint64_t)ra;
	}
}

/* Where a signal that is not a guarded fault goes. Returns the handler to
 * tail-jump to, or NULL when the signal was dealt with here. */
static void *cg_pass_on(int sig, siginfo_t *info, void *uc) {
	struct cg_chain *c = &cg_chains[sig];
	uintptr_t h = __atomic_load_n(&c->next, __ATOMIC_ACQUIRE);
	uintptr_t orig = __atomic_load_n(&c->orig, __ATOMIC_ACQUIRE);

	if (h != orig && cg_in_replacement(info)) {
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
		cg_thread.repl_sp = (uintptr_t)__builtin_frame_address(0);
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, 8L);
		if (flags & SA_SIGINFO)
			((void (*)(int, siginfo_t *, void *))h)(sig, info, uc);
		else
			((void (*)(int))h)(sig);
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
	syscall(SYS_tgkill, (int)syscall(SYS_getpid), cg_sys_gettid(), sig);
	return NULL;
}

/*
 * System calls at which a thread may be stopped without a grace period:
 * the ones that block. The allocator's own (brk, mmap, munmap, madvise,
 * mprotect) are not among them: glibc makes them holding an arena lock.
 */
static int cg_blocking_syscall(long nr) {
	switch (nr) {
	case SYS_read: case SYS_write: case SYS_pread64: case SYS_pwrite64: case SYS_readv:
	case SYS_writev: case SYS_preadv: case SYS_pwritev: case SYS_poll: case SYS_ppoll:
	case SYS_select: case SYS_pselect6: case SYS_epoll_wait: case SYS_epoll_pwait:
	case SYS_nanosleep: case SYS_clock_nanosleep: case SYS_futex: case SYS_accept:
	case SYS_accept4: case SYS_connect: case SYS_sendto: case SYS_recvfrom: case SYS_sendmsg:
	case SYS_recvmsg: case SYS_sendmmsg: case SYS_recvmmsg: case SYS_wait4: case SYS_waitid:
	case SYS_pause: case SYS_rt_sigsuspend: case SYS_rt_sigtimedwait: case SYS_msgrcv:
	case SYS_msgsnd: case SYS_semop: case SYS_semtimedop: case SYS_flock: case SYS_fcntl:
	case SYS_io_getevents: case SYS_mq_timedreceive: case SYS_mq_timedsend: case SYS_openat:
	case SYS_open:
		return 1;
	}
	return 0;
}

/*
 * Was the thread stopped in a blocking system call? On x86-64 a signal that
 * interrupts one leaves either RIP back on the syscall instruction (0f 05)
 * with RAX the call number, to restart it, or RIP just after it with RAX
 * -EINTR. A thread about to execute the instruction looks like the first.
 */
static int cg_in_blocking_syscall(const ucontext_t *uc) {
	uintptr_t rip = cg_ctx_pc(uc);
	long rax = cg_ctx_rax(uc);
	uint16_t at = 0, before = 0;
	if (rip < 4096)
		return 0;
	/* Checked reads: the PC may point anywhere. */
	if (cg_read(&at, rip, 2) && at == 0x050f)
		return cg_blocking_syscall(rax);
	if (cg_read(&before, rip - 2, 2) && before == 0x050f)
		return rax == -EINTR;
	return 0;
}

/* The timeout signal as the watchdog sends it: queued by this process,
 * with our tag. Anything else on that signal is the application's. */
static int cg_is_our_timeout(int sig, const siginfo_t *info) {
	return sig == cg_signals[CG_NFAULTSIG] && info->si_code == SI_QUEUE &&
	       info->si_pid == (pid_t)syscall(SYS_getpid) &&
	       ((uint64_t)(uintptr_t)info->si_value.sival_ptr & CG_TAG_MASK) == CG_TAG_MAGIC;
}

/*
 * The timeout signal, sent by the watchdog for call generation tag: the
 * call is unwound when its thread is in a blocking system call, or
 * anywhere once its grace period is over; otherwise it runs on (the
 * watchdog signals again). A signal for a call that already ended, or that
 * finds the thread in Go code (a callback), changes nothing.
 */
static void cg_classify_interrupt(const siginfo_t *info, const ucontext_t *uc,
                                  struct cg_decision *d) {
	struct cg_slot *s = cg_thread.slot;
	uint64_t tag = (uint64_t)(uintptr_t)info->si_value.sival_ptr & CG_TAG_GEN_MASK;
	d->action = CG_IGNORE;
	if (s == NULL)
		return;
	uint64_t gen = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
	if (gen != tag || __atomic_load_n(&s->deadline, __ATOMIC_ACQUIRE) == 0)
		return; /* stale */
	uintptr_t pc = cg_ctx_pc(uc), sp = cg_ctx_sp(uc);
	if (cg_pc_in_go(pc))
		return;
	int in_syscall = cg_in_blocking_syscall(uc);
	int forced = __atomic_load_n(&s->force_gen, __ATOMIC_ACQUIRE) == gen;
	int depth = s->armed_depth;
	if (depth == 0) {
		/* A region's deadline (guard.DoContext): unwound at the cgo
		 * boundary of the region's goroutine, under the same rules. */
		if (s->region_g == 0 || (!in_syscall && !forced))
			return;
		d->rc = __atomic_load_n(&s->cancel_gen, __ATOMIC_ACQUIRE) == gen ? CGOGUARD_CANCELED
		                                                                 : CGOGUARD_TIMEOUT;
		d->interrupt = in_syscall ? CGOGUARD_IN_SYSCALL : CGOGUARD_FORCED;
		if (cg_boundary_classify(s->region_g, &d->hit))
			d->action = CG_AT_LAND;
		return;
	}
	if (depth < 1 || depth > cg_thread.ndepth)
		return;
	struct cg_guard *g = cg_thread.guards[depth - 1];
	if (!cg_guard_live(g, uc) || (!in_syscall && !forced))
		return;
	int n = 0;
	int walk = cg_walk_stack(g->out->frames, g->max_frames, &n, pc, sp, (uintptr_t)g);
	if (walk == CG_WALK_GO_FRAME)
		return;
	d->action = CG_AT_GUARD;
	d->guard = g;
	d->depth = depth;
	d->walk = walk;
	d->nframes = n;
	d->rc = __atomic_load_n(&s->cancel_gen, __ATOMIC_ACQUIRE) == gen ? CGOGUARD_CANCELED
	                                                                 : CGOGUARD_TIMEOUT;
	d->interrupt = in_syscall ? CGOGUARD_IN_SYSCALL : CGOGUARD_FORCED;
}

/* A fault inside a probe (checked.c) of this thread: the probe's work
 * read memory that cannot be read. */
static int cg_is_probe_fault(int sig, const siginfo_t *info, const ucontext_t *uc) {
	return cg_thread.probe != NULL && (sig == SIGSEGV || sig == SIGBUS) && info->si_code > 0 &&
	       !cg_pc_in_go(cg_ctx_pc(uc));
}

/*
 * The decision, in this order:
 *  1. a fault of this thread's probe: the probe's;
 *  2. the timeout signal: the watchdog's (cg_classify_interrupt), or
 *     passed on;
 *  3. a fault signal that a replacement handler chained back with, or
 *     that is not a fault of this thread's C code (cg_fault_is_ours):
 *     passed on;
 *  4. the innermost open guard point, unless the walk to it meets a Go
 *     frame (a fault in C called from a Go callback: not ours to unwind);
 *  5. the innermost cgo boundary, if its goroutine is in a region;
 *  6. passed on.
 */
static void cg_classify(int sig, const siginfo_t *info, const ucontext_t *uc, int our_timeout,
                        struct cg_decision *d) {
	d->action = CG_PASS;
	d->repl = CG_REPL_NONE;
	d->rc = CGOGUARD_FAULT;
	d->interrupt = CGOGUARD_NOT_INTERRUPTED;
	if (__builtin_expect(cg_is_probe_fault(sig, info, uc), 0)) {
		d->action = CG_PROBE;
		return;
	}
	if (sig == cg_signals[CG_NFAULTSIG]) {
		if (our_timeout)
			cg_classify_interrupt(info, uc, d);
		return;
	}
	d->repl = cg_repl_state(info);
	if (d->repl == CG_REPL_CHAINBACK || !cg_fault_is_ours(sig, info, uc))
		return;
	uintptr_t sp = cg_ctx_sp(uc);
	/* Records below the faulting stack pointer belong to frames that are
	 * gone (a Go panic unwound through them): skip to the open guard. */
	int depth = cg_live_depth(sp);
	struct cg_guard *g = depth > 0 ? cg_thread.guards[depth - 1] : NULL;
	if (g != NULL && cg_guard_live(g, uc)) {
		/* Walk from the fault towards the guard point; the walk also
		 * tells a fault in C called from a Go callback (Go frames in
		 * between) from a fault of the guarded C. With no frames
		 * wanted, a scan of the few words in between (no Go text
		 * address among them) settles it without a walk. */
		int n = 0;
		int walk = g->max_frames == 0 && !cg_may_hold_go_frame(sp, (uintptr_t)g)
		               ? CG_WALK_UNKNOWN
		               : cg_walk_stack(g->out->frames, g->max_frames, &n, cg_ctx_pc(uc), sp,
		                               (uintptr_t)g);
		if (walk != CG_WALK_GO_FRAME) {
			d->action = CG_AT_GUARD;
			d->guard = g;
			d->depth = depth;
			d->walk = walk;
			d->nframes = n;
			return;
		}
	}
	/* Not a guard point's: perhaps a fault in a cgo call of a goroutine
	 * inside a region (guard.Do), taken at the innermost cgo boundary. */
	if (cg_boundary_classify(0, &d->hit))
		d->action = CG_AT_LAND;
}

/* Does what d says. Returns the handler to tail-jump to, or NULL. */
static void *cg_act(const struct cg_decision *d, int sig, siginfo_t *info, ucontext_t *uc) {
	if (d->repl == CG_REPL_STALE) {
		cg_thread.repl_info = NULL;
		cg_thread.repl_sp = 0;
	}
	switch (d->action) {
	case CG_PASS:
		return cg_pass_on(sig, info, uc);
	case CG_IGNORE:
		return NULL;
	case CG_PROBE: {
		struct cg_probe *p = cg_thread.probe;
		cg_thread.probe = NULL;
		cg_ctx_resume_probe(uc, p);
		return NULL;
	}
	case CG_AT_GUARD: {
		struct cg_guard *g = d->guard;
		cgoguard_fault *f = g->out;
		/* Pop first: a fault in the resumed code must not come back to
		 * this guard. */
		cg_thread.ndepth = d->depth - 1;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		f->nframes = d->nframes;
		cg_record(f, g->depth, g->max_frames, d->walk, sig, info, uc);
		f->interrupt = d->interrupt;
		/* A thread stopped in a system call is where it should be: no
		 * dump for it. */
		if (d->interrupt == CGOGUARD_IN_SYSCALL)
			f->capture = 0;
		else
			cg_capture(f, uc, (uintptr_t)g + CG_CAPTURE_ABOVE_GUARD);
		cg_ctx_resume_guard(uc, g, d->rc);
		break;
	}
	case CG_AT_LAND:
		cg_boundary_act(&d->hit, sig, info, uc, d->rc, d->interrupt);
		break;
	}
	__atomic_fetch_add(d->interrupt == CGOGUARD_NOT_INTERRUPTED ? &cg_recoveries : &cg_interrupts, 1,
	                   __ATOMIC_RELAXED);
	return NULL;
}

void *cg_dispatch(int sig, siginfo_t *info, void *ucv) {
	int saved_errno = errno; /* the interrupted code's: system calls here change it */
	ucontext_t *uc = ucv;
	struct cg_decision d;
	/* A timeout signal is counted as delivered before anything reads the
	 * call's state, whatever becomes of it: the watchdog and cg_drain
	 * compare the count with the signals sent. */
	int our_timeout = cg_is_our_timeout(sig, info);
	if (our_timeout && cg_thread.slot != NULL)
		__atomic_fetch_add(&cg_thread.slot->received, 1, __ATOMIC_SEQ_CST);
	cg_classify(sig, info, uc, our_timeout, &d);
	void *next = cg_act(&d, sig, info, uc);
	errno = saved_errno;
	return next;
}

#endif /* x86-64 Linux */
