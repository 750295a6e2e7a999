/*
 * The per-thread record (struct cg_thread, internal.h) and a thread's
 * preparation for its first guard: an alternate signal stack if it has
 * none, its id, signal mask and floating-point control state.
 *
 * Hazards:
 *  - Without an alternate stack a stack overflow cannot be delivered at all
 *    (the kernel kills the process). Go gives every thread it creates a
 *    32 KiB one; threads made by C have none, and get one here.
 *  - The record is initial-exec TLS: the handler reaches it without a call
 *    into the dynamic linker (__tls_get_addr may allocate), so the C core
 *    must be linked into the executable, not dlopened.
 *  - A forked child's thread has a new id: it is prepared again.
 */
#if defined(__x86_64__) && defined(__linux__)
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* Without an alternate stack a stack overflow cannot be delivered at all
 * (the kernel kills the process), so a thread that has none gets one. Go
 * gives every thread it creates a 32 KiB one; C threads have none. */
#define CG_ALTSTACK_SIZE (64 * 1024)

CG_TLS struct cg_thread cg_thread;

/* A forked child's thread has a new id: prepare it again. */
static void cg_after_fork_child(void) {
	cg_thread.ready = 0;
	cg_thread.tid = 0; /* cg_current_tid asks the kernel until then */
}
static pthread_once_t cg_atfork_once = PTHREAD_ONCE_INIT;
static void cg_atfork_init(void) { pthread_atfork(NULL, NULL, cg_after_fork_child); }
static pthread_key_t cg_altstack_key;
static pthread_once_t cg_altstack_once = PTHREAD_ONCE_INIT;

static void cg_altstack_free(void *mem) {
	stack_t cur;
	/* Disable it only if it is still ours and not in use. */
	if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == (char *)mem + getpagesize() &&
	    !(cur.ss_flags & SS_ONSTACK)) {
		stack_t off = {.ss_flags = SS_DISABLE};
		sigaltstack(&off, NULL);
	}
	munmap(mem, CG_ALTSTACK_SIZE + getpagesize());
}

static void cg_altstack_key_init(void) {
	pthread_key_create(&cg_altstack_key, cg_altstack_free);
}

int cg_prepare_thread(void) {
	stack_t cur;
	if (sigaltstack(NULL, &cur) != 0)
		return CGOGUARD_EALTSTACK;
	if (cur.ss_flags & SS_DISABLE) {
		size_t page = (size_t)getpagesize();
		pthread_once(&cg_altstack_once, cg_altstack_key_init);
		/* One guard page below the stack, so an overflow of the
		 * handler itself faults instead of corrupting memory. */
		char *mem = mmap(NULL, CG_ALTSTACK_SIZE + page, PROT_READ | PROT_WRITE,
		                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (mem == MAP_FAILED)
			return CGOGUARD_EALTSTACK;
		mprotect(mem, page, PROT_NONE);
		stack_t ss = {.ss_sp = mem + page, .ss_size = CG_ALTSTACK_SIZE, .ss_flags = 0};
		if (sigaltstack(&ss, NULL) != 0 || pthread_setspecific(cg_altstack_key, mem) != 0) {
			stack_t off = {.ss_flags = SS_DISABLE};
			sigaltstack(&off, NULL);
			munmap(mem, CG_ALTSTACK_SIZE + page);
			return CGOGUARD_EALTSTACK;
		}
	}
	pthread_once(&cg_atfork_once, cg_atfork_init);
	__asm__ volatile("stmxcsr %0" : "=m"(cg_thread.mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(cg_thread.fpucw));
	cg_thread.tid = (int)syscall(SYS_gettid);
	if (pthread_sigmask(SIG_SETMASK, NULL, &cg_thread.sigmask) != 0)
		return CGOGUARD_EINSTALL;
	/* last: the handler and the fast path trust the fields above once
	 * ready is set */
	cg_thread.ready = 1;
	return CGOGUARD_OK;
}

int32_t cg_current_tid(void) {
	int32_t tid = cg_thread.tid;
	return tid != 0 ? tid : (int32_t)syscall(SYS_gettid);
}

/* The offset of the calling thread's cg_thread.slot from its thread
 * pointer: the same for every thread (initial-exec TLS), so that Go code
 * holding a thread reads its slot without a cgo call. */
intptr_t cg_slot_tls_offset(void) {
	uintptr_t tp;
	__asm__("movq %%fs:0, %0" : "=r"(tp));
	return (intptr_t)((uintptr_t)&cg_thread.slot - tp);
}

/* The calling thread's slot, as C sees it (for tests). */
struct cg_slot *cg_thread_slot(void) { return cg_thread.slot; }

#endif /* x86-64 Linux */
