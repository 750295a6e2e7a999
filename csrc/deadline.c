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
 * call's generation. The handler (handler.c, cg_classify) drops a signal
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

/* A slot found idle stays in the heap, looked at every CG_LINGER_NS, for
 * CG_LINGER_VISITS visits: a thread making calls with deadlines now and
 * then does not wake the watchdog with a system call each time. */
#define CG_LINGER_NS 50000000ULL /* 50 ms */
#define CG_LINGER_VISITS 4

/* Background TSC calibration: sampled this long against CLOCK_MONOTONIC. */
#define CG_CAL_NS 10000000ULL /* 10 ms */

static int cg_timeout_sig_value;              /* 0 until set or first used */
static int cg_timeout_sig_locked;             /* set once the handler is installed */
static pthread_mutex_t cg_wd_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cg_slot *cg_free_slots;         /* under cg_wd_mu */
static int cg_nslots;                         /* slots ever made; under cg_wd_mu */
static pthread_t cg_wd_thread;
static int cg_wd_started;                     /* under cg_wd_mu */
static uint32_t cg_wd_seq;                    /* futex word: bumped to wake the watchdog */
/* When the watchdog will look next, in both deadline encodings (atomic). */
static uint64_t cg_wd_next_ns = UINT64_MAX, cg_wd_next_tsc = UINT64_MAX;
static pthread_key_t cg_slot_key;
static pthread_once_t cg_slot_once = PTHREAD_ONCE_INIT;

/* Slots whose owner armed a call the watchdog would not look at in time:
 * a lock-free stack, pushed by any thread, emptied by the watchdog. */
static struct cg_slot *cg_dirty_head;

/* The watchdog's min-heap of slots by heap_key, and its per-pass work list
 * (both under cg_wd_mu; capacity: every slot). */
static struct cg_slot **cg_heap;
static int cg_heap_n, cg_heap_cap;
struct cg_work {
	struct cg_slot *s;
	uint64_t gen, dl;
	int action; /* CG_ACT_* */
	int fresh;  /* first signal for this call */
};
enum { CG_ACT_NONE, CG_ACT_FIRE, CG_ACT_LAZY };
static struct cg_work *cg_work;
static int cg_work_cap;

/* Lazy cancellation: events for the Go package's registrar (under
 * cg_wd_mu) and the eventfd that wakes it. */
static struct cg_lazy_event *cg_lazy_q;
static int cg_lazy_n, cg_lazy_cap;
static int cg_lazy_fd = -1;


uint64_t cg_now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Deadline clock. Arming a call reads the clock once; clock_gettime costs
 * about 26 ns on a kvm-clock guest, the TSC about 11. Where the CPU
 * declares an invariant TSC (constant_tsc and nonstop_tsc: same rate on
 * every CPU, in every power state) the watchdog calibrates it against
 * CLOCK_MONOTONIC in the background over its first CG_CAL_NS; until then,
 * and elsewhere, deadlines are CLOCK_MONOTONIC ns. Each deadline carries
 * its encoding (CG_DL_TSC), so the switch needs no quiet moment.
 */
int cg_tsc_ok;                 /* deadlines in TSC ticks (atomic) */
uint64_t cg_ticks_per_ns_q32;  /* ticks per ns, 32.32 fixed point */
static double cg_ns_per_tick;
static int cg_cal_state;       /* watchdog only: 0 none, 1 sampling, 2 done */
static uint64_t cg_cal_t0, cg_cal_c0;

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

/* Watchdog: start sampling, or finish once CG_CAL_NS have passed. */
static void cg_cal_step(uint64_t now, uint64_t now_tsc) {
	if (cg_cal_state == 0) {
		cg_cal_state = 2;
		if (__atomic_load_n(&cg_tsc_ok, __ATOMIC_RELAXED) || !cg_cpu_has_invariant_tsc())
			return;
		cg_cal_t0 = cg_now_ns();
		cg_cal_c0 = __builtin_ia32_rdtsc();
		cg_cal_state = 1;
		return;
	}
	if (cg_cal_state != 1 || now - cg_cal_t0 < CG_CAL_NS)
		return;
	cg_cal_state = 2;
	if (now_tsc <= cg_cal_c0)
		return;
	double per_ns = (double)(now_tsc - cg_cal_c0) / (double)(now - cg_cal_t0);
	if (per_ns < 0.1 || per_ns > 20.0) /* not a plausible TSC rate */
		return;
	cg_ticks_per_ns_q32 = (uint64_t)(per_ns * 4294967296.0);
	cg_ns_per_tick = 1.0 / per_ns;
	__atomic_store_n(&cg_tsc_ok, 1, __ATOMIC_RELEASE);
}

