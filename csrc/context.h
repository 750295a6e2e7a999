/*
 * The interrupted thread's context (the ucontext the kernel built for the
 * handler): the one place that reads or writes uc_mcontext. Reading is a
 * handful of inline accessors; the resume fix-ups, which rewrite the
 * context so that rt_sigreturn continues the thread elsewhere, are in
 * context.c.
 *
 * Hazards:
 *  - The values are what the faulting code left: RSP and RBP may point
 *    anywhere, RIP at no code. Never dereference them here (checked.c).
 *  - uc_mcontext.fpregs is NULL when the kernel saved no FP state.
 */
#ifndef CGOGUARD_CONTEXT_H
#define CGOGUARD_CONTEXT_H

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ucontext.h>

#include "../include/cgoguard.h"

/* glibc's REG_* indexes into gregs, which it declares only with
 * _GNU_SOURCE (the Go package's cgo preambles include this header without
 * it); context.c checks them against glibc's. */
#define CG_REG_R12 4
#define CG_REG_R13 5
#define CG_REG_R14 6
#define CG_REG_R15 7
#define CG_REG_RDI 8
#define CG_REG_RBP 10
#define CG_REG_RBX 11
#define CG_REG_RAX 13
#define CG_REG_RSP 15
#define CG_REG_RIP 16
#define CG_REG_EFL 17

static inline uintptr_t cg_ctx_pc(const ucontext_t *uc) {
	return (uintptr_t)uc->uc_mcontext.gregs[CG_REG_RIP];
}
static inline uintptr_t cg_ctx_sp(const ucontext_t *uc) {
	return (uintptr_t)uc->uc_mcontext.gregs[CG_REG_RSP];
}
/* RAX: a system call's number before it runs, its result after. */
static inline long cg_ctx_rax(const ucontext_t *uc) { return (long)uc->uc_mcontext.gregs[CG_REG_RAX]; }

/* Every general register, in glibc's REG_* order (CGOGUARD_NREGS). */
static inline void cg_ctx_regs(uint64_t *out, const ucontext_t *uc) {
	const greg_t *r = uc->uc_mcontext.gregs;
	for (int i = 0; i < CGOGUARD_NREGS; i++)
		out[i] = (uint64_t)r[i];
}

/* Copies the 512-byte fxsave area (x87, MXCSR, XMM0-15) to out; 0 when the
 * kernel saved none. */
static inline int cg_ctx_fxsave(uint8_t out[512], const ucontext_t *uc) {
	if (uc->uc_mcontext.fpregs == NULL)
		return 0;
	memcpy(out, uc->uc_mcontext.fpregs, 512);
	return 1;
}

/* Moves PC and SP alone: for the unwinder, which reads the signal frame's
 * registers from uc, to start elsewhere. The caller puts them back. */
static inline void cg_ctx_set_pc_sp(ucontext_t *uc, uintptr_t pc, uintptr_t sp) {
	uc->uc_mcontext.gregs[CG_REG_RIP] = (greg_t)pc;
	uc->uc_mcontext.gregs[CG_REG_RSP] = (greg_t)sp;
}

/* The resume fix-ups (context.c). After one, the handler must return
 * NULL from cg_dispatch: rt_sigreturn then continues at the new PC. */
struct cg_guard;
struct cg_probe;
/* At the guard point g's cg_resume, as if cg_guarded_call returned rc. */
void cg_ctx_resume_guard(ucontext_t *uc, const struct cg_guard *g, int rc);
/* At cg_probe_resume, as if cg_probe_call returned 1. */
void cg_ctx_resume_probe(ucontext_t *uc, const struct cg_probe *p);
/* As if asmcgocall had just called land(rc), with RSP at its slot s. */
void cg_ctx_resume_land(ucontext_t *uc, uintptr_t s, void (*land)(int), int rc);

#endif
