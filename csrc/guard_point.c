/*
 * The guard point: cgoguard_call opens a guard, runs the function, and closes
 * the guard. On the fast path it makes no system call: a dozen register
 * stores, two thread-local stores and two loads of global flags.
 */
#if defined(__x86_64__) && defined(__linux__)
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* ---- per-thread preparation: an alternate signal stack ---- */

/* Without an alternate stack a stack overflow cannot be delivered at all
 * (the kernel kills the process), so a thread that has none gets one. Go
 * gives every thread it creates a 32 KiB one; C threads have none. */
#define CG_ALTSTACK_SIZE (64 * 1024)

CG_TLS int cg_thread_ready;
CG_TLS uint32_t cg_thread_mxcsr;
CG_TLS uint16_t cg_thread_fpucw;
CG_TLS int cg_thread_tid;
CG_TLS sigset_t cg_thread_sigmask;

/* A forked child's thread has a new id: prepare it again. */
static void cg_after_fork_child(void) { cg_thread_ready = 0; }
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

static int cg_prepare_thread(void) {
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
	__asm__ volatile("stmxcsr %0" : "=m"(cg_thread_mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(cg_thread_fpucw));
	cg_thread_tid = (int)syscall(SYS_gettid);
	if (pthread_sigmask(SIG_SETMASK, NULL, &cg_thread_sigmask) != 0)
		return CGOGUARD_EINSTALL;
	cg_thread_ready = 1;
	return CGOGUARD_OK;
}

/* Everything the fast path does not: install, repair, thread set-up. */
int cg_slow_entry(void) {
	int rc;
	if (!__atomic_load_n(&cg_installed, __ATOMIC_ACQUIRE) && (rc = cgoguard_install()) != CGOGUARD_OK)
		return rc;
	if (__atomic_load_n(&cg_handlers_dirty, __ATOMIC_ACQUIRE) && (rc = cg_repair_handlers()) < 0)
		return rc;
	if (!cg_thread_ready && (rc = cg_prepare_thread()) != CGOGUARD_OK)
		return rc;
	return CGOGUARD_OK;
}

CG_TLS struct cg_guard *cg_guards[CGOGUARD_MAX_DEPTH];
CG_TLS int cg_ndepth;

CG_TLS cgoguard_fault cg_scratch;

int cgoguard_call_frames(void (*fn)(void *), void *arg, cgoguard_fault *fault, int max_frames) {
	if (fault == NULL) {
		fault = &cg_scratch;
		max_frames = 0;
	}
	return cg_call(fn, arg, fault, max_frames);
}

int cgoguard_call(void (*fn)(void *), void *arg, cgoguard_fault *fault) {
	return cgoguard_call_frames(fn, arg, fault, CGOGUARD_MAX_FRAMES);
}

int cgoguard_depth(void) {
	uintptr_t sp;
	__asm__("movq %%rsp, %0" : "=r"(sp));
	return cg_live_depth(sp);
}

const char *cgoguard_strerror(int result) {
	switch (result) {
	case CGOGUARD_OK: return "ok";
	case CGOGUARD_FAULT: return "the guarded function faulted";
	case CGOGUARD_ENULLFN: return "nil function pointer";
	case CGOGUARD_EDEPTH: return "too many nested guards";
	case CGOGUARD_EUNSUPPORTED: return "guarding is not supported on this platform";
	case CGOGUARD_EINSTALL: return "could not install signal handlers";
	case CGOGUARD_EALTSTACK: return "could not set up an alternate signal stack for this thread";
	case CGOGUARD_ELINKMODE: return "C code is linked inside the Go text segment (internal linking); build with external linking";
	case CGOGUARD_TIMEOUT: return "the deadline passed; the call was interrupted";
	case CGOGUARD_CANCELED: return "the call was cancelled and interrupted";
	case CGOGUARD_ESIGNAL: return "the timeout signal cannot be used";
	case CGOGUARD_EWATCHDOG: return "could not start the watchdog thread";
	case CGOGUARD_ENESTEDDEADLINE: return "a call with a deadline inside another call with a deadline on the same thread";
	case CGOGUARD_EINVAL: return "invalid argument: attempts below 1, or timeout out of range";
	}
	return "unknown result";
}

#endif /* x86-64 Linux */
