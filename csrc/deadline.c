/*
 * Deadlines and cancellation for guarded calls.
 *
 * Every thread that makes a call with a deadline owns a slot on a list that
 * one watchdog thread scans. Arming a call is a few stores into the slot
 * and, only when the new deadline is earlier than the watchdog's next wake,
 * a futex wake: no timer is created and no system call is made per call.
 *
 * When a deadline passes (or a call is cancelled) the watchdog sends the
 * timeout signal to that one thread with rt_tgsigqueueinfo, tagged with the
 * call's generation. The handler (handler.c, cg_interrupt) drops a signal
 * whose tag is not the thread's live call, so a late signal never touches a
 * later call on the same thread.
 *
 * Why not setitimer/alarm: that is one timer for the whole process, and its
 * SIGALRM goes to any thread; it cannot give each of many concurrent calls
 * its own deadline, nor tell which thread to stop.
 */
#if defined(__x86_64__) && defined(__linux__)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* How often a thread that was running user code at its deadline is
 * signalled again, to catch it in a system call. */
#define CG_RESEND_NS 1000000ULL /* 1 ms */

/* With nothing armed, the watchdog still wakes this often for a while
 * (CG_LINGER_SCANS times), so that a steady stream of calls with deadlines
 * longer than this never has to wake it with a system call. */
#define CG_LINGER_NS 50000000ULL /* 50 ms */
#define CG_LINGER_SCANS 40

static int cg_timeout_sig_value;              /* 0 until set or first used */
static int cg_timeout_sig_locked;             /* set once the handler is installed */
static pthread_mutex_t cg_wd_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cg_slot *cg_slots;              /* under cg_wd_mu */
static pthread_t cg_wd_thread;
static int cg_wd_started;                     /* under cg_wd_mu */
static uint32_t cg_wd_seq;                    /* futex word: bumped to wake the watchdog */
static uint64_t cg_wd_next_wake = UINT64_MAX; /* when the watchdog will look next */
static pthread_key_t cg_slot_key;
static pthread_once_t cg_slot_once = PTHREAD_ONCE_INIT;

CG_TLS struct cg_slot *cg_thread_slot;

uint64_t cg_now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Deadline clock. Arming a call reads the clock once; clock_gettime costs
 * about 26 ns on a kvm-clock guest, the TSC about 11. Where the CPU
 * declares an invariant TSC (constant_tsc and nonstop_tsc: same rate on
 * every CPU, in every power state) deadlines are kept in TSC ticks,
 * calibrated once against CLOCK_MONOTONIC; elsewhere in nanoseconds. The
 * choice is made before the first slot exists and never changes.
 */
int cg_tsc_ok;                 /* deadlines in TSC ticks */
uint64_t cg_ticks_per_ns_q32;  /* ticks per ns, 32.32 fixed point (1.0 without TSC) */
static double cg_ns_per_tick = 1.0;

