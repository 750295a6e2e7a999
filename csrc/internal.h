/* Shared between the C core's files; not part of the public API. */
#ifndef CGOGUARD_INTERNAL_H
#define CGOGUARD_INTERNAL_H

#include <signal.h>
#include <sys/ucontext.h>
#include <stddef.h>
#include <stdint.h>

#include "../include/cgoguard.h"

/*
 * Symbols: only what include/cgoguard.h declares is the library's (and the
 * libc functions interpose.c replaces); everything declared from here to
 * the pop at the end is hidden: it is not exported from a shared object
 * and no other library's symbol can be bound to it. A function defined
 * without a declaration here is not hidden: every one is declared here.
 * Hidden symbols still link across the objects of one executable (the Go
 * package's cgo files call them by name), and so they can still clash at
 * a static link with a user's own: hence the cg_ prefix on every one.
 * TestCoreSymbolsHidden (tests/coresymbols_test.go) checks libcgoguard.a.
 */
#pragma GCC visibility push(hidden)

/* Thread-local state must be reachable from a signal handler without a call
 * into the dynamic linker (__tls_get_addr may allocate): initial-exec. */
#define CG_TLS __thread __attribute__((tls_model("initial-exec")))

#include "layout.h"
#include "context.h"

/*
 * One open guard, built by cg_guarded_call at the bottom of its own frame:
 * the handler resumes the thread at cg_resume with the stack pointer at the
 * record and the callee-saved registers from jb.
 */
struct cg_guard {
	uint64_t jb[6];      /* rbx rbp r12 r13 r14 r15 */
	uintptr_t canary;    /* (uintptr_t)this ^ CG_CANARY_VALUE while the guard is open */
	cgoguard_fault *out; /* where the handler records the fault */
	int32_t depth;       /* 1 for the outermost */
	int32_t max_frames;
};

_Static_assert(offsetof(struct cg_guard, canary) == CG_OFF_CANARY, "layout.h out of date");
_Static_assert(offsetof(struct cg_guard, out) == CG_OFF_OUT, "layout.h out of date");
_Static_assert(offsetof(struct cg_guard, depth) == CG_OFF_DEPTH, "layout.h out of date");
_Static_assert(offsetof(struct cg_guard, max_frames) == CG_OFF_DEPTH + 4, "layout.h out of date");
_Static_assert(sizeof(struct cg_guard) == CG_FRAME && CG_FRAME % 16 == 8, "layout.h out of date");

enum { CG_JB_RBX, CG_JB_RBP, CG_JB_R12, CG_JB_R13, CG_JB_R14, CG_JB_R15 };

/* Runs fn(arg) under a new guard at the given depth (1-based); returns 0,
 * or 1 when the handler resumed the thread after a fault
 * (sigentry_amd64.S). */
int cg_guarded_call(void (*fn)(void *), void *arg, cgoguard_fault *out, uint64_t depth_and_frames);
extern char cg_invoke_ret[], cg_resume[];

/*
 * Everything the C core keeps per thread, in one initial-exec TLS record
 * (thread.c): the handler reaches it with no call into the dynamic linker.
 * Hazards:
 *  - Only its own thread touches it (the Go package reads slot and the
 *    watchdog the slot it points to, never the record), but the signal
 *    handler runs on that thread between any two instructions: every
 *    field the handler reads is written with single stores, in an order
 *    the handler can use at every point (a guard record is pushed before
 *    ndepth counts it; ready is set last).
 *  - The assembly (sigentry_amd64.S) uses ndepth, guards and probe by the
 *    offsets in layout.h; static assertions below keep them equal.
 *  - The Go package reads slot at a fixed offset from the thread pointer
 *    (cg_slot_tls_offset, guard/slot_cgo.go), without a cgo call.
 *  - A forked child keeps the parent thread's record: thread.c clears
 *    ready, deadline.c clears slot.
 */
