/*
 * The cgo traceback the Go runtime runs at every signal that lands in C
 * code of a cgo call (runtime/sys_linux_amd64.s, cgoSigtramp), its fatal
 * report included: a checked stand-in for cgosymbolizer's cgoTraceback.
 *
 * cgosymbolizer's version runs libgcc's unwinder from the signal context
 * unchecked: on a broken stack (RSP at an unmapped page) or at a PC with no
 * code, the unwinder faults inside Go's signal handler, with every signal
 * blocked, and the process dies without a word where Go would have printed
 * its report. The guard package links this one in its place
 * (-Wl,--wrap=cgoTraceback: the runtime's reference to cgoTraceback binds
 * to __wrap_cgoTraceback; cgosymbolizer's symbolizer is still used). It
 * collects the same PCs the same way, but:
 *  - the interrupted PC must be readable before the unwinder sees it;
 *  - the walk runs as a probe (checked.c) when cgoguard's handler is in
 *    place for SIGSEGV and SIGBUS, so a fault ends the walk, not the
 *    process; otherwise the page at the interrupted SP must be readable;
 *  - it is bounded: CFAs must grow, within 1 MiB of the first.
 * Async-signal-safe.
 */
#if defined(__x86_64__) && defined(__linux__)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <sys/ucontext.h>
#include <unwind.h>

#include "internal.h"

/* runtime.cgoTracebackArg */
struct cg_tb_arg {
	uintptr_t context;
	uintptr_t sig_context;
	uintptr_t *buf;
	uintptr_t max;
};

struct cg_tb_walk {
	uintptr_t *buf;
	uintptr_t max, n;
	uintptr_t pc;  /* the interrupted PC; 0: no signal context */
	int skip;      /* without a signal context: frames to skip */
	int started;
	uintptr_t first_cfa, last_cfa;
};

#define CG_TB_SPAN ((uintptr_t)1 << 20)

static _Unwind_Reason_Code cg_tb_step(struct _Unwind_Context *ctx, void *p) {
	struct cg_tb_walk *w = p;
	int before = 0;
	uintptr_t ip = (uintptr_t)_Unwind_GetIPInfo(ctx, &before);
	uintptr_t cfa = (uintptr_t)_Unwind_GetCFA(ctx);
	if (w->n >= w->max)
		return _URC_END_OF_STACK;
	if (!w->started) {
		/* Skip this function, the runtime's x_cgo_callers and the
		 * signal frame: start at the interrupted frame. */
		if (w->pc != 0 ? !(before && ip == w->pc) : w->skip-- > 0)
			return _URC_NO_REASON;
		w->started = 1;
		w->first_cfa = w->last_cfa = cfa;
	} else if (cfa < w->last_cfa || cfa - w->first_cfa >= CG_TB_SPAN) {
		return _URC_END_OF_STACK;
	}
	w->last_cfa = cfa;
	w->buf[w->n++] = before ? ip : ip - 1;
	return _URC_NO_REASON;
}

static void cg_tb_run(void *p) { _Unwind_Backtrace(cg_tb_step, p); }

void __wrap_cgoTraceback(void *parg) {
	struct cg_tb_arg *a = parg;
	if (a->max == 0)
		return;
	a->buf[0] = 0;
	if (a->context != 0) /* only the current stack can be unwound */
		return;
	struct cg_tb_walk w = {0};
	w.buf = a->buf;
	w.max = a->max;
	w.skip = 2;
	if (a->sig_context != 0) {
		const ucontext_t *uc = (const ucontext_t *)a->sig_context;
		uint8_t b;
		uintptr_t word;
		w.pc = cg_ctx_pc(uc);
		if (w.pc == 0 || !cg_read(&b, w.pc, 1))
			return;
		if (!cg_probe_usable() && !cg_read_word(cg_ctx_sp(uc), &word))
			return;
	}
	if (cg_probe_usable())
		cg_probe_run(cg_tb_run, &w);
	else
		cg_tb_run(&w);
	if (w.n < w.max)
		a->buf[w.n] = 0;
}

#endif /* x86-64 Linux */
