/*
 * What a crash dump needs from the moment of a fault, taken by the signal
 * handler before the thread is unwound: the full register state and copies
 * of the stack near SP and of the code around PC. After the unwind the
 * guard point's callers reuse that stack, so it cannot be read later.
 *
 * The memory is a fixed pool mapped once, when captures are first enabled
 * (the handler cannot allocate). Each slot moves through
 *
 *   FREE --handler--> WRITING --handler--> READY --reader--> READING --> FREE
 *
 * by compare-and-swap. A READY slot nobody claimed (its fault record went to
 * a caller that does not read captures) may be taken over by a later fault
 * when no slot is FREE; the sequence number stored with the slot and in the
 * fault record tells the reader that its capture is gone.
 */
#if defined(__x86_64__) && defined(__linux__)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

enum { CG_CAP_FREE, CG_CAP_WRITING, CG_CAP_READY, CG_CAP_READING };

static struct cgoguard_capture *cg_captures; /* CG_CAPTURE_SLOTS, mapped once */
static int cg_capture_on;                    /* atomic */
static uint32_t cg_capture_seq;              /* atomic */

/* Maps the pool; after this the handler captures every recovered fault and
 * every forced interrupt. Returns 0, or -1 when the memory could not be
 * mapped. Not async-signal-safe; idempotent. */