struct cg_thread {
	/* The guard stack: guards[0 .. ndepth-1], innermost last. Kept here
	 * rather than linked through the records, so that a record whose frame
	 * a Go panic unwound (the panic passed through guarded C frames) is
	 * never followed: such records are recognised by address (an open
	 * guard always lies above any newer one on the stack) and dropped.
	 * Written by the guard point (push, pop) and by the handler (pop
	 * before it resumes: a fault in the resumed code must not come back
	 * to the same guard). */
	int32_t ndepth;
	/* The thread has what a guard needs (alternate stack, tid, mask, FP
	 * control): cg_prepare_thread. */
	int32_t ready;
	/* The probe running on this thread, or NULL (checked.c): a SIGSEGV or
	 * SIGBUS while it is set resumes the probe's caller. */
	struct cg_probe *probe;
	/* The thread's deadline slot (deadline.c), or NULL before its first
	 * deadline. */
	struct cg_slot *slot;
	struct cg_guard *guards[CGOGUARD_MAX_DEPTH];
	/* Taken when the thread is prepared; restored when the handler resumes
	 * a guard point: the thread's signal mask (a Go thread's mask must not
	 * be changed by C code, whatever the guarded code had blocked), and
	 * the x87 control word and MXCSR, which the ABI makes callee-saved. */
	sigset_t sigmask;
	uint32_t mxcsr;
	uint16_t fpucw;
	int32_t tid; /* gettid(), cached */
	/* Set while this thread runs a replacement handler the handler called
	 * (handler.c, cg_pass_on): the siginfo it was called with and the
	 * stack pointer of the call. A replacement that chains back to
	 * cgoguard is told by both; one that siglongjmps out leaves them set,
	 * and the next signal (a fresh siginfo, not deeper) clears them. */
	const siginfo_t *repl_info;
	uintptr_t repl_sp;
	/* The last fault or interrupt of a call by the Go package, or of a
	 * region (boundary.c): handed over by cg_pool_publish. */
	cgoguard_fault fault;
	/* Where a fault is recorded when the caller asked for no record. */
	cgoguard_fault scratch;
} __attribute__((aligned(64)));
extern CG_TLS struct cg_thread cg_thread;

_Static_assert(offsetof(struct cg_thread, ndepth) == CG_THR_NDEPTH, "layout.h out of date");
_Static_assert(offsetof(struct cg_thread, probe) == CG_THR_PROBE, "layout.h out of date");
_Static_assert(offsetof(struct cg_thread, guards) == CG_THR_GUARDS, "layout.h out of date");
_Static_assert(sizeof(((struct cg_thread *)0)->ndepth) == 4, "sigentry_amd64.S stores ndepth with movl");

/* Prepares the calling thread (thread.c): CGOGUARD_OK or CGOGUARD_EALTSTACK,
 * CGOGUARD_EINSTALL. */
int cg_prepare_thread(void);
/* cg_thread.slot's offset from the thread pointer, the same on every
 * thread (the Go package reads it without a cgo call), and its value. */
intptr_t cg_slot_tls_offset(void);
struct cg_slot *cg_thread_slot(void);

/* The handler installed with sigaction: an assembly stub that calls
 * cg_dispatch and either returns or tail-jumps to the handler it returns, so
 * a chained handler sees exactly the frame the kernel built. */
void cg_sigentry(int sig, siginfo_t *info, void *uc);
void *cg_dispatch(int sig, siginfo_t *info, void *uc);

int cg_slow_entry(void);

/* The number of guards really open around a frame whose stack pointer is
 * sp: drops records left by a Go panic that unwound through guarded C
 * frames (an open guard always lies above any newer frame). */
static inline int cg_live_depth(uintptr_t sp) {
	int d = cg_thread.ndepth;
	while (d > 0 && (uintptr_t)cg_thread.guards[d - 1] <= sp)
		d--;
	return d;
}

/*
 * Checked memory access for the handler (checked.c): memory the fault may
 * have broken (the stack, the code at PC, anything reached through a
 * register) is read through the kernel, which reports an unreadable page
 * instead of faulting. cg_read copies len bytes at addr into buf and
 * returns 1, or 0 when any of them cannot be read. Async-signal-safe.
 */
int cg_read(void *buf, uintptr_t addr, size_t len);
static inline int cg_read_word(uintptr_t addr, uintptr_t *out) {
	return cg_read(out, addr, sizeof *out);
}
int cg_checked_init(void); /* at install: the fallback's pipe */

/*
 * A probe: fn(arg) run so that a SIGSEGV or SIGBUS it takes (libgcc's
 * unwinder reading a smashed stack, or the code at a wild PC) ends it
 * instead of the process. Returns 0 when fn returned, 1 when it faulted.
 * Only from the handler (or code that runs with the guarded signals
 * blocked), and only while cgoguard's handler is installed for SIGSEGV and
 * SIGBUS (cg_probe_usable): the nested fault must reach cg_dispatch.
 */
struct cg_probe {
	uint64_t jb[6]; /* rbx rbp r12 r13 r14 r15 */
	uint64_t sp;
};
int cg_probe_call(void (*fn)(void *), void *arg, struct cg_probe *rec);
extern char cg_probe_resume[];
int cg_probe_run(void (*fn)(void *), void *arg);
int cg_probe_usable(void);

