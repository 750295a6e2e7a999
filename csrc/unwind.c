/*
 * Walks the faulting thread's C stack from inside the signal handler.
 *
 * libgcc's _Unwind_Backtrace steps from the handler through the kernel's
 * signal frame (glibc's __restore_rt carries unwind info for it) into the
 * interrupted code. With glibc >= 2.35 libgcc finds unwind tables through
 * _dl_find_object, which takes no lock and does not allocate (checked:
 * Debian 12's libgcc_s imports it). One exception: once some code has
 * registered unwind tables itself with __register_frame_info (JIT
 * compilers do), libgcc searches those first under its own mutex; a fault
 * inside such a search would then deadlock the handler. The walk reads
 * only the thread's own stack, and we refuse frames whose CFA leaves the
 * range between the fault and the guard point, so a smashed stack ends the
 * walk instead of sending the unwinder to a wild address.
 */
#if defined(__x86_64__) && defined(__linux__)
#define _GNU_SOURCE
#include <stdint.h>
#include <unwind.h>

#include "internal.h"

/* Enough to get from any sane fault up to the guard point; a deeper stack
 * (runaway recursion) ends the walk early with CG_WALK_UNKNOWN. */
#define CG_WALK_LIMIT 256

struct cg_unwind_args {
	_Unwind_Trace_Fn fn;
	void *arg;
};

static void cg_unwind_run(void *p) {
	struct cg_unwind_args *a = p;
	_Unwind_Backtrace(a->fn, a->arg);
}

/*
 * _Unwind_Backtrace from the handler, which must not fault: libgcc reads
 * the code at a PC without unwind information (to recognise a signal
 * frame) and every saved register and return address wherever the
 * interrupted registers point. So the PC is checked first (a PC that
 * cannot be read ends the walk before the unwinder sees it: the caller
 * records it alone), and the walk runs as a probe, which a fault ends.
 * Returns 1 when the walk ran to its end, 0 when it was cut short.
 */
int cg_unwind_checked(void *fn, void *arg, uintptr_t pc) {
	/* The probe also covers libgcc's read of the code at pc; the check
	 * first saves a fault round trip for the common wild PCs (a call
	 * through NULL or a small offset from it). */
	if (pc < 4096 || !cg_probe_usable())
		return 0;
	struct cg_unwind_args a = {(_Unwind_Trace_Fn)fn, arg};
	return cg_probe_run(cg_unwind_run, &a) == 0;
}

struct cg_walk {
	uint64_t *frames;
	int n, max, steps;
	int started, result;
	uintptr_t pc, lo, hi;
};

static _Unwind_Reason_Code cg_step(struct _Unwind_Context *ctx, void *p) {
	struct cg_walk *w = p;
	int before = 0;
	uintptr_t ip = (uintptr_t)_Unwind_GetIPInfo(ctx, &before);
	uintptr_t cfa = (uintptr_t)_Unwind_GetCFA(ctx);

	if (!w->started) {
		/* Skip the handler's own frames and the signal frame: start at
		 * the interrupted frame, whose IP is exact (before == 1). */
		if (!(before && ip == w->pc))
			return _URC_NO_REASON;
		w->started = 1;
	} else {
		/* The guard point's frame. libgcc hands the callback a frame's
		 * IP with the CFA of the frame below it (its callee, here fn),
		 * which is the guard point's own stack pointer: the record.
		 * Frames of guards nested inside it are walked through. */
		if (ip == (uintptr_t)cg_invoke_ret && cfa == w->hi) {
			w->result = CG_WALK_REACHED;
			return _URC_END_OF_STACK;
		}
		if (cg_pc_in_go(ip)) {
			/* A Go frame between the fault and the guard point: the
			 * fault is in C called from a Go callback. Jumping over Go
			 * frames would corrupt the runtime. */
			w->result = CG_WALK_GO_FRAME;
			return _URC_END_OF_STACK;
		}
	}
	if (cfa < w->lo || cfa > w->hi || ++w->steps > CG_WALK_LIMIT)
		return _URC_END_OF_STACK;
	if (w->n < w->max)
		w->frames[w->n++] = ip;
	return _URC_NO_REASON;
}

int cg_walk_stack(uint64_t *frames, int max, int *nframes, uintptr_t pc,
                  uintptr_t sp, uintptr_t guard_sp) {
	struct cg_walk w = {0};
	w.frames = frames;
	w.max = max;
	w.pc = pc;
	w.lo = sp;
	/* fn's CFA is cg_guarded_call's stack pointer: the record's address */
	w.hi = guard_sp;
	w.result = CG_WALK_UNKNOWN;
	cg_unwind_checked((void *)cg_step, &w, pc);
	if (!w.started && max > 0) {
		/* The unwinder could not get past the signal frame. */
		frames[0] = pc;
		w.n = 1;
	}
	*nframes = w.n;
	return w.result;
}

/*
 * Could a Go frame lie between the fault (stack pointer sp) and the guard
 * record? Only if some word of the stack in between holds an address in
 * the Go text range (a Go frame's return address does). Checks at most
 * CG_SCAN_LIMIT bytes; a longer range (a deep stack, an overflow) answers
 * 1. A faster answer than cg_walk_stack when no frames are wanted.
 */
#define CG_SCAN_LIMIT 2048

int cg_may_hold_go_frame(uintptr_t sp, uintptr_t guard_sp) {
	uintptr_t words[CG_SCAN_LIMIT / sizeof(uintptr_t)];
	if (guard_sp <= sp || guard_sp - sp > CG_SCAN_LIMIT || (sp & 7) != 0)
		return 1;
	size_t n = guard_sp - sp;
	/* SP is the fault's: read through the kernel */
	if (!cg_read(words, sp, n))
		return 1;
	for (size_t i = 0; i < n / sizeof(uintptr_t); i++)
		if (cg_pc_in_go(words[i]))
			return 1;
	return 0;
}

#endif /* x86-64 Linux */
