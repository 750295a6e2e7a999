/*
 * Hand-over of fault records to a language runtime (the Go package) without
 * allocating on the C heap: a pool of records, claimed by the guarded
 * thread after it resumes and released by the reader. Used on the fault
 * path only (never in the signal handler).
 *
 * A record is held from the hand-over until the reader has copied it: in
 * Go, until the goroutine that made the call runs again, which in a storm
 * (thousands of goroutines back from C waiting for a P) is long, so any
 * fixed number of records runs dry. The pool grows instead: chunks of
 * records mapped on demand with mmap (not malloc: the fault may have left
 * the C heap or its locks broken), never unmapped, up to CG_POOL_CAP
 * records. Free records form a lock-free stack whose head carries a
 * counter against ABA; a record is never freed, so a stale look at one is
 * harmless.
 */
#if defined(__x86_64__) && defined(__linux__)
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"

#define CG_POOL_CHUNK_SHIFT 8
#define CG_POOL_CHUNK (1u << CG_POOL_CHUNK_SHIFT) /* records per chunk */
#define CG_POOL_CHUNKS 16383u
#define CG_POOL_CAP (CG_POOL_CHUNKS * CG_POOL_CHUNK)
/* slot + 1 must fit the 22 bits the Go package's direct call packs it in. */
_Static_assert(CG_POOL_CAP < CG_DIRECT_SLOT_MASK, "slot + 1 must fit the direct result");

/* How long a thread waits for a record when the pool cannot grow (at its
 * cap, or out of memory) before handing over the signal alone. */
#define CG_POOL_WAIT_NS 10000000000LL /* 10 s */

struct cg_pool_rec {
	uint32_t next; /* on the free stack: index + 1 of the record below; 0: none */
	uint32_t pad_;
	cgoguard_fault fault;
};

static struct cg_pool_rec *cg_pool_chunks[CG_POOL_CHUNKS]; /* atomic; set once each */
static uint32_t cg_pool_nchunks;                           /* atomic: chunks mapped */
static uint64_t cg_pool_free;  /* atomic: counter << 32 | (index + 1) of the top free record */
static int cg_pool_growing;    /* atomic: a thread is mapping a chunk */

static struct cg_pool_rec *cg_pool_rec(uint32_t i) {
	struct cg_pool_rec *c = __atomic_load_n(&cg_pool_chunks[i >> CG_POOL_CHUNK_SHIFT], __ATOMIC_ACQUIRE);
	return &c[i & (CG_POOL_CHUNK - 1)];
}

/* Pushes the chain first..last (indexes; linked through next) on the free
 * stack. */
