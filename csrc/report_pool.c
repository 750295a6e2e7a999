/*
 * Hand-over of fault records to a language runtime (the Go package) without
 * allocating: a fixed pool of records, claimed by the guarded thread after
 * it resumes and released by the reader. Used on the fault path only.
 */
#if defined(__x86_64__) && defined(__linux__)
#include <string.h>

#include "internal.h"

#define CG_POOL_SIZE 256

static struct {
	int busy;
	cgoguard_fault fault;
} cg_pool[CG_POOL_SIZE];
static unsigned cg_pool_next;

CG_TLS cgoguard_fault cg_thread_fault;

/*
 * Runs fn(arg) under a guard. Returns 0, a negative CGOGUARD_E* code, or for
 * a fault or an interrupt what cgoguard_pool_publish returns.
 */
int64_t cgoguard_pool_call(void (*fn)(void *), void *arg, int max_frames) {
	int rc = cg_call(fn, arg, &cg_thread_fault, max_frames);
	return rc > 0 ? cgoguard_pool_publish(rc) : rc;
}

/*
 * Moves the calling thread's last fault record (cg_thread_fault) into the
 * pool. Returns (slot + 1) | signo << 32 | rc << 48, where rc is the guard's
 * result (CGOGUARD_FAULT, _TIMEOUT, _CANCELED) and slot indexes the pool
 * record holding the details (read it with cgoguard_pool_get, then release
 * it); slot is -1 when the pool was exhausted (only signal and rc are known).
 */
int64_t cgoguard_pool_publish(int rc) {
	int64_t signo = (int64_t)cg_thread_fault.signo << 32 | (int64_t)rc << 48;
	for (int i = 0; i < CG_POOL_SIZE; i++) {
		unsigned s = __atomic_fetch_add(&cg_pool_next, 1, __ATOMIC_RELAXED) % CG_POOL_SIZE;
		int free_ = 0;
		if (__atomic_compare_exchange_n(&cg_pool[s].busy, &free_, 1, 0, __ATOMIC_ACQUIRE,
		                                __ATOMIC_RELAXED)) {
			memcpy(&cg_pool[s].fault, &cg_thread_fault, sizeof cg_thread_fault);
			return signo | (int64_t)(s + 1);
		}
	}
	/* Nobody will read this record, nor the dump capture it names. */
	cgoguard_capture_drop(cg_thread_fault.capture);
	return signo;
}

const cgoguard_fault *cgoguard_pool_get(int slot) {
	return (slot >= 0 && slot < CG_POOL_SIZE) ? &cg_pool[slot].fault : NULL;
}

void cgoguard_pool_release(int slot) {
	if (slot >= 0 && slot < CG_POOL_SIZE)
		__atomic_store_n(&cg_pool[slot].busy, 0, __ATOMIC_RELEASE);
}

#endif /* x86-64 Linux */