/* Installation state (install.c). */
extern int cg_installed;      /* atomic: handlers are in place */
extern int cg_handlers_dirty; /* atomic: someone changed a guarded signal's handler */
int cg_is_guarded_signal(int sig);
int cg_repair_handlers(void);
int cg_libc_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
/* The fault signals, then the timeout signal (0 until deadlines are in
 * use; written once, under the install mutex, before it is handled). */
#define CG_NFAULTSIG 5
extern int cg_signals[CG_NFAULTSIG + 1];
/*
 * The handler each guarded signal had before cgoguard: where signals that
 * are not a guarded fault go. orig is the one found at first install (the
 * Go runtime's, in a Go program); next differs from it after a repair: the
 * handler that replaced cgoguard's. Read by the signal handler, so stored
 * as atomically read words.
 */
struct cg_chain {
	uintptr_t orig;     /* handler address, or SIG_DFL / SIG_IGN */
	uintptr_t next;
	int next_flags;
	uint64_t next_mask; /* next's sa_mask, as the kernel's 64-bit set */
};
extern struct cg_chain cg_chains[_NSIG];

/* Passing a signal on (chain.c). frame is cg_dispatch's frame address. */
enum { CG_REPL_NONE, CG_REPL_CHAINBACK, CG_REPL_STALE };
int cg_repl_state(const siginfo_t *info, uintptr_t frame);
/* Returns the handler to tail-jump to, or NULL when the signal was dealt
 * with here. */
void *cg_pass_on(int sig, siginfo_t *info, void *uc, uintptr_t frame);

/* Go text range (set by the Go package; empty in a C program): gomodules.c. */
void cg_set_go_text(uintptr_t start, uintptr_t end);
int cg_pc_in_go(uintptr_t pc);
/* The other Go modules (plugins, shared Go libraries): gomodules.c. */
void cg_set_go_modules(uintptr_t first, uintptr_t off_text, uintptr_t off_etext,
                       uintptr_t off_next, uintptr_t lastp, uintptr_t last);
int cg_pc_in_go_module(uintptr_t pc);

/*
 * Stack walk from the fault to the guard point (unwind.c), keeping up to max
 * frames. Async-signal-safe on glibc >= 2.35, whose _dl_find_object lets
 * libgcc find unwind tables without locks or malloc.
 */
enum {
	CG_WALK_UNKNOWN,  /* the walk ended early (no unwind info, limit) */
	CG_WALK_REACHED,  /* reached the guard point's cg_guarded_call frame */
	CG_WALK_GO_FRAME  /* met a Go frame first */
};
int cg_walk_stack(uint64_t *frames, int max, int *nframes, uintptr_t pc,
                  uintptr_t sp, uintptr_t guard_sp);
int cg_may_hold_go_frame(uintptr_t sp, uintptr_t guard_sp);
/* _Unwind_Backtrace(fn, arg) as a probe, after checking that the first PC
 * (pc; 0: none) can be read: 1 when it ran to its end, 0 when it was cut
 * short or could not run (unwind.c). */
int cg_unwind_checked(void *trace_fn, void *arg, uintptr_t pc);

/*
 * The guarded call: cgoguard_call_frames, inlined where the fast path
 * matters. fault must not be NULL.
 */
static inline __attribute__((always_inline)) int cg_call(void (*fn)(void *), void *arg,
                                                         cgoguard_fault *fault, int max_frames) {
	uintptr_t sp;

	if (fn == NULL)
		return CGOGUARD_ENULLFN;
	if (__builtin_expect(!cg_thread.ready || !__atomic_load_n(&cg_installed, __ATOMIC_RELAXED) ||
	                         __atomic_load_n(&cg_handlers_dirty, __ATOMIC_RELAXED), 0)) {
		int rc = cg_slow_entry();
		if (rc != CGOGUARD_OK)
			return rc;
	}
	__asm__("movq %%rsp, %0" : "=r"(sp));
	int d = cg_live_depth(sp);
	if (__builtin_expect(d >= CGOGUARD_MAX_DEPTH, 0))
		return CGOGUARD_EDEPTH;
	if (max_frames > CGOGUARD_MAX_FRAMES)
		max_frames = CGOGUARD_MAX_FRAMES;
	if (max_frames < 0)
		max_frames = 0;
	/* 0, or what the handler made cg_resume return: CGOGUARD_FAULT,
	 * CGOGUARD_TIMEOUT or CGOGUARD_CANCELED */
	return cg_guarded_call(fn, arg, fault, (uint64_t)(uint32_t)max_frames << 32 | (uint32_t)(d + 1));
}

