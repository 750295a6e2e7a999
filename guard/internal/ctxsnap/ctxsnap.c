//go:build cgo

// A snapshot of this thread taken the way the signal handler takes one at a
// fault: the registers as a ucontext holds them, the fxsave image, and a
// copy of the stack from under RSP (its red zone) upward, bounded by the end
// of the thread's stack. ctxsnap_outer calls ctxsnap_inner, which takes it;
// both keep their frames (built with -O0: no inlining, no tail call), so a
// debugger that unwinds the snapshot finds ctxsnap_inner called by
// ctxsnap_outer.

#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "ctxsnap.h"

int ctxsnap_inner(ctxsnap_out *out) {
	ucontext_t uc;
	_Alignas(16) uint8_t fx[512];

	// getcontext leaves REG_EFL and REG_CSGSFS alone, which the kernel
	// fills at a signal: zero them, and read the flags.
	memset(&uc, 0, sizeof uc);
	if (getcontext(&uc) != 0)
		return -1;
	// Here RIP is the instruction after the call to getcontext and RSP this
	// frame's stack pointer.
	uint64_t flags;
	__asm__ volatile("pushfq; popq %0" : "=r"(flags));
	uc.uc_mcontext.gregs[REG_EFL] = (greg_t)flags;
	__asm__ volatile("fxsave64 %0" : "=m"(*(uint8_t(*)[512])fx));
	for (int i = 0; i < 23; i++)
		out->gregs[i] = (uint64_t)uc.uc_mcontext.gregs[i];
	memcpy(out->fx, fx, sizeof fx);
	out->tid = syscall(SYS_gettid);

	pthread_attr_t attr;
	void *lo;
	size_t size;
	if (pthread_getattr_np(pthread_self(), &attr) != 0)
		return -2;
	int rc = pthread_attr_getstack(&attr, &lo, &size);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		return -3;
	// From the bottom of the 128-byte red zone under RSP, where a leaf
	// function may keep data, as a capture at a fault must copy it.
	uint64_t from = out->gregs[REG_RSP] - 128, top = (uint64_t)lo + size;
	if (from < (uint64_t)lo || from >= top)
		return -4;
	uint64_t n = top - from;
	if (n > out->stack_cap)
		n = out->stack_cap;
	// The calls above ran below RSP (the red zone's copy holds what they
	// left there); the frames from RSP up are as they were, but for this
	// frame's own locals.
	memcpy(out->stack, (void *)from, n);
	out->stack_start = from;
	out->stack_len = n;
	return 0;
}

int ctxsnap_outer(ctxsnap_out *out) {
	int rc = ctxsnap_inner(out);
	if (rc != 0)
		return rc;
	return 0;
}
