// C functions that fault in every way the guard must recover from, plus
// healthy ones. Each has the guard's signature, void f(void *arg).
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#include "payload.h"

void pl_empty(void *arg) { (void)arg; }

void pl_healthy(void *arg) {
	struct pl_result *r = arg;
	r->out = r->in * 2 + 1;
}

__attribute__((noinline)) void pl_null_write(void *arg) {
	(void)arg;
	*(volatile int *)0 = 42;
}

__attribute__((noinline)) void pl_wild_read(void *arg) {
	struct pl_result *r = arg;
	r->out = *(volatile long *)(uintptr_t)0xdead0000;
}

static const char pl_rodata[64] = "read-only";

__attribute__((noinline)) void pl_rodata_write(void *arg) {
	(void)arg;
	*(volatile char *)(uintptr_t)pl_rodata = 'x';
}

// Data, not code: the page is not executable.
static unsigned char pl_not_code[64] __attribute__((aligned(64))) = {0xc3};

__attribute__((noinline)) void pl_jump_nx(void *arg) {
	(void)arg;
	void (*volatile f)(void) = (void (*)(void))(uintptr_t)pl_not_code;
	f();
	__asm__ volatile("" ::: "memory"); /* a call, not a tail jump */
}

__attribute__((noinline)) void pl_div_zero(void *arg) {
	struct pl_result *r = arg;
	volatile long zero = 0;
	r->out = r->in / zero;
}

__attribute__((noinline)) void pl_trap(void *arg) {
	(void)arg;
	__builtin_trap();
}

__attribute__((noinline)) void pl_abort(void *arg) {
	(void)arg;
	abort();
}

#undef NDEBUG
__attribute__((noinline)) void pl_assert(void *arg) {
	struct pl_result *r = arg;
	assert(r->in == -12345 && "payload assertion");
}

// A pointer glibc's free() rejects as misaligned ("free(): invalid
// pointer") and aborts on, before taking any allocator lock.
static _Alignas(16) unsigned char pl_fake_chunk[64];

__attribute__((noinline)) void pl_bad_free(void *arg) {
	(void)arg;
	memset(pl_fake_chunk, 0, sizeof pl_fake_chunk);
	*(size_t *)(pl_fake_chunk + 16) = 0x20; // size field of a chunk at +8
	void *volatile p = pl_fake_chunk + 24;
	free(p);
	__asm__ volatile("" ::: "memory"); /* keep free a call, not a tail jump */
}

__attribute__((noinline)) void pl_strlen_null(void *arg) {
	struct pl_result *r = arg;
	const char *volatile s = NULL;
	r->out = (long)strlen(s);
}

// zlib's inflate handed an input pointer to nowhere.
__attribute__((noinline)) void pl_zlib_bad(void *arg) {
	struct pl_result *r = arg;
	z_stream zs;
	unsigned char out[64];
	memset(&zs, 0, sizeof zs);
	if (inflateInit(&zs) != Z_OK) {
		r->out = -1;
		return;
	}
	zs.next_in = (Bytef *)(uintptr_t)0x10;
	zs.avail_in = 4096;
	zs.next_out = out;
	zs.avail_out = sizeof out;
	r->out = inflate(&zs, Z_NO_FLUSH);
	inflateEnd(&zs);
}

// SIGBUS: a shared mapping of two pages over a file cut to one page.
static volatile unsigned char *pl_bus_map;

int pl_bus_setup(void) {
	if (pl_bus_map != NULL)
		return 0;
	long page = sysconf(_SC_PAGESIZE);
	int fd = memfd_create("cgoguard-sigbus", 0);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, 2 * page) != 0) {
		close(fd);
		return -1;
	}
	void *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int rc = (p == MAP_FAILED || ftruncate(fd, page) != 0) ? -1 : 0;
	close(fd);
	if (rc == 0)
		pl_bus_map = p;
	return rc;
}

__attribute__((noinline)) void pl_sigbus(void *arg) {
	struct pl_result *r = arg;
	r->out = pl_bus_map[sysconf(_SC_PAGESIZE) + 8];
}

// Unbounded recursion. noinline and a modest frame, so each step moves the
// stack pointer by far less than a guard page.
__attribute__((noinline)) static long pl_recurse(long n) {
	volatile char pad[192];
	pad[0] = (char)n;
	return pl_recurse(n + 1) + pad[0];
}

__attribute__((noinline)) void pl_stack_overflow(void *arg) {
	struct pl_result *r = arg;
	r->out = pl_recurse(r->in);
}

__attribute__((noinline)) void pl_raise_segv(void *arg) {
	(void)arg;
	raise(SIGSEGV);
	__asm__ volatile("" ::: "memory"); /* keep raise a call, not a tail jump */
}

// Sleeps in a loop until *stop; writes its thread id first.
void pl_sleep_until(void *arg) {
	struct pl_result *r = arg;
	__atomic_store_n(&r->tid, (long)syscall(SYS_gettid), __ATOMIC_RELEASE);
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

void pl_set_stop(struct pl_result *r) { __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE); }
long pl_get_tid(struct pl_result *r) { return __atomic_load_n(&r->tid, __ATOMIC_ACQUIRE); }

// Six-argument function for CallFunc.
long pl_sum6(long a, long b, long c, long d, long e, long f) {
	return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f;
}

long pl_div6(long a, long b) { return a / b; }

// stderr off and back on, for loops of faults that print (assert, free).
static int pl_saved_stderr = -1;

void pl_quiet_stderr(int quiet) {
	if (quiet && pl_saved_stderr < 0) {
		int devnull = open("/dev/null", O_WRONLY);
		pl_saved_stderr = dup(2);
		dup2(devnull, 2);
		close(devnull);
	} else if (!quiet && pl_saved_stderr >= 0) {
		dup2(pl_saved_stderr, 2);
		close(pl_saved_stderr);
		pl_saved_stderr = -1;
	}
}

// Blocks every signal but the fault signals (with SIGSEGV blocked the
// kernel would kill the process at the fault, guard or no guard), then
// faults: the guard must give the thread its own mask back.
__attribute__((noinline)) void pl_block_then_fault(void *arg) {
	(void)arg;
	sigset_t all;
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGABRT);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	*(volatile int *)0 = 1;
}

// Reports whether sig is blocked on the calling thread.
int pl_sig_blocked(int sig) {
	sigset_t cur;
	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	return sigismember(&cur, sig);
}

// A NULL write two C calls deep, for tracebacks with several C frames.
__attribute__((noinline)) void pl_deep_middle(void *arg) {
	pl_null_write(arg);
	__asm__ volatile("" ::: "memory"); /* a call, not a tail jump */
}

__attribute__((noinline)) void pl_deep_outer(void *arg) {
	pl_deep_middle(arg);
	__asm__ volatile("" ::: "memory");
}

// Sleeps s seconds (EINTR-safe); for CallFunc.
long pl_sleep_seconds(long s) {
	struct timespec ts = {s, 0}, rem;
	while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
		ts = rem;
	return s;
}

/* A NULL write in a function inlined into its caller: the faulting PC
 * symbolizes to two frames (pl_inlined_store inside pl_inlined_null_write). */
static inline __attribute__((always_inline)) void pl_inlined_store(volatile int *p) { *p = 42; }

__attribute__((noinline)) void pl_inlined_null_write(void *arg) {
	(void)arg;
	pl_inlined_store((volatile int *)0);
	__asm__ volatile("" ::: "memory");
}
