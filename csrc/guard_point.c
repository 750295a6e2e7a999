/*
 * The guard point: cgoguard_call opens a guard, runs the function, and closes
 * the guard. On the fast path it makes no system call: a dozen register
 * stores, two thread-local stores and two loads of global flags.
 * Per-thread preparation (the alternate stack) is in thread.c.
 */
#if defined(__x86_64__) && defined(__linux__)
#define _GNU_SOURCE
#include <stddef.h>

#include "internal.h"

/* Everything the fast path does not: install, repair, thread set-up. */
int cg_slow_entry(void) {
	int rc;
	if (!__atomic_load_n(&cg_installed, __ATOMIC_ACQUIRE) && (rc = cgoguard_install()) != CGOGUARD_OK)
		return rc;
	if (__atomic_load_n(&cg_handlers_dirty, __ATOMIC_ACQUIRE) && (rc = cg_repair_handlers()) < 0)
		return rc;
	if (!cg_thread.ready && (rc = cg_prepare_thread()) != CGOGUARD_OK)
		return rc;
	return CGOGUARD_OK;
}

int cgoguard_call_frames(void (*fn)(void *), void *arg, cgoguard_fault *fault, int max_frames) {
	if (fault == NULL) {
		fault = &cg_thread.scratch;
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