/* ---- deadlines (deadline.c) ---- */

/*
 * A thread's deadline slot: the watchdog's view of the call it runs. Slots
 * are never freed: a thread's exit puts its slot on a free list for the
 * next thread, so a late look at a slot (the watchdog's heap, a
 * cancellation) never touches freed memory; gen keeps counting across
 * owners, so a stale (slot, gen) pair never matches a later call.
 */
struct cg_slot {
	struct cg_slot *next;   /* every slot, or the free list (under the watchdog's mutex) */
	int tid;                /* owner; written under the mutex */
	int armed_depth;        /* depth of the guard the deadline belongs to; 0: a region's */
	uintptr_t region_g;     /* with armed_depth 0: the goroutine whose region it is */
	uint64_t gen;           /* the live call (atomic; written by the owner) */
	uint64_t deadline;      /* CG_DL_* encoded; 0 when no call is armed (atomic) */
	uint64_t lazy_at;       /* CG_DL_* encoded: hand the call to the lazy registrar then; 0: never */
	int64_t grace;          /* ns; negative: never force (atomic) */
	uint64_t cancel_gen;    /* == gen when that call was cancelled (atomic) */
	uint64_t force_gen;     /* == gen once its grace period ended (atomic) */
	uint64_t fired_gen;     /* the call the watchdog has signalled (atomic) */
	uint64_t fired_at;      /* watchdog only: when it first did (ns) */
	uint64_t sent;          /* timeout signals sent to this thread (atomic) */
	uint64_t received;      /* ... and delivered to it (atomic; by the handler) */
	/* The watchdog's heap: it looks at the slot at watch_ns (CLOCK_MONOTONIC
	 * ns), also published as watch_tsc (tagged TSC; UINT64_MAX when unknown)
	 * so that an arm compares in its own clock. UINT64_MAX: not in the heap. */
	uint64_t watch_ns;      /* atomic; written by the watchdog, or UINT64_MAX by cg_drain */
	uint64_t watch_tsc;     /* atomic; written by the watchdog */
	uint64_t heap_key;      /* under the mutex: the heap's order (watch_ns as the watchdog set it) */
	int32_t heap_idx;       /* watchdog only; -1: not in the heap */
	int32_t idle_visits;    /* watchdog only */
	int32_t dirty;          /* atomic: on the dirty list */
	int32_t lazy_state;     /* CG_LAZY_*, for lazy_gen; under the mutex */
	int32_t sending;        /* atomic: the watchdog is deciding or sending a signal */
	struct cg_slot *dirty_next;
	uint64_t lazy_gen;      /* the call handed to the lazy registrar (atomic) */
	uintptr_t ctx[2];       /* the lazy caller's opaque words (its Go context) */
};

/* Lazy cancellation (the Go package registers a context's cancellation only
 * for a call still running after a threshold): lazy_state of lazy_gen. */
enum {
	CG_LAZY_QUEUED = 1,  /* handed over, not yet taken by the registrar */
	CG_LAZY_TAKEN,       /* the registrar is registering (the caller waits) */
	CG_LAZY_REGISTERED,  /* registered; the caller's exit queues a stop */
	CG_LAZY_FINISHED,    /* the call ended: nothing (more) to do */
};

/* Deadlines carry their clock: CG_DL_TSC set for TSC ticks, clear for
 * CLOCK_MONOTONIC ns (before the background calibration ends, or without
 * an invariant TSC). Deadlines of either kind may be armed at once. */
#define CG_DL_TSC (1ULL << 63)
#define CG_DL_NONE (UINT64_MAX - 1) /* cancellation only */

/* The timeout signal's si_value: a marker and the call's generation. */
#define CG_TAG_MAGIC 0x6367000000000000ULL
#define CG_TAG_MASK 0xffff000000000000ULL
#define CG_TAG_GEN_MASK 0x0000ffffffffffffULL

uint64_t cg_now_ns(void);
extern int cg_tsc_ok;                   /* atomic: calibrated */
extern uint64_t cg_ticks_per_ns_q32;    /* valid once cg_tsc_ok */
extern int cg_membarrier_ok;

