/*
 * x86-64 pieces of the guard that C cannot express.
 *
 * cg_sigentry: the sa_sigaction of every guarded signal. The kernel enters it
 * with rdi=sig, rsi=siginfo, rdx=ucontext and the sa_restorer address on top
 * of the stack. It asks cg_dispatch what to do: NULL means handled (return
 * to the kernel's restorer, which resumes the possibly rewritten context);
 * anything else is the handler to chain to, entered by a tail jump with the
 * original registers and stack, so it sees exactly the frame the kernel
 * built. That keeps the Go runtime's signal entry, and its cgo traceback
 * unwinder (which skips a fixed number of frames), unaware of this stub.
 */
#if defined(__x86_64__) && defined(__linux__)

#include "layout.h"

	.text

/*
 * int cg_guarded_call(void (*fn)(void *), void *arg, cgoguard_fault *out,
 *                     uint64_t depth_and_frames)
 *
 * The guard point. Builds the guard record (struct cg_guard) in its own
 * frame, pushes it on the thread's guard stack at depth_and_frames' low 32
 * bits (the new depth, 1-based), calls fn(arg), pops it and returns 0 (or
 * 1 after a fault, 2 after an interrupt, through cg_resume).
 *
 * The record holds what the signal handler needs to resume the thread here
 * after a fault: the callee-saved registers. The handler resumes at
 * cg_resume, which returns the handler's result, with the stack pointer at the record (it lies
 * at the bottom of this frame). No signal mask is saved:
 * rt_sigreturn restores the interrupted one, so the fast path makes no
 * system call. fn's return address is always cg_invoke_ret, by which the
 * handler's stack walk recognises the frame of a live guard point.
 */
	.globl	cg_guarded_call
	.hidden	cg_guarded_call
	.globl	cg_invoke_ret
	.hidden	cg_invoke_ret
	.type	cg_guarded_call, @function
	.p2align 4
cg_guarded_call:
	.cfi_startproc
	/* entry rsp is 8 mod 16; CG_FRAME is 8 mod 16: aligned for the call */
	subq	$CG_FRAME, %rsp
	.cfi_adjust_cfa_offset CG_FRAME
	movq	%rbx, 0(%rsp)
	movq	%rbp, 8(%rsp)
	movq	%r12, 16(%rsp)
	movq	%r13, 24(%rsp)
	movq	%r14, 32(%rsp)
	movq	%r15, 40(%rsp)
	movq	%rdx, CG_OFF_OUT(%rsp)
	movq	%rcx, CG_OFF_DEPTH(%rsp)
	/* guard stack: cg_thread.guards[depth - 1] = record, then
	 * cg_thread.ndepth = depth (the record is pushed before it counts) */
	movl	%ecx, %ecx
	movq	cg_thread@gottpoff(%rip), %rax
	movq	%rsp, %fs:CG_THR_GUARDS-8(%rax,%rcx,8)
	movl	%ecx, %fs:CG_THR_NDEPTH(%rax)
	/* the canary once the record is complete */
	movabsq	$CG_CANARY_VALUE, %rax
	xorq	%rsp, %rax
	movq	%rax, CG_OFF_CANARY(%rsp)
	movq	%rdi, %rax
	movq	%rsi, %rdi
	call	*%rax
cg_invoke_ret:
	movl	CG_OFF_DEPTH(%rsp), %ecx
	decl	%ecx
	movq	cg_thread@gottpoff(%rip), %rax
	movl	%ecx, %fs:CG_THR_NDEPTH(%rax)
	/* the canary is not cleared: once popped, the record is not looked at */
	addq	$CG_FRAME, %rsp
	.cfi_remember_state
	.cfi_adjust_cfa_offset -CG_FRAME
	xorl	%eax, %eax
	ret
	.cfi_restore_state
	/* Entered from the signal handler (cg_ctx_resume_guard) with rsp at
	 * the record, the callee-saved registers restored and the result (1
	 * for a fault, 2 for an interrupt) in rax; the handler has already
	 * popped the guard stack. */
	.globl	cg_resume
	.hidden	cg_resume
cg_resume:
	addq	$CG_FRAME, %rsp
	.cfi_adjust_cfa_offset -CG_FRAME
	ret
	.cfi_endproc
	.size	cg_guarded_call, .-cg_guarded_call

/*
 * int cg_probe_call(void (*fn)(void *), void *arg, struct cg_probe *rec)
 *
 * Runs fn(arg) where a fault is survivable: the handler's own work that
 * reads memory a fault may have broken (the unwinder on a smashed stack,
 * code at a wild PC). Saves the callee-saved registers and the stack
 * pointer in rec and publishes it in cg_thread.probe; a SIGSEGV or SIGBUS
 * while it is set (cg_dispatch) resumes at cg_probe_resume, which returns
 * 1. Returns 0 when fn returned. The caller unblocks SIGSEGV and SIGBUS
 * around it (cg_probe_run).
 */
	.globl	cg_probe_call
	.hidden	cg_probe_call
	.globl	cg_probe_resume
	.hidden	cg_probe_resume
	.type	cg_probe_call, @function
	.p2align 4
cg_probe_call:
	.cfi_startproc
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	movq	%rbx, 0(%rdx)
	movq	%rbp, 8(%rdx)
	movq	%r12, 16(%rdx)
	movq	%r13, 24(%rdx)
	movq	%r14, 32(%rdx)
	movq	%r15, 40(%rdx)
	movq	%rsp, 48(%rdx)
	movq	cg_thread@gottpoff(%rip), %rax
	movq	%rdx, %fs:CG_THR_PROBE(%rax)
	movq	%rdi, %rax
	movq	%rsi, %rdi
	call	*%rax
	movq	cg_thread@gottpoff(%rip), %rax
	movq	$0, %fs:CG_THR_PROBE(%rax)
	xorl	%eax, %eax
	addq	$8, %rsp
	.cfi_remember_state
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_restore_state
	/* From cg_dispatch, with rsp, the callee-saved registers and rax = 1
	 * from the record; cg_thread.probe already cleared. */
cg_probe_resume:
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_endproc
	.size	cg_probe_call, .-cg_probe_call

	.globl	cg_sigentry
	.hidden	cg_sigentry
	.type	cg_sigentry, @function
	.p2align 4
cg_sigentry:
	.cfi_startproc
	pushq	%rdi
	.cfi_adjust_cfa_offset 8
	pushq	%rsi
	.cfi_adjust_cfa_offset 8
	pushq	%rdx
	.cfi_adjust_cfa_offset 8
	/* entry rsp was 8 mod 16; three pushes make it 0 mod 16 for the call */
	call	cg_dispatch
	popq	%rdx
	.cfi_adjust_cfa_offset -8
	popq	%rsi
	.cfi_adjust_cfa_offset -8
	popq	%rdi
	.cfi_adjust_cfa_offset -8
	testq	%rax, %rax
	jz	1f
	jmp	*%rax
1:
	ret
	.cfi_endproc
	.size	cg_sigentry, .-cg_sigentry

#endif

	.section .note.GNU-stack,"",@progbits