static int cg_cpu_has_invariant_tsc(void) {
	char buf[8192];
	int fd = open("/proc/cpuinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strstr(buf, " constant_tsc") != NULL && strstr(buf, " nonstop_tsc") != NULL;
}

static void cg_clock_init(void) {
	cg_ticks_per_ns_q32 = 1ULL << 32;
	if (!cg_cpu_has_invariant_tsc())
		return;
	uint64_t t0 = cg_now_ns(), c0 = __builtin_ia32_rdtsc();
	struct timespec ts = {0, 10000000}; /* 10 ms */
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	uint64_t t1 = cg_now_ns(), c1 = __builtin_ia32_rdtsc();
	if (t1 <= t0 || c1 <= c0)
		return;
	double per_ns = (double)(c1 - c0) / (double)(t1 - t0);
	if (per_ns < 0.1 || per_ns > 20.0) /* not a plausible TSC rate */
		return;
	cg_ticks_per_ns_q32 = (uint64_t)(per_ns * 4294967296.0);
	cg_ns_per_tick = 1.0 / per_ns;
	cg_tsc_ok = 1;
}

static uint64_t cg_ns_to_units(uint64_t ns) {
	return (uint64_t)(((unsigned __int128)ns * cg_ticks_per_ns_q32) >> 32);
}

int cgoguard_timeout_signal(void) {
	int s = __atomic_load_n(&cg_timeout_sig_value, __ATOMIC_ACQUIRE);
	return s ? s : SIGRTMIN + 3;
}

int cgoguard_set_timeout_signal(int sig) {
	/* Not SIGURG or SIGPROF (the Go runtime's), not 32-33 (glibc's),
	 * nothing the kernel raises for faults: a real-time signal glibc lets
	 * applications use, or SIGUSR1/SIGUSR2. */
	int ok = sig == SIGUSR1 || sig == SIGUSR2 || (sig >= SIGRTMIN && sig <= SIGRTMAX);
	if (!ok)
		return CGOGUARD_ESIGNAL;
	pthread_mutex_lock(&cg_wd_mu);
	int rc = CGOGUARD_ESIGNAL;
	if (!cg_timeout_sig_locked) {
		__atomic_store_n(&cg_timeout_sig_value, sig, __ATOMIC_RELEASE);
		rc = CGOGUARD_OK;
	}
	pthread_mutex_unlock(&cg_wd_mu);
	return rc;
}

/* membarrier(2) PRIVATE_EXPEDITED: a full memory barrier on every running
 * thread of the process, so the fast path can do without one (cg_disarm). */
int cg_membarrier_ok;

static void cg_membarrier_init(void) {
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
		__atomic_store_n(&cg_membarrier_ok, 1, __ATOMIC_SEQ_CST);
}

static void cg_fence_all_threads(void) {
	if (cg_membarrier_ok)
		syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
	else
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void cg_wd_kick(void) {
	__atomic_fetch_add(&cg_wd_seq, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &cg_wd_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static int cg_send(const struct cg_slot *s, uint64_t gen) {
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = cgoguard_timeout_signal();
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_ptr = (void *)(uintptr_t)(CG_TAG_MAGIC | (gen & CG_TAG_GEN_MASK));
	return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(), s->tid, si.si_signo, &si);
}

/*
 * One pass over the slots: signal every call past its deadline or
 * cancelled, force the ones whose grace period ended. Returns when to look
 * next. Caller holds cg_wd_mu.
 */
static uint64_t cg_wd_scan(uint64_t now) {
	uint64_t next = UINT64_MAX;
	for (struct cg_slot *s = cg_slots; s != NULL; s = s->next) {
		uint64_t gen = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
		uint64_t dl = __atomic_load_n(&s->deadline, __ATOMIC_ACQUIRE);
		if (dl == 0)
			continue;
		int cancelled = __atomic_load_n(&s->cancel_gen, __ATOMIC_ACQUIRE) == gen;
		if (!cancelled && now < dl) {
			if (dl < next)
				next = dl;
			continue;
		}
		if (__atomic_load_n(&s->fired_gen, __ATOMIC_RELAXED) != gen) {
			/* Published before the re-read below, so that a call
			 * ending meanwhile either is seen here as ended or sees
			 * this and drains (cg_disarm). */
			__atomic_store_n(&s->fired_gen, gen, __ATOMIC_SEQ_CST);
			cg_fence_all_threads();
			s->fired_at = now;
		} else {
			int64_t grace = __atomic_load_n(&s->grace, __ATOMIC_RELAXED);
			if (grace >= 0 && now - s->fired_at >= cg_ns_to_units((uint64_t)grace))
				__atomic_store_n(&s->force_gen, gen, __ATOMIC_RELEASE);
		}
		/* Re-read: the call may have ended while we decided. */
		if (__atomic_load_n(&s->gen, __ATOMIC_SEQ_CST) == gen &&
		    __atomic_load_n(&s->deadline, __ATOMIC_SEQ_CST) != 0 && cg_send(s, gen) == 0)
			__atomic_fetch_add(&s->sent, 1, __ATOMIC_SEQ_CST);
		if (now + cg_ns_to_units(CG_RESEND_NS) < next)
			next = now + cg_ns_to_units(CG_RESEND_NS);
	}
	return next;
}

static void *cg_wd_main(void *unused) {
	(void)unused;
	int idle = 0;
	/* The watchdog takes no signals (it starts with all blocked). */
	pthread_setname_np(pthread_self(), "cgoguard-wd");
	for (;;) {
		uint32_t seq = __atomic_load_n(&cg_wd_seq, __ATOMIC_ACQUIRE);
		pthread_mutex_lock(&cg_wd_mu);
		uint64_t now = cg_deadline_clock();
		uint64_t now_ns = cg_now_ns();
		uint64_t next = cg_wd_scan(now);
		if (next != UINT64_MAX)
			idle = 0;
		else if (idle++ < CG_LINGER_SCANS)
			next = now + cg_ns_to_units(CG_LINGER_NS);
		__atomic_store_n(&cg_wd_next_wake, next, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&cg_wd_mu);
		struct timespec ts, *tsp = NULL;
		if (next != UINT64_MAX) {
			/* absolute CLOCK_MONOTONIC time of next */
			uint64_t wake = now_ns + (next > now ? (uint64_t)((double)(next - now) * cg_ns_per_tick) : 0);
			ts.tv_sec = (time_t)(wake / 1000000000ULL);
			ts.tv_nsec = (long)(wake % 1000000000ULL);
			tsp = &ts;
		}
		/* Absolute CLOCK_MONOTONIC wait (FUTEX_WAIT_BITSET), woken early
		 * by cg_wd_kick when an earlier deadline is armed. */
		syscall(SYS_futex, &cg_wd_seq, FUTEX_WAIT_BITSET_PRIVATE, seq, tsp, NULL,
		        FUTEX_BITSET_MATCH_ANY);
	}
	return NULL;
}

/* Thread exit: take the slot off the list (so the watchdog never signals a
 * dead thread id) and free it. */
static void cg_slot_free(void *p) {
	struct cg_slot *s = p;
	pthread_mutex_lock(&cg_wd_mu);
	for (struct cg_slot **pp = &cg_slots; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	pthread_mutex_unlock(&cg_wd_mu);
	free(s);
}

/*
 * fork: the child has only the forking thread, no watchdog, and maybe a
 * copy of the watchdog's mutex taken mid-scan. Hold the mutex across the
 * fork, then start afresh in the child (its first deadline starts a new
 * watchdog). The parent's slots are dropped, not freed: other threads' slot
 * memory in the child is just a copy nobody uses.
 */
static void cg_fork_prepare(void) { pthread_mutex_lock(&cg_wd_mu); }
static void cg_fork_parent(void) { pthread_mutex_unlock(&cg_wd_mu); }
static void cg_fork_child(void) {
	pthread_mutex_init(&cg_wd_mu, NULL);
	/* membarrier registration is per process (mm): do it again */
	cg_membarrier_ok = 0;
	cg_slots = NULL;
	cg_thread_slot = NULL;
	cg_wd_started = 0;
	cg_wd_seq = 0;
	cg_wd_next_wake = UINT64_MAX;
}

static void cg_slot_key_init(void) {
	pthread_key_create(&cg_slot_key, cg_slot_free);
	pthread_atfork(cg_fork_prepare, cg_fork_parent, cg_fork_child);
}

/* First deadline on this thread: the timeout signal's handler, the
 * watchdog, and this thread's slot. */
static int cg_deadline_prepare(void) {
	int rc;
	if ((rc = cgoguard_install()) != CGOGUARD_OK)
		return rc;
	pthread_once(&cg_slot_once, cg_slot_key_init);
	pthread_mutex_lock(&cg_wd_mu);
	if (!cg_wd_started && !cg_tsc_ok)
		cg_clock_init();
	if (!cg_wd_started && !cg_membarrier_ok)
		cg_membarrier_init();
	if (!cg_timeout_sig_locked) {
		int sig = cgoguard_timeout_signal();
		__atomic_store_n(&cg_timeout_sig_value, sig, __ATOMIC_RELEASE);
		if (cg_install_timeout_signal(sig) != 0) {
			pthread_mutex_unlock(&cg_wd_mu);
			return CGOGUARD_ESIGNAL;
		}
		cg_timeout_sig_locked = 1;
	}
	if (!cg_wd_started) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 64 * 1024);
		/* Start it with every signal blocked, so that none meant for the
		 * process lands on it before it can block them itself (it has no
		 * alternate stack and no Go M). The creator's mask is restored
		 * at once. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&cg_wd_thread, &attr, cg_wd_main, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
		if (rc != 0) {
			pthread_mutex_unlock(&cg_wd_mu);
			return CGOGUARD_EWATCHDOG;
		}
		cg_wd_started = 1;
	}
	struct cg_slot *s = calloc(1, sizeof *s);
	if (s == NULL) {
		pthread_mutex_unlock(&cg_wd_mu);
		return CGOGUARD_EWATCHDOG;
	}
	s->tid = cg_thread_tid;
	s->next = cg_slots;
	cg_slots = s;
	pthread_mutex_unlock(&cg_wd_mu);
	pthread_setspecific(cg_slot_key, s);
	cg_thread_slot = s;
	return CGOGUARD_OK;
}

void cgoguard_cancel_init(cgoguard_cancel *c) { memset(c, 0, sizeof *c); }

void cgoguard_cancel_request(cgoguard_cancel *c) {
	__atomic_store_n(&c->requested, 1, __ATOMIC_SEQ_CST);
	/* Under the watchdog's lock the slot cannot be freed meanwhile. */
	pthread_mutex_lock(&cg_wd_mu);
	struct cg_slot *s = __atomic_load_n((struct cg_slot **)&c->slot, __ATOMIC_SEQ_CST);
	uint64_t gen = __atomic_load_n(&c->gen, __ATOMIC_SEQ_CST);
	if (s != NULL && gen != 0)
		__atomic_store_n(&s->cancel_gen, gen, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&cg_wd_mu);
	if (s != NULL && gen != 0)
		cg_wd_kick();
}

int cgoguard_call_deadline(void (*fn)(void *), void *arg, cgoguard_fault *fault, int max_frames,
                           int64_t timeout_ns, int64_t grace_ns, cgoguard_cancel *cancel) {
	if (fault == NULL) {
		fault = &cg_scratch;
		max_frames = 0;
	}
	if (timeout_ns <= 0 && cancel == NULL)
		return cg_call(fn, arg, fault, max_frames);
	return cg_call_deadline(fn, arg, fault, max_frames, timeout_ns, grace_ns, cancel);
}

int cg_call_deadline_slow(void) {
	if (cg_thread_slot != NULL)
		return CGOGUARD_OK;
	int rc = cg_slow_entry();
	if (rc != CGOGUARD_OK)
		return rc;
	return cg_deadline_prepare();
}

/* Arms this thread's slot; called by cg_call_deadline (internal.h). */
int cg_arm(struct cg_slot *s, uint64_t gen, int64_t timeout_ns, int64_t grace_ns, int depth,
           cgoguard_cancel *cancel) {
	uint64_t dl = timeout_ns > 0 ? cg_deadline_clock() + cg_ns_to_units((uint64_t)timeout_ns)
	                             : UINT64_MAX - 1;
	__atomic_store_n(&s->grace, grace_ns, __ATOMIC_RELAXED);
	s->armed_depth = depth;
	__atomic_store_n(&s->gen, gen, __ATOMIC_RELEASE);
	if (cancel != NULL) {
		__atomic_store_n((struct cg_slot **)&cancel->slot, s, __ATOMIC_SEQ_CST);
		__atomic_store_n(&cancel->gen, gen, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&cancel->requested, __ATOMIC_SEQ_CST))
			return CGOGUARD_CANCELED;
	}
	__atomic_store_n(&s->deadline, dl, __ATOMIC_SEQ_CST);
	/* A call with no deadline of its own (cancellation only) needs no
	 * wake: cgoguard_cancel_request wakes the watchdog itself. */
	if (timeout_ns > 0 && dl < __atomic_load_n(&cg_wd_next_wake, __ATOMIC_SEQ_CST))
		cg_wd_kick();
	return CGOGUARD_OK;
}

/*
 * A timeout signal still on its way when a call ends would land on whatever
 * the thread does next. The handler would drop it (stale tag), but it would
 * still cut short a system call the kernel does not restart after a handler
 * (poll, select, nanosleep, epoll_wait return EINTR). So a call the
 * watchdog has signalled waits, before returning, until every signal sent
 * for it has been delivered: taking the watchdog's mutex ends any send in
 * progress (and, deadline now 0, no more follow), then each sched_yield
 * returns to user mode, where pending signals are delivered.
 */
static void cg_drain(struct cg_slot *s) {
	pthread_mutex_lock(&cg_wd_mu);
	pthread_mutex_unlock(&cg_wd_mu);
	/* Bounded: a thread whose C code blocked the signal never receives
	 * it; give up rather than hang. */
	for (int i = 0; i < 1000; i++) {
		if (__atomic_load_n(&s->received, __ATOMIC_SEQ_CST) >= __atomic_load_n(&s->sent, __ATOMIC_SEQ_CST))
			return;
		sched_yield();
	}
}

void cg_disarm(struct cg_slot *s, uint64_t gen, cgoguard_cancel *cancel) {
	__atomic_store_n(&s->deadline, 0, __ATOMIC_RELEASE);
	if (cancel != NULL)
		__atomic_store_n(&cancel->gen, 0, __ATOMIC_SEQ_CST);
	/* Store deadline, then load fired_gen; the watchdog stores fired_gen,
	 * then loads deadline. One of the two must see the other's store: the
	 * watchdog's side fences every thread with membarrier, so this side
	 * needs only a compiler barrier (a full fence where membarrier is
	 * missing). */
	if (cg_membarrier_ok)
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	else
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__builtin_expect(__atomic_load_n(&s->fired_gen, __ATOMIC_RELAXED) == gen, 0))
		cg_drain(s);
}

#endif /* x86-64 Linux */