/* A deadline (either encoding) as CLOCK_MONOTONIC ns; watchdog only. */
static uint64_t cg_dl_to_ns(uint64_t dl, uint64_t now, uint64_t now_tsc) {
	if (dl == CG_DL_NONE || dl == UINT64_MAX)
		return UINT64_MAX;
	if (!(dl & CG_DL_TSC))
		return dl;
	uint64_t t = dl & ~CG_DL_TSC;
	if (t <= now_tsc)
		return now;
	return now + (uint64_t)((double)(t - now_tsc) * cg_ns_per_tick);
}

/* ns to the TSC encoding, for arms to compare with; UINT64_MAX when not
 * calibrated (an arm then always reports itself). */
static uint64_t cg_ns_to_tsc(uint64_t ns, uint64_t now, uint64_t now_tsc) {
	if (ns == UINT64_MAX || !__atomic_load_n(&cg_tsc_ok, __ATOMIC_RELAXED))
		return UINT64_MAX;
	uint64_t d = ns > now ? ns - now : 0;
	return (now_tsc + (uint64_t)(((unsigned __int128)d * cg_ticks_per_ns_q32) >> 32)) | CG_DL_TSC;
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
 * thread of the process, so the arm and disarm paths can do without one.
 * The watchdog issues one per pass, whatever the number of calls in it. */
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

/* Asks the watchdog to look at s at its next pass. */
static void cg_push_dirty(struct cg_slot *s) {
	if (__atomic_exchange_n(&s->dirty, 1, __ATOMIC_SEQ_CST))
		return;
	struct cg_slot *h = __atomic_load_n(&cg_dirty_head, __ATOMIC_RELAXED);
	do
		s->dirty_next = h;
	while (!__atomic_compare_exchange_n(&cg_dirty_head, &h, s, 1, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
}

/* What the watchdog did (atomic; cg_wd_stats): passes, slots looked at,
 * fences, signals sent, signals not sent because one was still pending. */
static uint64_t cg_wd_counts[5];
void cg_wd_stats(uint64_t out[5]) {
	for (int i = 0; i < 5; i++)
		out[i] = __atomic_load_n(&cg_wd_counts[i], __ATOMIC_RELAXED);
}
#define CG_COUNT(i, n) __atomic_fetch_add(&cg_wd_counts[i], (n), __ATOMIC_RELAXED)

/* The process's pid and uid, for cg_send (each is a system call in glibc);
 * set when the watchdog starts, in the process it runs in. */
static pid_t cg_wd_pid;
static uid_t cg_wd_uid;

static int cg_send(const struct cg_slot *s, uint64_t gen) {
	siginfo_t si;
	if (s->tid == 0)
		return -1;
	memset(&si, 0, sizeof si);
	si.si_signo = cgoguard_timeout_signal();
	si.si_code = SI_QUEUE;
	si.si_pid = cg_wd_pid;
	si.si_uid = cg_wd_uid;
	si.si_value.sival_ptr = (void *)(uintptr_t)(CG_TAG_MAGIC | (gen & CG_TAG_GEN_MASK));
	return (int)syscall(SYS_rt_tgsigqueueinfo, cg_wd_pid, s->tid, si.si_signo, &si);
}

/* ---- the heap (watchdog, under cg_wd_mu) ---- */

static void cg_heap_put(int i, struct cg_slot *s) {
	cg_heap[i] = s;
	s->heap_idx = i;
}

static void cg_heap_up(int i) {
	struct cg_slot *s = cg_heap[i];
	while (i > 0) {
		int p = (i - 1) / 2;
		if (cg_heap[p]->heap_key <= s->heap_key)
			break;
		cg_heap_put(i, cg_heap[p]);
		i = p;
	}
	cg_heap_put(i, s);
}

static void cg_heap_down(int i) {
	struct cg_slot *s = cg_heap[i];
	for (;;) {
		int c = 2 * i + 1;
		if (c >= cg_heap_n)
			break;
		if (c + 1 < cg_heap_n && cg_heap[c + 1]->heap_key < cg_heap[c]->heap_key)
			c++;
		if (s->heap_key <= cg_heap[c]->heap_key)
			break;
		cg_heap_put(i, cg_heap[c]);
		i = c;
	}
	cg_heap_put(i, s);
}

static void cg_heap_remove(struct cg_slot *s) {
	int i = s->heap_idx;
	if (i < 0)
		return;
	s->heap_idx = -1;
	struct cg_slot *last = cg_heap[--cg_heap_n];
	if (last == s)
		return;
	cg_heap_put(i, last);
	cg_heap_down(i);
	cg_heap_up(last->heap_idx);
}

/* Sets when the watchdog looks at s next (UINT64_MAX: not until the owner
 * reports an arm) and publishes it for arms to compare with. Raising it is
 * safe only behind the pass's fence and re-read (cg_wd_pass). */
static void cg_watch(struct cg_slot *s, uint64_t w, uint64_t now, uint64_t now_tsc) {
	s->heap_key = w;
	__atomic_store_n(&s->watch_ns, w, __ATOMIC_RELAXED);
	__atomic_store_n(&s->watch_tsc, cg_ns_to_tsc(w, now, now_tsc), __ATOMIC_RELAXED);
	if (w == UINT64_MAX) {
		cg_heap_remove(s);
	} else if (s->heap_idx < 0) {
		cg_heap_put(cg_heap_n++, s);
		cg_heap_up(cg_heap_n - 1);
	} else {
		cg_heap_down(s->heap_idx);
		cg_heap_up(s->heap_idx);
	}
}

/* The call on s that the watchdog signalled or handed over is ending
 * (under cg_wd_mu): stop watching the slot, so that the owner's next arm
 * reports itself (cg_arm) instead of the watchdog coming back to find it. */
static void cg_unwatch(struct cg_slot *s) {
	if (s->heap_idx >= 0 || s->heap_key != UINT64_MAX)
		cg_watch(s, UINT64_MAX, 0, 0);
}

/* When the watchdog must next look at call (gen, dl) of s, and what to do
 * now (CG_ACT_*). */
static uint64_t cg_attention(struct cg_slot *s, uint64_t gen, uint64_t dl, uint64_t now,
                             uint64_t now_tsc, int *action) {
	*action = CG_ACT_NONE;
	if (dl == 0) {
		if (s->tid == 0 || s->idle_visits++ >= CG_LINGER_VISITS)
			return UINT64_MAX;
		return now + CG_LINGER_NS;
	}
	s->idle_visits = 0;
	int cancelled = __atomic_load_n(&s->cancel_gen, __ATOMIC_ACQUIRE) == gen;
	uint64_t dl_ns = cg_dl_to_ns(dl, now, now_tsc);
	if (cancelled || now >= dl_ns) {
		*action = CG_ACT_FIRE;
		return now + CG_RESEND_NS;
	}
	uint64_t w = dl_ns;
	uint64_t la = __atomic_load_n(&s->lazy_at, __ATOMIC_RELAXED);
	if (la != 0 && __atomic_load_n(&s->lazy_gen, __ATOMIC_RELAXED) != gen) {
		uint64_t la_ns = cg_dl_to_ns(la, now, now_tsc);
		if (now >= la_ns)
			*action = CG_ACT_LAZY;
		else if (la_ns < w)
			w = la_ns;
	}
	return w;
}

static void cg_lazy_push(struct cg_slot *s, uint64_t gen, int stop) {
	if (cg_lazy_n == cg_lazy_cap) {
		int cap = cg_lazy_cap ? 2 * cg_lazy_cap : 64;
		struct cg_lazy_event *q = realloc(cg_lazy_q, (size_t)cap * sizeof *q);
		if (q == NULL)
			return; /* the registration is then never stopped: a leak, not a hang */
		cg_lazy_q = q;
		cg_lazy_cap = cap;
	}
	struct cg_lazy_event *e = &cg_lazy_q[cg_lazy_n++];
	memset(e, 0, sizeof *e);
	e->slot = s;
	e->gen = gen;
	e->stop = stop;
}

static void cg_lazy_notify(void) {
	uint64_t one = 1;
	int fd = __atomic_load_n(&cg_lazy_fd, __ATOMIC_ACQUIRE);
	if (fd >= 0 && write(fd, &one, sizeof one) < 0) {
		/* EAGAIN: the counter is already non-zero; the registrar will look */
	}
}

/*
 * One pass: look at every slot that reported an arm and every slot whose
 * watch time has come; signal the calls past their deadline or cancelled,
 * hand the lazy ones to the registrar, and set each slot's next watch
 * time. The cost follows the slots due, not the slots that exist. One
 * fence for the whole pass: each slot's new watch time, fired_gen and
 * lazy_gen are stored, every thread is fenced (membarrier), then every
 * slot is read again; an arm made before the fence is seen by that
 * re-read, one made after it sees the new watch time (and reports itself
 * if that is too late for it). Returns when to look next (ns).
 * Caller holds cg_wd_mu; *notify is set when the registrar has events.
 */
static uint64_t cg_wd_pass(int *notify) {
	uint64_t now = cg_now_ns();
	uint64_t now_tsc = __builtin_ia32_rdtsc();
	int n = 0;
	CG_COUNT(0, 1);
	cg_cal_step(now, now_tsc);

	struct cg_slot *d = __atomic_exchange_n(&cg_dirty_head, NULL, __ATOMIC_SEQ_CST);
	while (d != NULL) {
		struct cg_slot *next = d->dirty_next;
		__atomic_store_n(&d->dirty, 0, __ATOMIC_SEQ_CST);
		if (d->heap_idx >= 0)
			cg_heap_remove(d);
		if (n < cg_work_cap)
			cg_work[n++].s = d;
		d = next;
	}
	while (cg_heap_n > 0 && cg_heap[0]->heap_key <= now && n < cg_work_cap) {
		struct cg_slot *s = cg_heap[0];
		cg_heap_remove(s);
		cg_work[n++].s = s;
	}
	if (n == 0)
		goto out;
	int fence = 0;
	for (int i = 0; i < n; i++) {
		struct cg_work *w = &cg_work[i];
		struct cg_slot *s = w->s;
		w->gen = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
		w->dl = __atomic_load_n(&s->deadline, __ATOMIC_ACQUIRE);
		w->fresh = 0;
		uint64_t old = s->heap_key;
		uint64_t at = cg_attention(s, w->gen, w->dl, now, now_tsc, &w->action);
		/* Raising the watch time needs the fence, unless the call
		 * was already signalled or handed over: its end then goes
		 * through cg_drain (which unwatches the slot or makes the
		 * next arm report itself) or cg_lazy_exit (under cg_wd_mu). */
		if (at > old && !(w->dl != 0 && (__atomic_load_n(&s->fired_gen, __ATOMIC_RELAXED) == w->gen ||
		                                 __atomic_load_n(&s->lazy_gen, __ATOMIC_RELAXED) == w->gen)))
			fence = 1;
		cg_watch(s, at, now, now_tsc);
		if (w->action == CG_ACT_FIRE && __atomic_load_n(&s->fired_gen, __ATOMIC_RELAXED) != w->gen) {
			fence = 1;
			/* Published before the re-read below, so that a call
			 * ending meanwhile either is seen there as ended or sees
			 * this and drains (cg_disarm). */
			__atomic_store_n(&s->fired_gen, w->gen, __ATOMIC_SEQ_CST);
			s->fired_at = now;
			w->fresh = 1;
		} else if (w->action == CG_ACT_LAZY) {
			fence = 1;
			__atomic_store_n(&s->lazy_gen, w->gen, __ATOMIC_SEQ_CST);
			s->lazy_state = 0;
		}
	}
	CG_COUNT(1, (uint64_t)n);
	if (fence) {
		cg_fence_all_threads();
		CG_COUNT(2, 1);
	}
	for (int i = 0; i < n; i++) {
		struct cg_work *w = &cg_work[i];
		struct cg_slot *s = w->s;
		uint64_t gen = __atomic_load_n(&s->gen, __ATOMIC_SEQ_CST);
		uint64_t dl = __atomic_load_n(&s->deadline, __ATOMIC_SEQ_CST);
		int live = gen == w->gen && dl != 0;
		if (!live) {
			if (w->action == CG_ACT_LAZY)
				s->lazy_state = CG_LAZY_FINISHED;
			if (dl != 0) {
				/* A call armed before the fence: look at it in
				 * time (lowering the watch time needs no fence). */
				int act;
				uint64_t at = cg_attention(s, gen, dl, now, now_tsc, &act);
				if (act != CG_ACT_NONE || at <= now)
					at = now + 1;
				if (at < s->heap_key)
					cg_watch(s, at, now, now_tsc);
			}
			continue;
		}
		if (w->action == CG_ACT_FIRE) {
			if (!w->fresh) {
				int64_t grace = __atomic_load_n(&s->grace, __ATOMIC_RELAXED);
				if (grace >= 0 && now - s->fired_at >= (uint64_t)grace)
					__atomic_store_n(&s->force_gen, gen, __ATOMIC_RELEASE);
			}
			/* A real-time signal queues: while the last one sent is
			 * undelivered (the thread waits for a CPU), another
			 * would only have to be delivered too. */
			if (!w->fresh && __atomic_load_n(&s->received, __ATOMIC_SEQ_CST) < __atomic_load_n(&s->sent, __ATOMIC_SEQ_CST)) {
				CG_COUNT(4, 1);
			} else {
				/* sending, then the call's state again, then the
				 * send: a call ending meanwhile either is seen here
				 * as ended or waits for sending to clear (cg_drain). */
				__atomic_store_n(&s->sending, 1, __ATOMIC_SEQ_CST);
				if (__atomic_load_n(&s->gen, __ATOMIC_SEQ_CST) == gen &&
				    __atomic_load_n(&s->deadline, __ATOMIC_SEQ_CST) != 0 && cg_send(s, gen) == 0) {
					__atomic_fetch_add(&s->sent, 1, __ATOMIC_SEQ_CST);
					CG_COUNT(3, 1);
				}
				__atomic_store_n(&s->sending, 0, __ATOMIC_RELEASE);
			}
		} else if (w->action == CG_ACT_LAZY) {
			s->lazy_state = CG_LAZY_QUEUED;
			cg_lazy_push(s, gen, 0);
			*notify = 1;
		}
	}
out:;
	uint64_t next = cg_heap_n > 0 ? cg_heap[0]->heap_key : UINT64_MAX;
	if (n == cg_work_cap && n > 0)
		next = now; /* more due than one pass takes */
	if (cg_cal_state == 1 && cg_cal_t0 + CG_CAL_NS < next)
		next = cg_cal_t0 + CG_CAL_NS;
	__atomic_store_n(&cg_wd_next_ns, next, __ATOMIC_SEQ_CST);
	__atomic_store_n(&cg_wd_next_tsc, cg_ns_to_tsc(next, now, now_tsc), __ATOMIC_SEQ_CST);
	return next;
}

static void *cg_wd_main(void *unused) {
	(void)unused;
	/* The watchdog takes no signals (it starts with all blocked). */
	pthread_setname_np(pthread_self(), "cgoguard-wd");
	cg_wd_pid = getpid();
	cg_wd_uid = getuid();
	/* Here, not on the first call's path (it takes a quarter of a
	 * millisecond): until it is done, arms and disarms fence themselves. */
	if (!__atomic_load_n(&cg_membarrier_ok, __ATOMIC_RELAXED))
		cg_membarrier_init();
	for (;;) {
		uint32_t seq = __atomic_load_n(&cg_wd_seq, __ATOMIC_ACQUIRE);
		int notify = 0;
		pthread_mutex_lock(&cg_wd_mu);
		uint64_t next = cg_wd_pass(&notify);
		pthread_mutex_unlock(&cg_wd_mu);
		if (notify)
			cg_lazy_notify();
		/* An arm that reported itself after the pass took the list saw
		 * the new next wake (or kicked): look again rather than sleep
		 * past it. */
		if (__atomic_load_n(&cg_dirty_head, __ATOMIC_SEQ_CST) != NULL)
			continue;
		struct timespec ts, *tsp = NULL;
		if (next != UINT64_MAX) {
			ts.tv_sec = (time_t)(next / 1000000000ULL);
			ts.tv_nsec = (long)(next % 1000000000ULL);
			tsp = &ts;
		}
		/* Absolute CLOCK_MONOTONIC wait (FUTEX_WAIT_BITSET), woken early
		 * by cg_wd_kick when an earlier deadline is armed. */
		syscall(SYS_futex, &cg_wd_seq, FUTEX_WAIT_BITSET_PRIVATE, seq, tsp, NULL,
		        FUTEX_BITSET_MATCH_ANY);
	}
	return NULL;
}

/* Thread exit: the slot goes on the free list for the next thread (it may
 * still be in the watchdog's heap or lists; a free slot is never
 * signalled: tid 0). */
static void cg_slot_free(void *p) {
	struct cg_slot *s = p;
	pthread_mutex_lock(&cg_wd_mu);
	s->tid = 0;
	__atomic_store_n(&s->deadline, 0, __ATOMIC_RELEASE);
	s->next = cg_free_slots;
	cg_free_slots = s;
	pthread_mutex_unlock(&cg_wd_mu);
}

/*
 * fork: the child has only the forking thread, no watchdog, and maybe a
 * copy of the watchdog's mutex taken mid-pass. Hold the mutex across the
 * fork, then start afresh in the child (its first deadline starts a new
 * watchdog). The parent's slots are dropped: the child's copies of them
 * belong to threads it does not have.
 */
static void cg_fork_prepare(void) { pthread_mutex_lock(&cg_wd_mu); }
static void cg_fork_parent(void) { pthread_mutex_unlock(&cg_wd_mu); }
static void cg_fork_child(void) {
	pthread_mutex_init(&cg_wd_mu, NULL);
	/* membarrier registration is per process (mm): do it again */
	cg_membarrier_ok = 0;
	cg_free_slots = NULL;
	cg_thread.slot = NULL;
	cg_wd_started = 0;
	cg_wd_seq = 0;
	cg_wd_next_ns = cg_wd_next_tsc = UINT64_MAX;
	cg_dirty_head = NULL;
	cg_heap_n = 0;
	cg_lazy_n = 0;
	cg_lazy_fd = -1;
	if (cg_cal_state == 1)
		cg_cal_state = 0;
}

static void cg_slot_key_init(void) {
	pthread_key_create(&cg_slot_key, cg_slot_free);
	pthread_atfork(cg_fork_prepare, cg_fork_parent, cg_fork_child);
}

/* Room for one more slot in the heap and the work list. Under cg_wd_mu. */
static int cg_grow(void) {
	if (cg_nslots < cg_heap_cap)
		return 0;
	int cap = cg_heap_cap ? 2 * cg_heap_cap : 64;
	struct cg_slot **h = realloc(cg_heap, (size_t)cap * sizeof *h);
	if (h == NULL)
		return -1;
	cg_heap = h;
	struct cg_work *w = realloc(cg_work, (size_t)cap * sizeof *w);
	if (w == NULL)
		return -1;
	cg_work = w;
	cg_heap_cap = cg_work_cap = cap;
	return 0;
}

/* First deadline on this thread: the timeout signal's handler, the
 * watchdog, and this thread's slot. */
static int cg_deadline_prepare(void) {
	int rc;
	if ((rc = cgoguard_install()) != CGOGUARD_OK)
		return rc;
	pthread_once(&cg_slot_once, cg_slot_key_init);
	pthread_mutex_lock(&cg_wd_mu);
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
	struct cg_slot *s = cg_free_slots;
	if (s != NULL) {
		cg_free_slots = s->next;
		/* signals sent to the previous owner that never arrived */
		__atomic_store_n(&s->received, __atomic_load_n(&s->sent, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
	} else {
		if (cg_grow() != 0 || (s = calloc(1, sizeof *s)) == NULL) {
			pthread_mutex_unlock(&cg_wd_mu);
			return CGOGUARD_EWATCHDOG;
		}
		s->heap_idx = -1;
		s->heap_key = s->watch_ns = s->watch_tsc = UINT64_MAX;
		cg_nslots++;
	}
	s->tid = cg_thread.tid;
	s->next = NULL;
	pthread_mutex_unlock(&cg_wd_mu);
	pthread_setspecific(cg_slot_key, s);
	cg_thread.slot = s;
	return CGOGUARD_OK;
}

void cgoguard_cancel_init(cgoguard_cancel *c) { memset(c, 0, sizeof *c); }

/* For a test (tests/internal/payload): run once between the reads of a
 * token's slot and generation in cgoguard_cancel_request, to re-arm the
 * token there. */
void (*cg_test_cancel_hook)(cgoguard_cancel *);

void cgoguard_cancel_request(cgoguard_cancel *c) {
	__atomic_store_n(&c->requested, 1, __ATOMIC_SEQ_CST);
	/* Under the watchdog's lock: the call cannot be passing from one
	 * thread to another meanwhile (slots themselves are never freed). */
	pthread_mutex_lock(&cg_wd_mu);
	/* The token may be re-armed for a call on another thread meanwhile
	 * (cg_arm_cancel takes no lock): slot and gen are read as a pair
	 * under the token's sequence count, never the old slot with the new
	 * call's generation. */
	struct cg_slot *s;
	uint64_t gen;
	for (int tries = 0;; tries++) {
		uint32_t q = __atomic_load_n(&c->seq, __ATOMIC_SEQ_CST);
		if (q & 1) {
			if (tries > 64)
				sched_yield();
			continue;
		}
		s = __atomic_load_n((struct cg_slot **)&c->slot, __ATOMIC_SEQ_CST);
		void (*hook)(cgoguard_cancel *) = __atomic_exchange_n(&cg_test_cancel_hook, NULL, __ATOMIC_SEQ_CST);
		if (hook != NULL)
			hook(c);
		gen = __atomic_load_n(&c->gen, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&c->seq, __ATOMIC_SEQ_CST) == q)
			break;
	}
	if (s != NULL && gen != 0) {
		__atomic_store_n(&s->cancel_gen, gen, __ATOMIC_SEQ_CST);
		cg_push_dirty(s);
	}
	pthread_mutex_unlock(&cg_wd_mu);
	if (s != NULL && gen != 0)
		cg_wd_kick();
}

int cgoguard_call_deadline(void (*fn)(void *), void *arg, cgoguard_fault *fault, int max_frames,
                           int64_t timeout_ns, int64_t grace_ns, cgoguard_cancel *cancel) {
	if (fault == NULL) {
		fault = &cg_thread.scratch;
		max_frames = 0;
	}
	if (timeout_ns <= 0 && cancel == NULL)
		return cg_call(fn, arg, fault, max_frames);
	return cg_call_deadline(fn, arg, fault, max_frames, timeout_ns, grace_ns, cancel);
}

int cg_call_deadline_slow(void) {
	if (cg_thread.slot != NULL)
		return CGOGUARD_OK;
	int rc = cg_slow_entry();
	if (rc != CGOGUARD_OK)
		return rc;
	return cg_deadline_prepare();
}

/* The slow parts of cg_arm (internal.h). */
int cg_arm_cancel(struct cg_slot *s, uint64_t gen, cgoguard_cancel *cancel) {
	/* A token serves one call at a time: this is its only writer of
	 * slot and gen (cg_disarm stores gen 0 alone, which cancels nothing). */
	uint32_t q = __atomic_load_n(&cancel->seq, __ATOMIC_RELAXED);
	__atomic_store_n(&cancel->seq, q | 1, __ATOMIC_SEQ_CST);
	__atomic_store_n((struct cg_slot **)&cancel->slot, s, __ATOMIC_SEQ_CST);
	__atomic_store_n(&cancel->gen, gen, __ATOMIC_SEQ_CST);
	__atomic_store_n(&cancel->seq, (q | 1) + 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&cancel->requested, __ATOMIC_SEQ_CST))
		return CGOGUARD_CANCELED;
	return CGOGUARD_OK;
}

void cg_arm_report(struct cg_slot *s, uint64_t first) {
	cg_push_dirty(s); /* a full barrier: orders the load below */
	int tsc = (first & CG_DL_TSC) != 0;
	if (first < __atomic_load_n(tsc ? &cg_wd_next_tsc : &cg_wd_next_ns, __ATOMIC_SEQ_CST))
		cg_wd_kick();
}

/*
 * A timeout signal still on its way when a call ends would land on whatever
 * the thread does next. The handler would drop it (stale tag), but it would
 * still cut short a system call the kernel does not restart after a handler
 * (poll, select, nanosleep, epoll_wait return EINTR). So a call the
 * watchdog has signalled waits, before returning, until every signal sent
 * for it has been delivered: first for any send in progress to end (and,
 * deadline now 0, no more follow), then each sched_yield returns to user
 * mode, where pending signals are delivered.
 */
static void cg_drain(struct cg_slot *s) {
	/* deadline is 0 (cg_disarm): once no send is in progress, none
	 * follows. Not the watchdog's mutex: waiting for it (held for a whole
	 * pass) made the watchdog hand it over, a wake-up, at every release. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	while (__atomic_load_n(&s->sending, __ATOMIC_ACQUIRE))
		sched_yield();
	/* Stop watching the slot if that can be done now; else the watchdog
	 * finds the next call at the resend time. */
	if (pthread_mutex_trylock(&cg_wd_mu) == 0) {
		cg_unwatch(s);
		pthread_mutex_unlock(&cg_wd_mu);
	} else {
		/* A pass is running: make the next arm report itself (the
		 * heap keeps its own key, heap_key). */
		__atomic_store_n(&s->watch_ns, UINT64_MAX, __ATOMIC_RELAXED);
		__atomic_store_n(&s->watch_tsc, UINT64_MAX, __ATOMIC_RELAXED);
	}
	/* Bounded: a thread whose C code blocked the signal never receives
	 * it; give up rather than hang. */
	for (int i = 0; i < 1000; i++) {
		if (__atomic_load_n(&s->received, __ATOMIC_SEQ_CST) >= __atomic_load_n(&s->sent, __ATOMIC_SEQ_CST))
			return;
		sched_yield();
	}
}

/* The end of a call handed to the lazy registrar: while the registrar is
 * registering it (and reading the caller's words) the call may not return;
 * once registered, the registrar is told to stop the registration. */
static void cg_lazy_exit(struct cg_slot *s, uint64_t gen) {
	for (;;) {
		int notify = 0;
		pthread_mutex_lock(&cg_wd_mu);
		int st = __atomic_load_n(&s->lazy_gen, __ATOMIC_RELAXED) == gen ? s->lazy_state : 0;
		if (st != CG_LAZY_TAKEN)
			cg_unwatch(s);
		if (st == CG_LAZY_QUEUED) {
			s->lazy_state = CG_LAZY_FINISHED;
		} else if (st == CG_LAZY_REGISTERED) {
			s->lazy_state = CG_LAZY_FINISHED;
			cg_lazy_push(s, gen, 1);
			notify = 1;
		}
		pthread_mutex_unlock(&cg_wd_mu);
		if (notify)
			cg_lazy_notify();
		if (st != CG_LAZY_TAKEN)
			return;
		sched_yield();
	}
}

void cg_disarm_slow(struct cg_slot *s, uint64_t gen) {
	if (__atomic_load_n(&s->lazy_gen, __ATOMIC_RELAXED) == gen)
		cg_lazy_exit(s, gen);
	if (__atomic_load_n(&s->fired_gen, __ATOMIC_RELAXED) == gen)
		cg_drain(s);
}

void cg_lazy_set_notify_fd(int fd) { __atomic_store_n(&cg_lazy_fd, fd, __ATOMIC_RELEASE); }

/* The registrar's side: up to max events. A take whose call is still
 * queued becomes TAKEN, with the caller's words; one that ended is dropped. */
int cg_lazy_take(struct cg_lazy_event *ev, int max) {
	int n = 0, i = 0;
	pthread_mutex_lock(&cg_wd_mu);
	for (; i < cg_lazy_n && n < max; i++) {
		struct cg_lazy_event *e = &cg_lazy_q[i];
		struct cg_slot *s = e->slot;
		if (!e->stop) {
			if (__atomic_load_n(&s->lazy_gen, __ATOMIC_RELAXED) != e->gen || s->lazy_state != CG_LAZY_QUEUED)
				continue;
			s->lazy_state = CG_LAZY_TAKEN;
			e->ctx[0] = s->ctx[0];
			e->ctx[1] = s->ctx[1];
		}
		ev[n++] = *e;
	}
	memmove(cg_lazy_q, cg_lazy_q + i, (size_t)(cg_lazy_n - i) * sizeof *cg_lazy_q);
	cg_lazy_n -= i;
	pthread_mutex_unlock(&cg_wd_mu);
	return n;
}

void cg_lazy_registered(struct cg_slot *s, uint64_t gen) {
	pthread_mutex_lock(&cg_wd_mu);
	if (__atomic_load_n(&s->lazy_gen, __ATOMIC_RELAXED) == gen && s->lazy_state == CG_LAZY_TAKEN)
		s->lazy_state = CG_LAZY_REGISTERED;
	pthread_mutex_unlock(&cg_wd_mu);
}

/* The context of lazy call (s, gen) is done: interrupt it if it still runs. */
void cg_lazy_cancel(struct cg_slot *s, uint64_t gen) {
	if (__atomic_load_n(&s->gen, __ATOMIC_SEQ_CST) != gen || __atomic_load_n(&s->deadline, __ATOMIC_SEQ_CST) == 0)
		return;
	__atomic_store_n(&s->cancel_gen, gen, __ATOMIC_SEQ_CST);
	cg_push_dirty(s);
	cg_wd_kick();
}

/* The rest of a region's disarm (the Go package does cg_disarm's fast part
 * itself): a registered cancellation to remove, signals to drain. */
void cg_region_disarm_slow(struct cg_slot *s, uint64_t gen) { cg_disarm_slow(s, gen); }

#endif /* x86-64 Linux */
