/*
 * Checked memory access and probes for the signal handler.
 *
 * A fault can leave any register pointing anywhere: RSP at an unmapped
 * page, RIP at no code, RBP at garbage. The handler runs with every signal
 * blocked, so a fault of its own would kill the process without a word.
 * So it reads such memory through the kernel (process_vm_readv on its own
 * process: an unreadable page is an error, not a fault), and runs the one
 * thing that cannot be checked word by word, libgcc's unwinder, as a
 * probe: with SIGSEGV and SIGBUS unblocked and a resume point published,
 * so that a fault inside it comes back to cg_dispatch, which resumes the
 * probe's caller (cg_probe_call returns 1) instead of dying.
 *
 * Everything here is async-signal-safe: system calls and TLS.
 */
#if defined(__x86_64__) && defined(__linux__)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

/* process_vm_readv refused (a seccomp profile): each read is then first
 * tried as a write of the memory into a pipe (EFAULT when unreadable),
 * drained at once, and done directly only once the kernel read it. */
static int cg_vm_readv_broken; /* atomic */
static int cg_check_pipe[2] = {-1, -1};

/* The process id process_vm_readv names (cached; a forked child finds it
 * again). */
static int cg_self_pid; /* atomic */
static void cg_checked_after_fork(void) { __atomic_store_n(&cg_self_pid, 0, __ATOMIC_RELAXED); }

static long cg_pid(void) {
	int p = __atomic_load_n(&cg_self_pid, __ATOMIC_RELAXED);
	if (p == 0) {
		p = (int)syscall(SYS_getpid);
		__atomic_store_n(&cg_self_pid, p, __ATOMIC_RELAXED);
	}
	return p;
}

int cg_checked_init(void) {
	static int atfork_done;
	if (!atfork_done) {
		atfork_done = 1;
		pthread_atfork(NULL, NULL, cg_checked_after_fork);
	}
	if (cg_check_pipe[0] >= 0)
		return 0;
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	cg_check_pipe[1] = p[1];
	__atomic_store_n(&cg_check_pipe[0], p[0], __ATOMIC_RELEASE);
	return 0;
}

static int cg_pipe_readable(uintptr_t addr, size_t len) {
	char drain[512];
	int rd = __atomic_load_n(&cg_check_pipe[0], __ATOMIC_ACQUIRE);
	if (rd < 0)
		return 0;
	while (len > 0) {
		size_t n = len < sizeof drain ? len : sizeof drain;
		long w = syscall(SYS_write, cg_check_pipe[1], (void *)addr, n);
		if (w <= 0)
			return 0;
		/* Another thread's check may be in the pipe too: read back as
		 * much as was written, whoever wrote it. */
		long left = w;
		while (left > 0) {
			long r = syscall(SYS_read, rd, drain, (size_t)left);
			if (r <= 0)
				break;
			left -= r;
		}
		addr += (size_t)w;
		len -= (size_t)w;
	}
	return 1;
}

int cg_read(void *buf, uintptr_t addr, size_t len) {
	if (len == 0)
		return 1;
	if (addr + len < addr)
		return 0;
	if (!__atomic_load_n(&cg_vm_readv_broken, __ATOMIC_RELAXED)) {
		struct iovec local = {buf, len}, remote = {(void *)addr, len};
		int saved = errno;
		long r = syscall(SYS_process_vm_readv, cg_pid(), &local, 1L, &remote, 1L, 0L);
		int e = errno;
		errno = saved;
		if (r == (long)len)
			return 1;
		if (r >= 0 || e == EFAULT || e == ESRCH)
			return 0;
		/* ENOSYS, EPERM: not allowed here */
		__atomic_store_n(&cg_vm_readv_broken, 1, __ATOMIC_RELAXED);
	}
	int saved = errno;
	int ok = cg_pipe_readable(addr, len);
	errno = saved;
	if (!ok)
		return 0;
	memcpy(buf, (const void *)addr, len);
	return 1;
}

/* Is a nested SIGSEGV or SIGBUS sure to reach cg_dispatch? Only while our
 * handler is in place for both. */
int cg_probe_usable(void) {
	if (!__atomic_load_n(&cg_installed, __ATOMIC_ACQUIRE))
		return 0;
	if (!__atomic_load_n(&cg_handlers_dirty, __ATOMIC_ACQUIRE))
		return 1;
	/* Someone changed a handler since: ask the kernel (struct
	 * kernel_sigaction: the handler is its first word). */
	static const int sigs[] = {SIGSEGV, SIGBUS};
	for (int i = 0; i < 2; i++) {
		uintptr_t ka[4] = {0};
		if (syscall(SYS_rt_sigaction, sigs[i], NULL, ka, 8L) != 0 || ka[0] != (uintptr_t)cg_sigentry)
			return 0;
	}
	return 1;
}

int cg_probe_run(void (*fn)(void *), void *arg) {
	uint64_t unblock = (1ULL << (SIGSEGV - 1)) | (1ULL << (SIGBUS - 1)), old = 0;
	struct cg_probe rec;
	if (cg_thread.probe != NULL) /* no nesting: the outer probe owns the resume point */
		return 1;
	if (syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &unblock, &old, 8L) != 0)
		return 1;
	int r = cg_probe_call(fn, arg, &rec);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8L);
	return r;
}

#endif /* x86-64 Linux */