/* Now, in the encoding a new deadline uses. */
static inline uint64_t cg_deadline_clock(void) {
	return __atomic_load_n(&cg_tsc_ok, __ATOMIC_ACQUIRE) ? (__builtin_ia32_rdtsc() | CG_DL_TSC)
	                                                      : cg_now_ns();
}
static inline uint64_t cg_deadline_add(uint64_t now, uint64_t ns) {
	if (now & CG_DL_TSC)
		return now + (uint64_t)(((unsigned __int128)ns * cg_ticks_per_ns_q32) >> 32);
	return now + ns;
}
int cg_call_deadline_slow(void);
int cg_arm_cancel(struct cg_slot *s, uint64_t gen, cgoguard_cancel *cancel);
void cg_arm_report(struct cg_slot *s, uint64_t first);

/*
 * Arms this thread's slot for call gen. A few stores; the watchdog is told
 * only when it would not look at this slot in time (the slot's watch time
 * is later than this call's first deadline): then the slot goes on the
 * dirty list, and the watchdog is woken if it sleeps past that deadline.
 * guard/slot_cgo.go (regionArm, regionDisarm) makes the same stores from Go
 * for guard.DoContext: change both together (guard/slot_test.go compares
 * the slots the two leave).
 */
static inline __attribute__((always_inline)) int
cg_arm(struct cg_slot *s, uint64_t gen, int64_t timeout_ns, int64_t grace_ns, int depth,
       cgoguard_cancel *cancel, int64_t lazy_ns, const uintptr_t *ctx) {
	uint64_t now = cg_deadline_clock();
	uint64_t dl = timeout_ns > 0 ? cg_deadline_add(now, (uint64_t)timeout_ns) : CG_DL_NONE;
	uint64_t la = 0;
	if (lazy_ns > 0) {
		la = cg_deadline_add(now, (uint64_t)lazy_ns);
		s->ctx[0] = ctx[0];
		s->ctx[1] = ctx[1];
	}
	__atomic_store_n(&s->grace, grace_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&s->lazy_at, la, __ATOMIC_RELAXED);
	s->armed_depth = depth;
	__atomic_store_n(&s->gen, gen, __ATOMIC_RELEASE);
	if (cancel != NULL && cg_arm_cancel(s, gen, cancel) != CGOGUARD_OK)
		return CGOGUARD_CANCELED;
	__atomic_store_n(&s->deadline, dl, __ATOMIC_RELEASE);
	/* Store deadline, then load the watch time; the watchdog stores the
	 * watch time, fences every thread, then loads deadline (cg_wd_pass). */
	if (__atomic_load_n(&cg_membarrier_ok, __ATOMIC_RELAXED))
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	else
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint64_t first = la != 0 && la < dl ? la : dl;
	if (first == CG_DL_NONE) /* cancellation only: cgoguard_cancel_request reports it */
		return CGOGUARD_OK;
	if (first < __atomic_load_n((first & CG_DL_TSC) ? &s->watch_tsc : &s->watch_ns, __ATOMIC_RELAXED))
		cg_arm_report(s, first);
	return CGOGUARD_OK;
}
void cg_disarm_slow(struct cg_slot *s, uint64_t gen);
/* cg_disarm_slow for a region (guard.DoContext; Go does the fast part). */
void cg_region_disarm_slow(struct cg_slot *s, uint64_t gen);
int cg_install_timeout_signal(int sig); /* handler.c; caller holds the watchdog mutex */

/* Disarm: store deadline 0, then load fired_gen and lazy_gen; the watchdog
 * stores those, then (after fencing every thread with membarrier, once per
 * batch) loads deadline: one of the two sees the other's store. So this
 * side needs only a compiler barrier (a full fence without membarrier). */
static inline __attribute__((always_inline)) void cg_disarm(struct cg_slot *s, uint64_t gen,
                                                            cgoguard_cancel *cancel) {
	__atomic_store_n(&s->deadline, 0, __ATOMIC_RELEASE);
	if (cancel != NULL)
		__atomic_store_n(&cancel->gen, 0, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&cg_membarrier_ok, __ATOMIC_RELAXED))
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	else
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__builtin_expect(__atomic_load_n(&s->fired_gen, __ATOMIC_RELAXED) == gen ||
	                         __atomic_load_n(&s->lazy_gen, __ATOMIC_RELAXED) == gen, 0))
		cg_disarm_slow(s, gen);
}

/* cg_call with a deadline (timeout_ns > 0) and/or a cancellation token,
 * and/or lazy cancellation (lazy_ns > 0: after lazy_ns the watchdog hands
 * the call, with ctx, to the registrar). */