int cg_capture_enable(void) {
	static int lock;
	if (__atomic_load_n(&cg_capture_on, __ATOMIC_ACQUIRE))
		return 0;
	while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE))
		sched_yield();
	int rc = 0;
	if (cg_captures == NULL) {
		void *p = mmap(NULL, sizeof(struct cgoguard_capture) * CG_CAPTURE_SLOTS,
		               PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			rc = -1;
		else
			cg_captures = p;
	}
	if (rc == 0)
		__atomic_store_n(&cg_capture_on, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
	return rc;
}

/* Copies len bytes at addr into buf without faulting: the kernel checks each
 * page (process_vm_readv never splits one iovec element, so every page is an
 * element of its own and the copy stops at the first unreadable page).
 * Returns the bytes copied from addr onward. Async-signal-safe. */
static size_t cg_copy_readable(void *buf, uintptr_t addr, size_t len) {
	struct iovec local = {buf, len};
	struct iovec remote[CG_CAPTURE_STACK / 4096 + 2];
	int n = 0;
	uintptr_t a = addr, end = addr + len;
	while (a < end && n < (int)(sizeof remote / sizeof remote[0])) {
		uintptr_t next = (a & ~(uintptr_t)4095) + 4096;
		if (next > end)
			next = end;
		remote[n].iov_base = (void *)a;
		remote[n].iov_len = next - a;
		n++;
		a = next;
	}
	long r = syscall(SYS_process_vm_readv, (long)syscall(SYS_getpid), &local, 1L, remote,
	                 (long)n, 0L);
	return r > 0 ? (size_t)r : 0;
}

/* Claims a slot for the handler: a free one, else the oldest READY one. */
static int cg_capture_claim(void) {
	for (int i = 0; i < CG_CAPTURE_SLOTS; i++) {
		int s = CG_CAP_FREE;
		if (__atomic_compare_exchange_n(&cg_captures[i].state, &s, CG_CAP_WRITING, 0,
		                                __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return i;
	}
	int oldest = -1;
	uint32_t oldest_seq = 0;
	for (int i = 0; i < CG_CAPTURE_SLOTS; i++) {
		if (__atomic_load_n(&cg_captures[i].state, __ATOMIC_RELAXED) != CG_CAP_READY)
			continue;
		uint32_t q = __atomic_load_n(&cg_captures[i].seq, __ATOMIC_RELAXED);
		if (oldest < 0 || (int32_t)(q - oldest_seq) < 0)
			oldest = i, oldest_seq = q;
	}
	if (oldest >= 0) {
		int s = CG_CAP_READY;
		if (__atomic_compare_exchange_n(&cg_captures[oldest].state, &s, CG_CAP_WRITING, 0,
		                                __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return oldest;
	}
	return -1;
}

/*
 * Called by the handler, on the faulting thread, before the context is
 * rewritten: records a capture and its id in f->capture (0 when captures
 * are off or every slot is in use). The stack is copied up to stack_top at
 * most (the guard point's frame and the few frames of its callers above it:
 * the guarded code's whole stack, not the caller's), and CG_CAPTURE_STACK
 * bytes at most. Async-signal-safe: atomics, memcpy and two system calls.
 */
void cg_capture(cgoguard_fault *f, const ucontext_t *uc, uintptr_t stack_top) {
	f->capture = 0;
	if (!__atomic_load_n(&cg_capture_on, __ATOMIC_ACQUIRE))
		return;
	int i = cg_capture_claim();
	if (i < 0)
		return;
	struct cgoguard_capture *c = &cg_captures[i];
	cg_ctx_regs(c->regs, uc);
	c->has_fpregs = cg_ctx_fxsave(c->fpregs, uc);
	c->tid = cg_current_tid();

	/* The stack from below the red zone upward. If that start is not
	 * mapped (a stack overflow), start at SP itself. */
	uintptr_t sp = cg_ctx_sp(uc);
	uintptr_t from = (sp - 128) & ~(uintptr_t)15;
	size_t want = sizeof c->stack;
	if (stack_top > from && stack_top - from < want)
		want = stack_top - from;
	size_t n = cg_copy_readable(c->stack, from, want);
	if (n == 0) {
		from = sp;
		if (stack_top > from && stack_top - from < want)
			want = stack_top - from;
		n = cg_copy_readable(c->stack, from, want);
	}
	c->stack_start = from;
	c->stack_len = (uint32_t)n;

	uintptr_t pc = cg_ctx_pc(uc);
	from = pc - sizeof c->code / 2;
	n = cg_copy_readable(c->code, from, sizeof c->code);
	if (n == 0) { /* PC near the start of a mapping, or not mapped at all */
		from = pc;
		n = cg_copy_readable(c->code, from, sizeof c->code / 2);
	}
	c->code_start = from;
	c->code_len = (uint32_t)n;

	uint32_t seq = __atomic_add_fetch(&cg_capture_seq, 1, __ATOMIC_RELAXED) & 0xffffff;
	if (seq == 0)
		seq = __atomic_add_fetch(&cg_capture_seq, 1, __ATOMIC_RELAXED) & 0xffffff;
	__atomic_store_n(&c->seq, seq, __ATOMIC_RELAXED);
	__atomic_store_n(&c->state, CG_CAP_READY, __ATOMIC_RELEASE);
	f->capture = (int32_t)(seq << 8 | (uint32_t)(i + 1));
}

/* Claims the capture id names for reading; NULL when there is none or it was
 * taken over by a later fault. Release it with cg_capture_release. */
const struct cgoguard_capture *cg_capture_get(int32_t id) {
	int i = (int)(id & 0xff) - 1;
	uint32_t seq = (uint32_t)id >> 8;
	if (id == 0 || i < 0 || i >= CG_CAPTURE_SLOTS || cg_captures == NULL)
		return NULL;
	struct cgoguard_capture *c = &cg_captures[i];
	int s = CG_CAP_READY;
	if (!__atomic_compare_exchange_n(&c->state, &s, CG_CAP_READING, 0, __ATOMIC_ACQUIRE,
	                                 __ATOMIC_RELAXED))
		return NULL;
	if (__atomic_load_n(&c->seq, __ATOMIC_RELAXED) != seq) {
		__atomic_store_n(&c->state, CG_CAP_READY, __ATOMIC_RELEASE);
		return NULL;
	}
	return c;
}

void cg_capture_release(const struct cgoguard_capture *c) {
	if (c != NULL)
		__atomic_store_n(&((struct cgoguard_capture *)c)->state, CG_CAP_FREE, __ATOMIC_RELEASE);
}

/* Drops the capture id names without reading it (a record nobody will turn
 * into a dump). */
void cg_capture_drop(int32_t id) { cg_capture_release(cg_capture_get(id)); }

#endif /* x86-64 Linux */
