/*
 * The resume fix-ups: the handler never leaves by a jump (a siglongjmp out
 * of the handler leaves every signal blocked); it rewrites the interrupted
 * context and returns, and rt_sigreturn continues the thread where the
 * context now says, with the signal mask uc_sigmask holds.
 *
 * Hazards, each handled below:
 *  - The resumed code must not run on the faulting stack: after a stack
 *    overflow it is exhausted. RSP goes to a frame the guard (or the cgo
 *    boundary) owns, well above what the faulting code used.
 *  - The ABI requires DF clear at a call boundary.
 *  - The x87 control word and MXCSR are callee-saved: they are given back
 *    as the thread had them, and the x87 register stack the faulting code
 *    may have left half used is emptied.
 *  - The signal mask is the thread's own, not whatever the guarded code
 *    had blocked (a Go thread's mask must not be changed by C code).
 *  - A signal that arrives while the handler runs is delivered on the
 *    resumed PC's first instruction: the new PC and RSP must form a frame
 *    that Go's cgo traceback can unwind.
 */
#if defined(__x86_64__) && defined(__linux__)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdint.h>
#include <sys/ucontext.h>

#include "internal.h"
#include "context.h"

#define CG_EFL_DF ((greg_t)0x400)

_Static_assert(CG_REG_RBP == (int)REG_RBP && CG_REG_RBX == (int)REG_RBX && CG_REG_RAX == (int)REG_RAX &&
                   CG_REG_RSP == (int)REG_RSP && CG_REG_RIP == (int)REG_RIP &&
                   CG_REG_EFL == (int)REG_EFL && CG_REG_RDI == (int)REG_RDI &&
                   CG_REG_R12 == (int)REG_R12 && CG_REG_R13 == (int)REG_R13 &&
                   CG_REG_R14 == (int)REG_R14 && CG_REG_R15 == (int)REG_R15,
               "context.h: glibc's REG_* differ");

/* The callee-saved registers from a saved set (rbx rbp r12 r13 r14 r15). */
static void cg_ctx_callee_saved(greg_t *r, const uint64_t jb[6]) {
	r[CG_REG_RBX] = (greg_t)jb[CG_JB_RBX];
	r[CG_REG_RBP] = (greg_t)jb[CG_JB_RBP];
	r[CG_REG_R12] = (greg_t)jb[CG_JB_R12];
	r[CG_REG_R13] = (greg_t)jb[CG_JB_R13];
	r[CG_REG_R14] = (greg_t)jb[CG_JB_R14];
	r[CG_REG_R15] = (greg_t)jb[CG_JB_R15];
}

/* The thread's own mask and FP control state; x87 stack emptied. */
static void cg_ctx_thread_state(ucontext_t *uc, const sigset_t *mask, uint16_t fpucw,
                                uint32_t mxcsr) {
	uc->uc_sigmask = *mask;
	if (uc->uc_mcontext.fpregs != NULL) {
		uc->uc_mcontext.fpregs->cwd = fpucw;
		uc->uc_mcontext.fpregs->swd = 0;
		uc->uc_mcontext.fpregs->ftw = 0;
		uc->uc_mcontext.fpregs->mxcsr = mxcsr;
	}
}

/* The guard point's own frame: RSP at its record (cg_resume pops it), an
 * address with ordinary unwind information. The values restored are the
 * thread's when it was prepared (a guard is only opened once it is). */
void cg_ctx_resume_guard(ucontext_t *uc, const struct cg_guard *g, int rc) {
	greg_t *r = uc->uc_mcontext.gregs;
	cg_ctx_callee_saved(r, g->jb);
	r[CG_REG_RSP] = (greg_t)(uintptr_t)g;
	r[CG_REG_RIP] = (greg_t)(uintptr_t)cg_resume;
	r[CG_REG_RAX] = rc;
	r[CG_REG_EFL] &= ~CG_EFL_DF;
	cg_ctx_thread_state(uc, &cg_thread.sigmask, cg_thread.fpucw, cg_thread.mxcsr);
}

/* The probe's caller, under the mask the probe ran with (SIGSEGV and SIGBUS
 * unblocked; cg_probe_run puts the handler's back): mask and FP state are
 * the handler's own, so nothing else is restored. */
void cg_ctx_resume_probe(ucontext_t *uc, const struct cg_probe *p) {
	greg_t *r = uc->uc_mcontext.gregs;
	cg_ctx_callee_saved(r, p->jb);
	r[CG_REG_RSP] = (greg_t)p->sp;
	r[CG_REG_RIP] = (greg_t)(uintptr_t)cg_probe_resume;
	r[CG_REG_RAX] = 1;
	r[CG_REG_EFL] &= ~CG_EFL_DF;
}

/* The land function, entered as if asmcgocall's CALL had just been made:
 * the return address into asmcgocall is at s. No callee-saved register is
 * restored: asmcgocall reloads g and SP from its slots alone. RBP 0 ends
 * frame-pointer walks at the land function. A thread that never entered a
 * guard of its own gets a Go thread's state as the Go package found it. */
void cg_ctx_resume_land(ucontext_t *uc, uintptr_t s, void (*land)(int), int rc) {
	greg_t *r = uc->uc_mcontext.gregs;
	r[CG_REG_RSP] = (greg_t)s;
	r[CG_REG_RIP] = (greg_t)(uintptr_t)land;
	r[CG_REG_RDI] = rc;
	r[CG_REG_RBP] = 0;
	r[CG_REG_EFL] &= ~CG_EFL_DF;
	if (cg_thread.ready)
		cg_ctx_thread_state(uc, &cg_thread.sigmask, cg_thread.fpucw, cg_thread.mxcsr);
	else
		cg_ctx_thread_state(uc, &cg_layout.sigmask, cg_layout.fpucw, cg_layout.mxcsr);
}

#endif /* x86-64 Linux */