static inline __attribute__((always_inline)) int
cg_call_deadline_lazy(void (*fn)(void *), void *arg, cgoguard_fault *fault, int max_frames,
                      int64_t timeout_ns, int64_t grace_ns, cgoguard_cancel *cancel, int64_t lazy_ns,
                      const uintptr_t *ctx) {
	uintptr_t sp;
	if (fn == NULL)
		return CGOGUARD_ENULLFN;
	struct cg_slot *s = cg_thread.slot;
	if (__builtin_expect(s == NULL, 0)) {
		int rc = cg_call_deadline_slow();
		if (rc != CGOGUARD_OK)
			return rc;
		s = cg_thread.slot;
	}
	/* One deadline per thread at a time: a nested call with its own
	 * deadline inside a call that has one is refused. */
	if (__atomic_load_n(&s->deadline, __ATOMIC_RELAXED) != 0)
		return CGOGUARD_ENESTEDDEADLINE;
	__asm__("movq %%rsp, %0" : "=r"(sp));
	int d = cg_live_depth(sp);
	if (d >= CGOGUARD_MAX_DEPTH)
		return CGOGUARD_EDEPTH;
	uint64_t gen = (s->gen + 1) & CG_TAG_GEN_MASK;
	int rc = cg_arm(s, gen, timeout_ns, grace_ns, d + 1, cancel, lazy_ns, ctx);
	if (rc == CGOGUARD_OK)
		rc = cg_call(fn, arg, fault, max_frames);
	cg_disarm(s, gen, cancel);
	return rc;
}

static inline int cg_call_deadline(void (*fn)(void *), void *arg, cgoguard_fault *fault,
                                   int max_frames, int64_t timeout_ns, int64_t grace_ns,
                                   cgoguard_cancel *cancel) {
	return cg_call_deadline_lazy(fn, arg, fault, max_frames, timeout_ns, grace_ns, cancel, 0, NULL);
}

/* Lazy cancellation, for the Go package (deadline.c). */
struct cg_lazy_event {
	struct cg_slot *slot;
	uint64_t gen;
	uintptr_t ctx[2]; /* a take: the caller's words */
	int32_t stop;     /* 1: stop the registration of (slot, gen); 0: register it */
	int32_t pad;
};
void cg_lazy_set_notify_fd(int fd);
void cg_wd_stats(uint64_t out[5]);
int cg_lazy_take(struct cg_lazy_event *ev, int max);
void cg_lazy_registered(struct cg_slot *s, uint64_t gen);
void cg_lazy_cancel(struct cg_slot *s, uint64_t gen);

/* ---- guard regions at the cgo boundary (boundary.c) ---- */

/* A goroutine inside guard.Do: how many regions it has open, and the
 * innermost one's frame count. Written by that goroutine and by the handler
 * on the thread that goroutine runs on (never by others: no claim, no
 * atomic read-modify-write). Laid out as the Go side expects. */
struct cg_region {
	int32_t depth;
	int32_t max_frames;
	/* Set by the handler to the depth a fault or interrupt was taken at:
	 * until the Go callback has built its error and is about to panic
	 * (it clears it then), the region takes nothing more. */
	int32_t unwinding;
	int32_t pending_; /* the Go side's alone (region.pending) */
};
_Static_assert(sizeof(struct cg_region) == 16, "struct cg_region is shared with Go");

/*
 * Regions are found by the address of the goroutine's g. A g is larger
 * than 256 bytes (a grain), so no two live goroutines share a grain, and
 * a g is never freed (a new goroutine reuses it only after the old one
 * ended, outside any Do): an entry per grain needs no key and no claim.
 * The Go heap is split into chunks of 4 MiB; a chunk that holds a g gets
 * an array of entries (256 KiB, mapped on first use and never freed),
 * found through a small insert-only table keyed by chunk.
 */
#define CG_REGION_GRAIN_SHIFT 8
#define CG_REGION_CHUNK_SHIFT 22
#define CG_REGION_PER_CHUNK (1 << (CG_REGION_CHUNK_SHIFT - CG_REGION_GRAIN_SHIFT))
#define CG_REGION_CHUNKS 1024
struct cg_region_chunk {
	uintptr_t key;             /* (g >> CG_REGION_CHUNK_SHIFT) + 1; 0: free (atomic, set last) */
	struct cg_region *entries; /* CG_REGION_PER_CHUNK of them */
};
extern struct cg_region_chunk cg_region_chunks[CG_REGION_CHUNKS];

