/*
 * Guard regions at the cgo boundary: a fault (or the timeout signal) in C
 * code reached through any cgo call of a goroutine that is inside a region
 * (guard.Do) becomes a Go panic on that goroutine.
 *
 * The Go runtime enters C through runtime.asmcgocall. On the user-g path it
 * switches to the thread's system stack, stores the goroutine's stack depth
 * at 0(SP) and its g at 8(SP), and calls the C function, so the C side sees
 * its return address at slot S, the depth at S+8 and g at S+16. After the C
 * function returns, asmcgocall reloads g and SP from those two slots alone.
 *
 * The handler finds the innermost boundary from the thread's g0 in O(1)
 * (cg_boundary_slot: no unwinding, so a smashed stack, a bad stack pointer
 * or C frames without unwind tables do not matter) and checks it: S holds
 * the return address and a g. If that g is in a region, inside
 * runtime.cgocall (syscallsp set) and not in a #cgo nocallback call, the
 * thread resumes as if asmcgocall had just called the land function, with
 * RSP at S: the faulting C frames are abandoned, and the land function
 * calls an exported Go function that panics. The runtime supports a panic
 * leaving a cgo callback: unwindm restores g0's stack pointer and does the
 * accounting cgocall would have done. The unwinder only names the frames
 * of the error, as a probe (checked.c).
 *
 * Everything reachable from the handler is async-signal-safe.
 */
#if defined(__x86_64__) && defined(__linux__)
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ucontext.h>
#include <unwind.h>

#include "internal.h"

/* Set once by the Go package (cg_boundary_init); zero in a C program,
 * where no region can exist. */
struct cg_boundary_layout cg_layout;

struct cg_region_chunk cg_region_chunks[CG_REGION_CHUNKS];
static pthread_mutex_t cg_region_mu = PTHREAD_MUTEX_INITIALIZER;

/* The open region of goroutine g that can take a fault, or NULL. */
struct cg_region *cg_region_find(uintptr_t g) {
	if (g == 0)
		return NULL;
	struct cg_region *r = cg_region_of(g);
	return r != NULL && r->depth > 0 && r->unwinding == 0 ? r : NULL;
}

/* Gives g's chunk its entries (the Go side's slow path). Returns 0, or
 * CGOGUARD_EINSTALL when no memory or no room is left. */
