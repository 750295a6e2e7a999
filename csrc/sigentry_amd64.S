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
 * int cg_guarded_invoke(struct cg_guard *g, void (*fn)(void *), void *arg)
 *
 * Arms guard g (already on the thread's guard stack), calls fn(arg),
 * disarms g and returns 0. Like setjmp it saves
 * the callee-saved registers, the stack pointer and the return address in
 * g; the signal handler resumes a faulting thread from those, so that this
 * function "returns" 1 to its caller (no signal mask is saved: rt_sigreturn
 * restores the interrupted one, so the fast path makes no system call).
 * fn's return address is always cg_invoke_ret, by which the handler's stack
 * walk recognises the frame of a live guard point.
 */
	.globl	cg_guarded_invoke
	.hidden	cg_guarded_invoke
	.globl	cg_invoke_ret
	.hidden	cg_invoke_ret
	.type	cg_guarded_invoke, @function
	.p2align 4
cg_guarded_invoke:
	.cfi_startproc
	movq	%rbx, 0(%rdi)
	movq	%rbp, 8(%rdi)
	movq	%r12, 16(%rdi)
	movq	%r13, 24(%rdi)
	movq	%r14, 32(%rdi)
	movq	%r15, 40(%rdi)
	leaq	8(%rsp), %rax
	movq	%rax, 48(%rdi)
	movq	(%rsp), %rax
	movq	%rax, 56(%rdi)
	movabsq	$CG_CANARY_VALUE, %rax
	xorq	%rdi, %rax
	/* the canary last: the handler ignores g until the state is saved */
	movq	%rax, CG_OFF_CANARY(%rdi)
	pushq	%rdi
	.cfi_adjust_cfa_offset 8
	/* entry rsp was 8 mod 16; the push makes it 0 mod 16 for the call */
	movq	%rsi, %rax
	movq	%rdx, %rdi
	call	*%rax
cg_invoke_ret:
	popq	%rdi
	.cfi_adjust_cfa_offset -8
	movq	$0, CG_OFF_CANARY(%rdi)
	xorl	%eax, %eax
	ret
	.cfi_endproc
	.size	cg_guarded_invoke, .-cg_guarded_invoke

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