static inline uint32_t cg_region_chunk_hash(uintptr_t key) {
	return (uint32_t)(((uint64_t)key * 0x9e3779b97f4a7c15ULL) >> 54); /* 10 bits */
}
_Static_assert(CG_REGION_CHUNKS == 1 << 10, "cg_region_chunk_hash yields 10 bits");

/* The entry of goroutine g, or NULL when its chunk has none yet. Go's
 * copy: regionOf in guard/region_cgo.go (guard/region_test.go compares). */
static inline struct cg_region *cg_region_of(uintptr_t g) {
	uintptr_t key = (g >> CG_REGION_CHUNK_SHIFT) + 1;
	uint32_t h = cg_region_chunk_hash(key);
	for (uint32_t i = 0; i < CG_REGION_CHUNKS; i++) {
		struct cg_region_chunk *c = &cg_region_chunks[(h + i) & (CG_REGION_CHUNKS - 1)];
		uintptr_t k = __atomic_load_n(&c->key, __ATOMIC_ACQUIRE);
		if (k == key)
			return &c->entries[(g >> CG_REGION_GRAIN_SHIFT) & (CG_REGION_PER_CHUNK - 1)];
		if (k == 0)
			return NULL;
	}
	return NULL;
}
int cg_region_chunk_add(uintptr_t g);

/* What the Go package found out about its runtime (see boundary.c). */
struct cg_boundary_layout {
	uintptr_t ret;            /* return address of asmcgocall's user-g call; 0: no regions */
	uintptr_t off_syscallsp;  /* offset of g.syscallsp */
	uintptr_t off_nocallback; /* offset of g.nocgocallback */
	void (*land)(int rc);     /* calls the Go function that panics */
	sigset_t sigmask;         /* a Go thread's mask, its MXCSR and x87 control word */
	uint32_t mxcsr;
	uint16_t fpucw;
	/* The offset of the Go runtime's TLS slot for g from the thread
	 * pointer; with the g fields below, the innermost boundary of a
	 * thread in C code is found without unwinding (boundary.c). */
	intptr_t tls_g_off;
};
extern struct cg_boundary_layout cg_layout;

/* g and m fields the O(1) boundary reads (the same in Go 1.25 to 1.27;
 * checked at init from inside a real cgo call, cg_boundary_probe). */
#define CG_G_M 48        /* g.m */
#define CG_G_SCHED_SP 56 /* g.sched.sp */
#define CG_M_G0 0        /* m.g0 */

/* Goroutine of the innermost cgo call running on this thread and its
 * boundary slot S (where asmcgocall's return address is), found from the
 * thread's g0 in O(1) and checked: 1, or 0 when the thread is not in C
 * code of a goroutine's cgo call. */
int cg_boundary_slot(uintptr_t *slot, uintptr_t *g);

struct cg_region *cg_region_find(uintptr_t g);
int cg_boundary_init(uintptr_t ret, uintptr_t off_syscallsp, uintptr_t off_nocallback,
                     uintptr_t land, intptr_t tls_g_off);
uintptr_t cg_boundary_discover(uintptr_t g);
int cg_boundary_probe(uintptr_t g);
void cg_boundary_init_clear(void);
/* The handler's two halves at the cgo boundary (boundary.c): whether the
 * thread is in C code of a cgo call made by a goroutine in a region
 * (want_g, if not 0) that can take a fault now, and taking it (recorded in
 * cg_thread.fault; the thread resumes at the land function with rc). */
struct cg_boundary_hit {
	uintptr_t slot; /* S: asmcgocall's return address */
	uintptr_t g;
	struct cg_region *region;
};
int cg_boundary_classify(uintptr_t want_g, struct cg_boundary_hit *h);
void cg_boundary_act(const struct cg_boundary_hit *h, int sig, const siginfo_t *info, ucontext_t *uc,
                     int rc, int interrupt);
/* handler.c, shared with the boundary path */
void cg_record(cgoguard_fault *f, int32_t depth, int max_frames, int walk, int sig,
               const siginfo_t *info, const ucontext_t *uc);

/* ---- crash dump captures (dump_capture.c) ---- */

#define CG_CAPTURE_SLOTS 8
#define CG_CAPTURE_STACK (64 * 1024)