int cg_region_chunk_add(uintptr_t g) {
	uintptr_t key = (g >> CG_REGION_CHUNK_SHIFT) + 1;
	int rc = CGOGUARD_EINSTALL;
	pthread_mutex_lock(&cg_region_mu);
	uint32_t h = cg_region_chunk_hash(key);
	for (uint32_t i = 0; i < CG_REGION_CHUNKS; i++) {
		struct cg_region_chunk *c = &cg_region_chunks[(h + i) & (CG_REGION_CHUNKS - 1)];
		uintptr_t k = __atomic_load_n(&c->key, __ATOMIC_RELAXED);
		if (k == key) {
			rc = CGOGUARD_OK;
			break;
		}
		if (k != 0)
			continue;
		void *m = mmap(NULL, CG_REGION_PER_CHUNK * sizeof(struct cg_region), PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			break;
		c->entries = m;
		__atomic_store_n(&c->key, key, __ATOMIC_RELEASE);
		rc = CGOGUARD_OK;
		break;
	}
	pthread_mutex_unlock(&cg_region_mu);
	return rc;
}

/*
 * The innermost boundary, in O(1). In C code reached through a cgo call the
 * thread's TLS g is its g0. asmcgocall switched to m.g0.sched.sp, took 16
 * bytes, aligned down to 16 (A), stored the depth at A and g at A+8, and
 * its call left the return address at A-8: slot S. cgocallback saves and
 * replaces g0.sched.sp while a callback runs, so a nested cgo call's slot
 * is the one computed. Everything is checked (g0 is its m's g0, S, read
 * through the kernel, holds the return address and a g), so a thread in
 * some other state (a C thread, the runtime's own C calls) answers 0.
 */
static inline uintptr_t cg_tls_g(void) {
	uintptr_t g;
	__asm__("movq %%fs:(%1), %0" : "=r"(g) : "r"(cg_layout.tls_g_off));
	return g;
}

int cg_boundary_slot(uintptr_t *slot, uintptr_t *gp) {
	if (cg_layout.tls_g_off == 0)
		return 0;
	/* TLS g is 0 on a thread Go never ran on, else a g of the runtime's
	 * (memory of the Go heap, which a fault in C does not break): its
	 * fields are read directly. The slot is on the thread's stack, which
	 * the C code used: read through the kernel. */
	uintptr_t g0 = cg_tls_g(), w[3];
	if (g0 == 0 || (g0 & 7) != 0)
		return 0;
	uintptr_t m = *(const uintptr_t *)(g0 + CG_G_M);
	if (m == 0 || (m & 7) != 0 || *(const uintptr_t *)(m + CG_M_G0) != g0)
		return 0;
	uintptr_t sched_sp = *(const uintptr_t *)(g0 + CG_G_SCHED_SP);
	if (sched_sp < 64)
		return 0;
	uintptr_t s = ((sched_sp - 16) & ~(uintptr_t)15) - 8;
	if (!cg_read(w, s, sizeof w) || w[0] != cg_layout.ret || w[2] == 0)
		return 0;
	*slot = s;
	*gp = w[2];
	return 1;
}

/* A runaway recursion fills the whole thread stack with frames: the walk
 * for the record's frames stops after these many steps. */
#define CG_BOUNDARY_STEPS 4096

struct cg_bwalk {
	uint64_t *frames;
	int n, max, started;
	long steps;
	uintptr_t pc, lo, hi, last_cfa;
};

/* The frames of the fault's C code, up to the boundary (hi: slot S). */
static _Unwind_Reason_Code cg_bstep(struct _Unwind_Context *ctx, void *p) {
	struct cg_bwalk *w = p;
	int before = 0;
	uintptr_t ip = (uintptr_t)_Unwind_GetIPInfo(ctx, &before);
	uintptr_t cfa = (uintptr_t)_Unwind_GetCFA(ctx);

	if (!w->started) {
		/* From a signal: skip the handler's frames and the signal
		 * frame, start at the interrupted one (its IP is exact). */
		if (w->pc != 0 && !(before && ip == w->pc))
			return _URC_NO_REASON;
		w->started = 1;
	} else if (ip == cg_layout.ret || cg_pc_in_go(ip)) {
		return _URC_END_OF_STACK;
	}
	if (cfa < w->last_cfa || (w->lo != 0 && (cfa < w->lo || cfa > w->hi)) ||
	    ++w->steps > CG_BOUNDARY_STEPS)
		return _URC_END_OF_STACK;
	w->last_cfa = cfa;
	if (w->n < w->max)
		w->frames[w->n++] = ip;
	return w->n < w->max ? _URC_NO_REASON : _URC_END_OF_STACK;
}

/* Up to max frames from the frame at pc/sp (a checked walk) below the
 * boundary slot s; returns how many. */
static int cg_boundary_frames(uint64_t *frames, int max, uintptr_t pc, uintptr_t sp, uintptr_t s) {
	struct cg_bwalk w = {0};
	if (max <= 0)
		return 0;
	w.frames = frames;
	w.max = max;
	w.pc = pc;
	w.lo = sp;
	w.hi = s + 8;
	if (sp < s)
		cg_unwind_checked((void *)cg_bstep, &w, pc);
	if (w.n == 0) {
		frames[0] = pc;
		w.n = 1;
	}
	return w.n;
}

/*
 * The walk stopped at the faulting PC: an address with no code (a call
 * through a bad pointer). The word at SP is then usually the return
 * address of that call: walk again from there, by showing the unwinder
 * (which reads the signal frame's registers from uc) the state just after
 * a return, then putting the registers back.
 */
static int cg_boundary_frames_from_caller(uint64_t *frames, int max, ucontext_t *uc, uintptr_t s) {
	uintptr_t pc = cg_ctx_pc(uc), sp = cg_ctx_sp(uc);
	uintptr_t ra = 0;
	frames[0] = (uint64_t)pc;
	if (max < 2 || !cg_read_word(sp, &ra) || ra < 4096 || cg_pc_in_go(ra) || ra == cg_layout.ret)
		return 1;
	cg_ctx_set_pc_sp(uc, ra, sp + 8);
	int m = cg_boundary_frames(frames + 1, max - 1, ra, sp + 8, s);
	cg_ctx_set_pc_sp(uc, pc, sp);
	return 1 + m;
}

/* Discovery of the call site: the walk from a C function called through
 * a real cgo call of goroutine g meets, one frame above cgo's wrapper, the
 * return address into asmcgocall, with the slot S (at CFA - 8) holding it
 * and S+16 holding g. */
struct cg_dwalk {
	uintptr_t g, ret;
	int n;
};

static _Unwind_Reason_Code cg_dstep(struct _Unwind_Context *ctx, void *p) {
	struct cg_dwalk *w = p;
	uintptr_t ip = (uintptr_t)_Unwind_GetIP(ctx);
	uintptr_t cfa = (uintptr_t)_Unwind_GetCFA(ctx);
	if (w->n++ > 0 && cfa >= 8 && *(const uintptr_t *)(cfa - 8) == ip &&
	    *(const uintptr_t *)(cfa + 8) == w->g) {
		w->ret = ip;
		return _URC_END_OF_STACK;
	}
	/* Only a few C frames lie between here and the boundary. */
	return w->n < 16 ? _URC_NO_REASON : _URC_END_OF_STACK;
}

/*
 * Returns asmcgocall's return address on the path that cgo calls of
 * goroutine g take, or 0. Called by the Go package through a cgo call
 * (never by the handler), it replaces any link-time reference to the
 * runtime's code, which a Go release may refuse; the Go side checks the
 * address (runtime.FuncForPC and the instructions around it) before
 * cg_boundary_init trusts it.
 */
__attribute__((noinline)) uintptr_t cg_boundary_discover(uintptr_t g) {
	struct cg_dwalk w = {g, 0, 0};
	if (g != 0)
		_Unwind_Backtrace(cg_dstep, &w);
	return w.ret;
}

int cg_boundary_init(uintptr_t ret, uintptr_t off_syscallsp, uintptr_t off_nocallback,
                     uintptr_t land, intptr_t tls_g_off) {
	if (ret == 0 || land == 0 || tls_g_off == 0)
		return CGOGUARD_EINSTALL;
	cg_layout.off_syscallsp = off_syscallsp;
	cg_layout.off_nocallback = off_nocallback;
	cg_layout.land = (void (*)(int))land;
	cg_layout.tls_g_off = tls_g_off;
	/* A Go thread's state, restored at the land function when the
	 * thread never entered a guard of its own (cg_thread.ready). */
	__asm__ volatile("stmxcsr %0" : "=m"(cg_layout.mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(cg_layout.fpucw));
	pthread_sigmask(SIG_SETMASK, NULL, &cg_layout.sigmask);
	__atomic_store_n(&cg_layout.ret, ret, __ATOMIC_RELEASE);
	return CGOGUARD_OK;
}

/* Turns regions off again (the probe below failed). */
void cg_boundary_init_clear(void) { __atomic_store_n(&cg_layout.ret, 0, __ATOMIC_RELEASE); }

/*
 * Checks, from inside a real cgo call made by goroutine g, that the runtime
 * looks as cg_layout says: the slot found from g0 in O(1) holds the return
 * address and g, lies just above this function's frame, and g is inside
 * runtime.cgocall. Returns 0, or which check failed (1-4).
 */
int cg_boundary_probe(uintptr_t g) {
	uintptr_t s = 0, sg = 0;
	if (!cg_boundary_slot(&s, &sg))
		return 1;
	if (sg != g)
		return 2;
	/* the slot of this very call: just above this frame */
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);
	if (s <= here || s - here > 4096)
		return 3;
	if (*(const uintptr_t *)(g + cg_layout.off_syscallsp) == 0)
		return 4;
	return 0;
}

/*
 * Is the thread in C code of a cgo call made by a goroutine (want_g, if
 * not 0) inside a region, that can take a fault or interrupt now? Fills h
 * and returns 1 if so. Changes nothing.
 */
int cg_boundary_classify(uintptr_t want_g, struct cg_boundary_hit *h) {
	if (__atomic_load_n(&cg_layout.ret, __ATOMIC_ACQUIRE) == 0)
		return 0;
	uintptr_t s = 0, g = 0;
	if (!cg_boundary_slot(&s, &g))
		return 0;
	if (want_g != 0 && g != want_g)
		return 0;
	struct cg_region *r = cg_region_find(g);
	if (r == NULL)
		return 0;
	/* Not a cgo call of the goroutine's (the runtime's own use of
	 * asmcgocall: setenv, tracebacks; or a callback running), or one
	 * whose callbacks the runtime forbids (#cgo nocallback): the fault
	 * stays fatal, as without us. g is a live goroutine (the region
	 * table knows it): direct reads. */
	uintptr_t syscallsp = *(const uintptr_t *)(g + cg_layout.off_syscallsp);
	if (syscallsp == 0 || *(const uint8_t *)(g + cg_layout.off_nocallback) != 0)
		return 0;
	h->slot = s;
	h->g = g;
	h->region = r;
	return 1;
}

/* Takes the fault or interrupt cg_boundary_classify found: records it in
 * cg_thread.fault and makes the thread resume at the land function with
 * rc. */
void cg_boundary_act(const struct cg_boundary_hit *h, int sig, const siginfo_t *info, ucontext_t *uc,
                     int rc, int interrupt) {
	struct cg_region *r = h->region;
	uintptr_t s = h->slot;
	/* The region takes nothing more until the callback has built the
	 * error. A deadline of the region stays armed: if f recovers the
	 * panic and goes on, the rest of f is under the same deadline and
	 * cancellation. A timeout signal meanwhile is dropped (region
	 * unwinding; Go code); the region's disarm drains what was sent. */
	r->unwinding = r->depth;
	/* Guards of guard.Call opened inside the abandoned frames are gone. */
	while (cg_thread.ndepth > 0 && (uintptr_t)cg_thread.guards[cg_thread.ndepth - 1] < s)
		cg_thread.ndepth--;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	cgoguard_fault *f = &cg_thread.fault;
	int max = r->max_frames;
	if (max > CGOGUARD_MAX_FRAMES)
		max = CGOGUARD_MAX_FRAMES;
	int n = cg_boundary_frames(f->frames, max, cg_ctx_pc(uc), cg_ctx_sp(uc), s);
	if (n == 1 && max > 1)
		n = cg_boundary_frames_from_caller(f->frames, max, uc, s);
	f->nframes = n < max ? n : max;
	cg_record(f, r->depth, max, CG_WALK_REACHED, sig, info, uc);
	f->interrupt = interrupt;
	f->capture = 0;
	if (interrupt != CGOGUARD_IN_SYSCALL)
		cg_capture(f, uc, s + CG_CAPTURE_ABOVE_GUARD);
	cg_ctx_resume_land(uc, s, cg_layout.land, rc);
}

#endif /* x86-64 Linux */
