/*
 * x86-64 pieces of the guard that C cannot express.
 *
 * cg_guard_save: a setjmp that saves only what the guard point needs and no
 * signal mask (the mask is restored by rt_sigreturn from the handler's
 * ucontext, so no system call is made on the fast path).
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

	.text

	.globl	cg_guard_save
	.hidden	cg_guard_save
	.type	cg_guard_save, @function
	.p2align 4
cg_guard_save:
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
	stmxcsr	64(%rdi)
	fnstcw	68(%rdi)
	xorl	%eax, %eax
	ret
	.cfi_endproc
	.size	cg_guard_save, .-cg_guard_save

/*
 * cg_invoke(fn, arg): calls fn(arg). The guarded function's caller frame is
 * always this one, so the handler's unwinder can recognise the frame of a
 * live guard point by its return address, cg_invoke_ret.
 */
	.globl	cg_invoke
	.hidden	cg_invoke
	.globl	cg_invoke_ret
	.hidden	cg_invoke_ret
	.type	cg_invoke, @function
	.p2align 4
cg_invoke:
	.cfi_startproc
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	movq	%rdi, %rax
	movq	%rsi, %rdi
	call	*%rax
cg_invoke_ret:
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_endproc
	.size	cg_invoke, .-cg_invoke

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