static void cg_pool_push(uint32_t first, struct cg_pool_rec *last) {
	uint64_t h = __atomic_load_n(&cg_pool_free, __ATOMIC_RELAXED);
	for (;;) {
		__atomic_store_n(&last->next, (uint32_t)h, __ATOMIC_RELAXED);
		uint64_t nh = ((h >> 32) + 1) << 32 | (uint64_t)(first + 1);
		if (__atomic_compare_exchange_n(&cg_pool_free, &h, nh, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
			return;
	}
}

/* A free record's index, or -1 when none is free. */
static int64_t cg_pool_pop(void) {
	uint64_t h = __atomic_load_n(&cg_pool_free, __ATOMIC_ACQUIRE);
	for (;;) {
		uint32_t top = (uint32_t)h;
		if (top == 0)
			return -1;
		/* Possibly stale (another thread took the record meanwhile):
		 * then the counter has moved and the exchange fails. */
		uint32_t next = __atomic_load_n(&cg_pool_rec(top - 1)->next, __ATOMIC_RELAXED);
		uint64_t nh = ((h >> 32) + 1) << 32 | next;
		if (__atomic_compare_exchange_n(&cg_pool_free, &h, nh, 1, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
			return top - 1;
	}
}

/* Maps one more chunk and frees its records. Returns 1 when the pool grew,
 * 2 when another thread is growing it (try again), 0 when it cannot grow. */
static int cg_pool_grow(void) {
	if (__atomic_exchange_n(&cg_pool_growing, 1, __ATOMIC_ACQUIRE))
		return 2;
	int grew = 0;
	uint32_t n = __atomic_load_n(&cg_pool_nchunks, __ATOMIC_RELAXED);
	if (n < CG_POOL_CHUNKS) {
		struct cg_pool_rec *c = mmap(NULL, CG_POOL_CHUNK * sizeof *c, PROT_READ | PROT_WRITE,
		                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (c != MAP_FAILED) {
			uint32_t base = n * CG_POOL_CHUNK;
			for (uint32_t j = 0; j + 1 < CG_POOL_CHUNK; j++)
				c[j].next = base + j + 2;
			__atomic_store_n(&cg_pool_chunks[n], c, __ATOMIC_RELEASE);
			__atomic_store_n(&cg_pool_nchunks, n + 1, __ATOMIC_RELEASE);
			cg_pool_push(base, &c[CG_POOL_CHUNK - 1]);
			grew = 1;
		}
	}
	__atomic_store_n(&cg_pool_growing, 0, __ATOMIC_RELEASE);
	return grew;
}

/*
 * Moves the calling thread's last fault record (cg_thread.fault) into the
 * pool. Returns cg_pub_pack(slot + 1, signo, rc) (internal.h), where rc is the guard's
 * result (CGOGUARD_FAULT, _TIMEOUT, _CANCELED) and slot indexes the pool
 * record holding the details (read it with cg_pool_get, then release
 * it). slot is -1 (only signal and rc are known) only when CG_POOL_CAP
 * records are held at once, or no memory is left for more, for
 * CG_POOL_WAIT_NS.
 */
int64_t cg_pool_publish(int rc) {
	int64_t signo = cg_pub_pack(0, cg_thread.fault.signo, rc);
	int64_t waited = 0;
	for (;;) {
		int64_t s = cg_pool_pop();
		if (s >= 0) {
			memcpy(&cg_pool_rec((uint32_t)s)->fault, &cg_thread.fault, sizeof cg_thread.fault);
			return signo | (s + 1);
		}
		int g = cg_pool_grow();
		if (g == 2)
			sched_yield();
		if (g != 0)
			continue;
		/* Full: records come back as their readers run. The thread is
		 * still in its cgo call, so the Go scheduler runs them. */
		if (waited >= CG_POOL_WAIT_NS)
			break;
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
		waited += ts.tv_nsec;
	}
	/* Nobody will read this record, nor the dump capture it names. */
	cg_capture_drop(cg_thread.fault.capture);
	return signo;
}

const cgoguard_fault *cg_pool_get(int slot) {
	if (slot < 0 || (uint32_t)slot >= __atomic_load_n(&cg_pool_nchunks, __ATOMIC_ACQUIRE) * CG_POOL_CHUNK)
		return NULL;
	return &cg_pool_rec((uint32_t)slot)->fault;
}

void cg_pool_release(int slot) {
	if (slot < 0 || (uint32_t)slot >= __atomic_load_n(&cg_pool_nchunks, __ATOMIC_ACQUIRE) * CG_POOL_CHUNK)
		return;
	struct cg_pool_rec *r = cg_pool_rec((uint32_t)slot);
	cg_pool_push((uint32_t)slot, r);
}

/* Records mapped, and free (walks the free stack: for tests, when no
 * other thread uses the pool). */
void cg_pool_stats(uint32_t out[2]) {
	out[0] = __atomic_load_n(&cg_pool_nchunks, __ATOMIC_ACQUIRE) * CG_POOL_CHUNK;
	uint32_t n = 0;
	for (uint32_t i = (uint32_t)__atomic_load_n(&cg_pool_free, __ATOMIC_ACQUIRE); i != 0 && n <= out[0];
	     i = cg_pool_rec(i - 1)->next)
		n++;
	out[1] = n;
}

#endif /* x86-64 Linux */