/* The state of a thread at a fault or forced interrupt, for a crash dump. */
struct cgoguard_capture {
	int32_t state;      /* atomic: see dump_capture.c */
	uint32_t seq;       /* which fault; also in cgoguard_fault.capture */
	int32_t tid;
	int32_t has_fpregs;
	uint64_t regs[CGOGUARD_NREGS]; /* glibc's gregs order */
	uint8_t fpregs[512];           /* the fxsave area (x87, MXCSR, XMM0-15) */
	uint64_t code_start;           /* code[0] was at this address */
	uint32_t code_len;
	uint32_t stack_len;
	uint64_t stack_start;          /* stack[0] was at this address */
	uint8_t code[256];             /* around the PC */
	uint8_t stack[CG_CAPTURE_STACK]; /* from just below SP upward */
};

int cg_capture_enable(void);
/* How far above a guard record a capture copies the stack: the guard
 * point's callers (cgo's wrapper, asmcgocall), for a debugger's backtrace. */
#define CG_CAPTURE_ABOVE_GUARD 4096
void cg_capture(cgoguard_fault *f, const ucontext_t *uc, uintptr_t stack_top);
const struct cgoguard_capture *cg_capture_get(int32_t id);
void cg_capture_release(const struct cgoguard_capture *c);
void cg_capture_drop(int32_t id);

/*
 * Fault hand-over to the Go package (report_pool.c): from cg_thread.fault.
 *
 * The published result packs the pool slot (+ 1; 0: none), the signal and
 * the guard's result into an int64; cg_direct_call (guard/directcall_cgo.go)
 * repacks it into the int32 runtime.cgocall returns. The Go package decodes
 * both with these constants (guard/report_cgo.go unpackPublished,
 * directResult); guard/result_test.go packs here and decodes there.
 */
#define CG_PUB_SLOT_MASK 0xffffffffLL /* bits 0-31: slot + 1 */
#define CG_PUB_SIG_SHIFT 32           /* bits 32-47: the signal */
#define CG_PUB_SIG_MASK 0xffffLL
#define CG_PUB_RC_SHIFT 48 /* bits 48-55: CGOGUARD_FAULT, _TIMEOUT or _CANCELED */
#define CG_PUB_RC_MASK 0xffLL
static inline int64_t cg_pub_pack(int64_t slot1, int sig, int rc) {
	return slot1 | (int64_t)sig << CG_PUB_SIG_SHIFT | (int64_t)rc << CG_PUB_RC_SHIFT;
}

#define CG_DIRECT_SLOT_MASK 0x3fffff /* bits 0-21: slot + 1 (CG_POOL_CAP < 2^22) */
#define CG_DIRECT_SIG_SHIFT 22       /* bits 22-28: the signal (<= 64) */
#define CG_DIRECT_SIG_MASK 0x7f
#define CG_DIRECT_RC_SHIFT 29 /* bits 29-30: the guard's result (1-3) */
#define CG_DIRECT_RC_MASK 0x3
_Static_assert(_NSIG - 1 <= CG_DIRECT_SIG_MASK, "a signal number must fit the direct result");
_Static_assert(CGOGUARD_FAULT > 0 && CGOGUARD_TIMEOUT > 0 && CGOGUARD_CANCELED > 0 &&
                   CGOGUARD_FAULT <= CG_DIRECT_RC_MASK && CGOGUARD_TIMEOUT <= CG_DIRECT_RC_MASK &&
                   CGOGUARD_CANCELED <= CG_DIRECT_RC_MASK,
               "a guard's result must fit the direct result");
/* The int32 form of a published result r (> 0). */
static inline int32_t cg_direct_pack(int64_t r) {
	return (int32_t)((r & CG_DIRECT_SLOT_MASK) |
	                 ((r >> CG_PUB_SIG_SHIFT) & CG_DIRECT_SIG_MASK) << CG_DIRECT_SIG_SHIFT |
	                 ((r >> CG_PUB_RC_SHIFT) & CG_DIRECT_RC_MASK) << CG_DIRECT_RC_SHIFT);
}
int64_t cg_pool_publish(int rc);
const cgoguard_fault *cg_pool_get(int slot);
void cg_pool_release(int slot);
void cg_pool_stats(uint32_t out[2]);

/* The checked cgo traceback the Go package binds in place of
 * cgosymbolizer's (traceback.c, -Wl,--wrap=cgoTraceback). */
void __wrap_cgoTraceback(void *parg);

/* For a test (tests/internal/payload): run once inside
 * cgoguard_cancel_request (deadline.c). */
extern void (*cg_test_cancel_hook)(cgoguard_cancel *);

/* The calling thread's kernel id, for a fault record: the per-thread
 * record's when the thread was prepared for a guard point, else asked of
 * the kernel (a thread that only ever ran guard.Do). Async-signal-safe. */
int32_t cg_current_tid(void);

#pragma GCC visibility pop

#endif
