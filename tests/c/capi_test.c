/*
 * The C API on its own: a plain C program linked against libcgoguard.a
 * (make test-c). Prints "ok - name" or "not ok - name: reason" per check and
 * ends with "N passed, M failed"; exits 0 only when nothing failed.
 *
 * Order matters:
 *  - the SIG_DFL checks fork their children before this process installs
 *    anything, so the child's cgoguard_install is the first one and finds
 *    the default actions for SIGSEGV and SIGABRT;
 *  - the program's own SIGFPE and SIGABRT handlers are installed before
 *    cgoguard_install, so cgoguard chains to them;
 *  - the handler replacement checks come last for SIGSEGV, since they leave
 *    SIGSEGV's chain pointing at SIG_IGN.
 */
#define _GNU_SOURCE
#define CGOGUARD_SHORT_NAMES /* add_timeout_to_func too */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <time.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgoguard.h"

/* ---- reporting ---- */

static int npassed, nfailed;
static char why[512];

static void begin(void) { why[0] = '\0'; }

/* Records the first failed expectation of the current check. */
static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failf(const char *fmt, ...) {
	if (why[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (why[0] == '\0')
		snprintf(why, sizeof why, "failed");
}

#define EXPECT(cond, ...)                  \
	do {                               \
		if (!(cond))               \
			failf(__VA_ARGS__); \
	} while (0)

static void end(const char *name) {
	if (why[0] != '\0') {
		printf("not ok - %s: %s\n", name, why);
		nfailed++;
	} else {
		printf("ok - %s\n", name);
		npassed++;
	}
	fflush(stdout);
}

static long gettid_(void) { return (long)syscall(SYS_gettid); }

/* ---- functions to guard ---- */

static int *volatile null_ptr = NULL; /* volatile: no compile-time NULL deref (gcc would emit ud2) */
static volatile int vzero = 0;
static volatile int vten = 10;
static volatile int sink;
static volatile long recurse_stop = -1; /* never reached; keeps -Winfinite-recursion quiet */

__attribute__((noinline)) static void f_null_write(void *arg) {
	(void)arg;
	*null_ptr = 42;
}

__attribute__((noinline)) static void f_div_zero(void *arg) {
	(void)arg;
	sink = vten / vzero;
}

__attribute__((noinline)) static void f_abort(void *arg) {
	(void)arg;
	abort();
}

__attribute__((noinline)) static void f_raise_fpe(void *arg) {
	(void)arg;
	raise(SIGFPE);
	__asm__ volatile("" ::: "memory"); /* a call, not a tail jump */
}

__attribute__((noinline)) static void f_trap(void *arg) {
	(void)arg;
	__builtin_trap();
}

/* Side effect: *arg = *arg * 2 + 1. */
__attribute__((noinline)) static void f_healthy(void *arg) {
	int *p = arg;
	*p = *p * 2 + 1;
}

/* Unbounded recursion with a modest frame: each step is far smaller than a
 * 4 KiB guard page. */
__attribute__((noinline)) static long recurse(long n) {
	volatile char pad[128];
	pad[0] = (char)n;
	pad[127] = (char)(n >> 8);
	if (n == recurse_stop)
		return pad[0];
	return recurse(n + 1) + pad[0] + pad[127]; /* not a tail call */
}

__attribute__((noinline)) static void f_overflow(void *arg) {
	long *out = arg;
	*out = recurse(0);
}

/* ---- the program's own handlers (installed before cgoguard) ---- */

static sigjmp_buf prog_env;
static volatile sig_atomic_t prog_armed; /* prog_env is valid: handlers may jump there */
static volatile sig_atomic_t fpe_count, fpe_code;
static volatile sig_atomic_t abrt_count, abrt_code, abrt_pid;
static volatile sig_atomic_t segv_count;

static void say(const char *s) {
	ssize_t r = write(2, s, strlen(s));
	(void)r;
}

static void prog_fpe(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	fpe_count++;
	fpe_code = si->si_code;
	if (prog_armed) {
		prog_armed = 0;
		siglongjmp(prog_env, 1);
	}
	if (si->si_code > 0) {
		/* Returning would re-run the faulting instruction forever. */
		say("capi_test: program's SIGFPE handler got a fault it cannot return from\n");
		_exit(90);
	}
}

static void prog_abrt(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	abrt_count++;
	abrt_code = si->si_code;
	abrt_pid = si->si_pid;
	if (prog_armed) {
		/* Only while a test expects no SIGABRT to reach us: jump out
		 * rather than letting abort() go on to kill the process. */
		prog_armed = 0;
		siglongjmp(prog_env, 1);
	}
}

/* Installed with signal() in the replacement check. */
static void prog_segv(int sig) {
	(void)sig;
	segv_count++;
	if (prog_armed) {
		prog_armed = 0;
		siglongjmp(prog_env, 1);
	}
	say("capi_test: program's SIGSEGV handler got a fault it cannot return from\n");
	_exit(91);
}

/*
 * cgoguard_call with a safety net: if the signal reaches one of the
 * program's handlers instead of the guard, *leaked is set and the handler's
 * siglongjmp brings us back here (the guard record left open is below any
 * later frame, so the core drops it).
 */
static int guarded(void (*fn)(void *), void *arg, cgoguard_fault *f, int *leaked) {
	volatile int rc = -100;
	*leaked = 0;
	if (sigsetjmp(prog_env, 1) == 0) {
		prog_armed = 1;
		rc = cgoguard_call(fn, arg, f);
		prog_armed = 0;
	} else {
		*leaked = 1;
	}
	return rc;
}

static uintptr_t handler_of(int sig) {
	struct sigaction cur;
	if (sigaction(sig, NULL, &cur) != 0)
		return (uintptr_t)-1;
	return (cur.sa_flags & SA_SIGINFO) ? (uintptr_t)cur.sa_sigaction : (uintptr_t)cur.sa_handler;
}

static uintptr_t cg_handler; /* cgoguard's handler, as seen after install */

/* Checks the parts of a fault record every recovered fault must have. */
static void expect_common(const cgoguard_fault *f, int depth, long tid) {
	EXPECT(f->pc != 0, "fault.pc is 0");
	EXPECT(f->nframes >= 1, "fault.nframes = %d, want >= 1", f->nframes);
	EXPECT(f->nframes < 1 || f->frames[0] == f->pc, "frames[0] = %#llx, pc = %#llx",
	       (unsigned long long)f->frames[0], (unsigned long long)f->pc);
	EXPECT(f->depth == depth, "fault.depth = %d, want %d", f->depth, depth);
	EXPECT(f->tid == tid, "fault.tid = %d, want %ld", f->tid, tid);
}

/* ---- 5. SIG_DFL still kills (children forked before any install) ---- */

/* Runs child() in a fork and returns its wait status (or -1). */
static int in_child(void (*child)(void)) {
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		alarm(5); /* a hang shows as death by SIGALRM */
		prctl(PR_SET_DUMPABLE, 0); /* no core dumps */
		child();
		_exit(100);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

static void describe_status(int st, char *buf, size_t n) {
	if (st == -1)
		snprintf(buf, n, "fork/waitpid failed");
	else if (WIFSIGNALED(st))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else if (WIFEXITED(st))
		snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
	else
		snprintf(buf, n, "wait status %#x", st);
}

static void child_unguarded_segv(void) {
	if (cgoguard_install() != CGOGUARD_OK)
		_exit(3);
	if (handler_of(SIGSEGV) == (uintptr_t)SIG_DFL)
		_exit(4); /* cgoguard's handler is not in place: nothing tested */
	f_null_write(NULL);
	_exit(5);
}

static void child_unguarded_abort(void) {
	if (cgoguard_install() != CGOGUARD_OK)
		_exit(3);
	if (handler_of(SIGABRT) == (uintptr_t)SIG_DFL)
		_exit(4);
	int devnull = open("/dev/null", O_WRONLY);
	if (devnull >= 0)
		dup2(devnull, 2);
	abort();
}

static void child_guarded_fault(void) {
	cgoguard_fault f;
	memset(&f, 0, sizeof f);
	int rc = cgoguard_call(f_null_write, NULL, &f);
	if (rc != CGOGUARD_FAULT)
		_exit(10);
	if (f.signo != SIGSEGV || f.code != SEGV_MAPERR)
		_exit(11);
	if (f.tid != gettid_())
		_exit(12);
	int v = 3;
	if (cgoguard_call(f_healthy, &v, NULL) != CGOGUARD_OK || v != 7)
		_exit(13);
	_exit(7);
}

static void check_dfl_kills(void) {
	char buf[128];
	int st;

	begin();
	st = in_child(child_unguarded_segv);
	describe_status(st, buf, sizeof buf);
	EXPECT(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child %s, want killed by SIGSEGV", buf);
	end("SIG_DFL: unguarded NULL write in a child kills it with SIGSEGV");

	begin();
	st = in_child(child_unguarded_abort);
	describe_status(st, buf, sizeof buf);
	EXPECT(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "child %s, want killed by SIGABRT", buf);
	end("SIG_DFL: unguarded abort() in a child kills it with SIGABRT");
}

static void check_fork_guard(void) {
	char buf[128];
	begin();
	int st = in_child(child_guarded_fault);
	describe_status(st, buf, sizeof buf);
	EXPECT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 7, "child %s, want exit status 7", buf);
	end("guarded fault in a forked child is recovered (child exits 7)");
}

/* ---- 1. guarded faults ---- */

struct fault_case {
	const char *name;
	void (*fn)(void *);
	int signo;
	int code;
	enum { ADDR_ZERO, ADDR_PC } addr;
	int sent; /* sender_pid must be getpid() */
};

static void check_fault(const struct fault_case *c) {
	begin();
	long tid = gettid_();
	uint64_t rec0 = cgoguard_recovered();
	int fpe0 = fpe_count, abrt0 = abrt_count;
	for (int i = 0; i < 2; i++) {
		cgoguard_fault f;
		int leaked;
		memset(&f, 0, sizeof f);
		int rc = guarded(c->fn, NULL, &f, &leaked);
		if (leaked) {
			failf("run %d: the signal reached the program's own handler, not the guard", i + 1);
			break;
		}
		EXPECT(rc == CGOGUARD_FAULT, "run %d: rc = %d (%s), want CGOGUARD_FAULT", i + 1, rc, cgoguard_strerror(rc));
		if (rc != CGOGUARD_FAULT)
			break;
		EXPECT(f.signo == c->signo, "run %d: signo = %d, want %d", i + 1, f.signo, c->signo);
		EXPECT(f.code == c->code, "run %d: code = %d, want %d", i + 1, f.code, c->code);
		if (c->addr == ADDR_ZERO)
			EXPECT(f.addr == 0, "run %d: addr = %#llx, want 0", i + 1, (unsigned long long)f.addr);
		else
			EXPECT(f.addr == f.pc, "run %d: addr = %#llx, want pc %#llx", i + 1,
			       (unsigned long long)f.addr, (unsigned long long)f.pc);
		if (c->sent)
			EXPECT(f.sender_pid == getpid(), "run %d: sender_pid = %d, want %d", i + 1, f.sender_pid,
			       (int)getpid());
		else
			EXPECT(f.sender_pid == 0, "run %d: sender_pid = %d, want 0", i + 1, f.sender_pid);
		expect_common(&f, 1, tid);
		EXPECT(cgoguard_depth() == 0, "run %d: cgoguard_depth() = %d after the fault", i + 1, cgoguard_depth());
	}
	EXPECT(cgoguard_recovered() == rec0 + 2, "cgoguard_recovered() grew by %llu, want 2",
	       (unsigned long long)(cgoguard_recovered() - rec0));
	EXPECT(fpe_count == fpe0, "program's SIGFPE handler ran");
	EXPECT(abrt_count == abrt0, "program's SIGABRT handler ran");
	int v = 20;
	int rc = cgoguard_call(f_healthy, &v, NULL);
	EXPECT(rc == CGOGUARD_OK, "healthy call after: rc = %d (%s)", rc, cgoguard_strerror(rc));
	EXPECT(v == 41, "healthy call after: side effect %d, want 41", v);
	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	EXPECT(!sigismember(&cur, c->signo), "signal %d left blocked after recovery", c->signo);
	end(c->name);
}

/* ---- 2. stack overflow ---- */

struct ovf {
	int rc;
	int leaked;
	int had_altstack;
	long tid;
	long out;
	int healthy_rc, healthy_v;
	cgoguard_fault f;
};

static void run_overflow(struct ovf *o) {
	stack_t ss;
	o->had_altstack = sigaltstack(NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE);
	o->tid = gettid_();
	memset(&o->f, 0, sizeof o->f);
	o->rc = cgoguard_call(f_overflow, &o->out, &o->f);
	o->healthy_v = 5;
	o->healthy_rc = cgoguard_call(f_healthy, &o->healthy_v, NULL);
}

static void *overflow_thread(void *arg) {
	run_overflow(arg);
	return NULL;
}

static void expect_overflow(const struct ovf *o) {
	EXPECT(o->rc == CGOGUARD_FAULT, "rc = %d (%s), want CGOGUARD_FAULT", o->rc, cgoguard_strerror(o->rc));
	if (o->rc == CGOGUARD_FAULT) {
		EXPECT(o->f.signo == SIGSEGV, "signo = %d, want SIGSEGV", o->f.signo);
		EXPECT(o->f.code == SEGV_MAPERR || o->f.code == SEGV_ACCERR, "code = %d, want SEGV_MAPERR/ACCERR",
		       o->f.code);
		EXPECT(o->f.addr != 0, "addr = 0");
		expect_common(&o->f, 1, o->tid);
	}
	EXPECT(o->healthy_rc == CGOGUARD_OK && o->healthy_v == 11, "healthy call after: rc = %d, value %d",
	       o->healthy_rc, o->healthy_v);
}

/* Recurses (long)arg deep, then writes through NULL: that many frames. */
static void f_recurse_fault(void *arg) {
	long n = (long)arg;
	if (n > 0) {
		f_recurse_fault((void *)(n - 1));
		__asm__ volatile("" ::: "memory"); /* not a tail call: a frame each */
	} else {
		*null_ptr = 1;
	}
}

/* cgoguard_call_frames with more frames wanted than the record holds: the
 * walk keeps CGOGUARD_MAX_FRAMES and writes nothing past the record (the
 * fault is 200 frames deep). */
static void check_frames_clamped(void) {
	static struct {
		cgoguard_fault f;
		unsigned char after[4096];
	} x;
	long out = 0;

	begin();
	memset(&x, 0, sizeof x);
	memset(x.after, 0xa5, sizeof x.after);
	(void)out;
	int rc = cgoguard_call_frames(f_recurse_fault, (void *)200L, &x.f, 100000);
	EXPECT(rc == CGOGUARD_FAULT, "rc = %d (%s), want CGOGUARD_FAULT", rc, cgoguard_strerror(rc));
	EXPECT(x.f.nframes == CGOGUARD_MAX_FRAMES, "nframes = %d, want %d", (int)x.f.nframes,
	       CGOGUARD_MAX_FRAMES);
	size_t bad = 0;
	for (size_t i = 0; i < sizeof x.after; i++)
		bad += x.after[i] != 0xa5;
	EXPECT(bad == 0, "%zu bytes after the fault record were written", bad);
	end("cgoguard_call_frames(max_frames 100000) keeps CGOGUARD_MAX_FRAMES, nothing written past the record");
}

static void check_overflow(void) {
	static struct ovf o;

	begin();
	memset(&o, 0, sizeof o);
	run_overflow(&o);
	expect_overflow(&o);
	end("stack overflow recovered on the main thread");

	begin();
	memset(&o, 0, sizeof o);
	pthread_t t;
	int err = pthread_create(&t, NULL, overflow_thread, &o);
	EXPECT(err == 0, "pthread_create: %s", strerror(err));
	if (err == 0) {
		pthread_join(t, NULL);
		EXPECT(!o.had_altstack, "the new thread already had an alternate signal stack (premise)");
		expect_overflow(&o);
	}
	end("stack overflow recovered on a pthread with no alternate signal stack");
}

/* ---- 3. nesting, depth limit, bad input ---- */

struct nest {
	int depth_in_outer;
	int inner_rc;
	int depth_after_inner;
	int after;
	long tid;
	cgoguard_fault inner;
};

static void f_outer(void *arg) {
	struct nest *n = arg;
	n->depth_in_outer = cgoguard_depth();
	n->inner_rc = cgoguard_call(f_null_write, NULL, &n->inner);
	n->depth_after_inner = cgoguard_depth();
	n->after = 1;
}

struct deep {
	int level;
	int rcs[CGOGUARD_MAX_DEPTH + 4];
	int depths[CGOGUARD_MAX_DEPTH + 4];
};

static void f_deep(void *arg) {
	struct deep *d = arg;
	int me = d->level++;
	d->depths[me] = cgoguard_depth();
	if (me + 1 >= CGOGUARD_MAX_DEPTH + 4)
		return; /* EDEPTH never came: stop anyway */
	d->rcs[me + 1] = cgoguard_call(f_deep, d, NULL);
}

static void check_nesting(void) {
	begin();
	struct nest n;
	cgoguard_fault outer;
	memset(&n, 0, sizeof n);
	memset(&outer, 0, sizeof outer);
	int rc = cgoguard_call(f_outer, &n, &outer);
	EXPECT(rc == CGOGUARD_OK, "outer rc = %d (%s), want CGOGUARD_OK", rc, cgoguard_strerror(rc));
	EXPECT(n.depth_in_outer == 1, "cgoguard_depth() in outer = %d, want 1", n.depth_in_outer);
	EXPECT(n.inner_rc == CGOGUARD_FAULT, "inner rc = %d (%s), want CGOGUARD_FAULT", n.inner_rc,
	       cgoguard_strerror(n.inner_rc));
	if (n.inner_rc == CGOGUARD_FAULT) {
		EXPECT(n.inner.signo == SIGSEGV, "inner signo = %d", n.inner.signo);
		expect_common(&n.inner, 2, gettid_());
	}
	EXPECT(n.depth_after_inner == 1, "cgoguard_depth() in outer after inner fault = %d, want 1",
	       n.depth_after_inner);
	EXPECT(n.after == 1, "outer did not continue after the inner fault");
	EXPECT(cgoguard_depth() == 0, "cgoguard_depth() after = %d, want 0", cgoguard_depth());
	end("nested guard: inner fault at depth 2, outer continues and returns OK");

	begin();
	struct deep d;
	memset(&d, 0, sizeof d);
	rc = cgoguard_call(f_deep, &d, NULL);
	EXPECT(rc == CGOGUARD_OK, "outermost rc = %d (%s)", rc, cgoguard_strerror(rc));
	EXPECT(d.level == CGOGUARD_MAX_DEPTH, "%d levels ran, want %d", d.level, CGOGUARD_MAX_DEPTH);
	for (int i = 1; i < CGOGUARD_MAX_DEPTH && i < d.level; i++)
		EXPECT(d.rcs[i] == CGOGUARD_OK, "call at depth %d: rc = %d", i, d.rcs[i]);
	for (int i = 0; i < d.level && i < CGOGUARD_MAX_DEPTH; i++)
		EXPECT(d.depths[i] == i + 1, "cgoguard_depth() at level %d = %d", i + 1, d.depths[i]);
	EXPECT(d.rcs[CGOGUARD_MAX_DEPTH] == CGOGUARD_EDEPTH, "guard number %d: rc = %d (%s), want CGOGUARD_EDEPTH",
	       CGOGUARD_MAX_DEPTH + 1, d.rcs[CGOGUARD_MAX_DEPTH], cgoguard_strerror(d.rcs[CGOGUARD_MAX_DEPTH]));
	EXPECT(cgoguard_depth() == 0, "cgoguard_depth() after = %d, want 0", cgoguard_depth());
	cgoguard_fault f;
	memset(&f, 0, sizeof f);
	rc = cgoguard_call(f_null_write, NULL, &f);
	EXPECT(rc == CGOGUARD_FAULT && f.depth == 1, "guarded fault after: rc = %d, depth %d", rc, f.depth);
	end("more than CGOGUARD_MAX_DEPTH nested guards returns CGOGUARD_EDEPTH");

	begin();
	rc = cgoguard_call(NULL, NULL, &f);
	EXPECT(rc == CGOGUARD_ENULLFN, "cgoguard_call(NULL) = %d, want CGOGUARD_ENULLFN", rc);
	rc = cgoguard_call_frames(NULL, NULL, &f, 4);
	EXPECT(rc == CGOGUARD_ENULLFN, "cgoguard_call_frames(NULL) = %d, want CGOGUARD_ENULLFN", rc);
	end("cgoguard_call(NULL, ...) returns CGOGUARD_ENULLFN");

	begin();
	static const int codes[] = {CGOGUARD_OK,     CGOGUARD_FAULT,       CGOGUARD_ENULLFN,
	                            CGOGUARD_EDEPTH, CGOGUARD_EUNSUPPORTED, CGOGUARD_EINSTALL,
	                            CGOGUARD_EALTSTACK, CGOGUARD_ELINKMODE};
	int ncodes = (int)(sizeof codes / sizeof codes[0]);
	for (int i = 0; i < ncodes; i++) {
		const char *s = cgoguard_strerror(codes[i]);
		EXPECT(s != NULL && s[0] != '\0', "cgoguard_strerror(%d) is empty", codes[i]);
		for (int j = 0; s != NULL && j < i; j++) {
			const char *t = cgoguard_strerror(codes[j]);
			EXPECT(t == NULL || strcmp(s, t) != 0, "codes %d and %d share the description \"%s\"",
			       codes[j], codes[i], s);
		}
	}
	const char *u = cgoguard_strerror(12345);
	EXPECT(u != NULL && u[0] != '\0', "cgoguard_strerror(unknown) is empty");
	end("cgoguard_strerror describes every result code");
}

/* ---- 4. chaining to the program's handler ---- */

static void check_chaining(void) {
	begin();
	EXPECT(handler_of(SIGFPE) == cg_handler, "cgoguard's handler is not in front for SIGFPE");
	for (int i = 0; i < 2; i++) {
		int before = fpe_count;
		fpe_code = 0;
		volatile int returned = 0;
		if (sigsetjmp(prog_env, 1) == 0) {
			prog_armed = 1;
			f_div_zero(NULL); /* unguarded */
			prog_armed = 0;
			returned = 1;
		}
		prog_armed = 0;
		EXPECT(!returned, "run %d: the unguarded divide by zero returned", i + 1);
		EXPECT(fpe_count == before + 1, "run %d: program's handler ran %d times, want 1", i + 1,
		       (int)(fpe_count - before));
		EXPECT(fpe_code == FPE_INTDIV, "run %d: program's handler saw si_code %d, want FPE_INTDIV",
		       i + 1, (int)fpe_code);
		sigset_t cur;
		sigprocmask(SIG_BLOCK, NULL, &cur);
		EXPECT(!sigismember(&cur, SIGFPE) && !sigismember(&cur, SIGSEGV),
		       "run %d: signals left blocked after siglongjmp", i + 1);
	}
	end("unguarded divide by zero reaches the program's earlier SIGFPE handler (FPE_INTDIV)");

	begin();
	int before = fpe_count, leaked;
	cgoguard_fault f;
	memset(&f, 0, sizeof f);
	int rc = guarded(f_div_zero, NULL, &f, &leaked);
	EXPECT(!leaked, "the guarded fault reached the program's handler");
	EXPECT(rc == CGOGUARD_FAULT, "rc = %d (%s), want CGOGUARD_FAULT", rc, cgoguard_strerror(rc));
	EXPECT(f.signo == SIGFPE && f.code == FPE_INTDIV, "signo %d code %d", f.signo, f.code);
	EXPECT(fpe_count == before, "program's SIGFPE handler ran");
	end("guarded divide by zero still recovered by the guard, not the program's handler");
}

/* ---- 6. handler replacement ---- */

struct kernel_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

static void check_replacement(void) {
	int leaked, rc;
	cgoguard_fault f;

	begin();
	uint64_t rep0 = cgoguard_handler_repairs();
	int segv0 = segv_count;
	void (*old)(int) = signal(SIGSEGV, prog_segv);
	EXPECT(old != SIG_ERR, "signal() failed: %s", strerror(errno));
	EXPECT(handler_of(SIGSEGV) == (uintptr_t)prog_segv, "signal() did not install the handler");
	memset(&f, 0, sizeof f);
	rc = guarded(f_null_write, NULL, &f, &leaked);
	EXPECT(!leaked, "the guarded fault reached the program's replacement handler");
	EXPECT(rc == CGOGUARD_FAULT && f.signo == SIGSEGV, "rc = %d (%s), signo %d", rc, cgoguard_strerror(rc),
	       f.signo);
	EXPECT(segv_count == segv0, "program's SIGSEGV handler ran");
	EXPECT(cgoguard_handler_repairs() >= rep0 + 1, "cgoguard_handler_repairs() %llu -> %llu, want growth",
	       (unsigned long long)rep0, (unsigned long long)cgoguard_handler_repairs());
	EXPECT(handler_of(SIGSEGV) == cg_handler, "cgoguard's handler not back in front after the guarded call");
	end("handler replaced with signal(): next guarded call repairs it, fault recovered");

	begin();
	struct kernel_sigaction k = {(void *)SIG_IGN, 0, NULL, 0};
	long r = syscall(SYS_rt_sigaction, SIGSEGV, &k, NULL, 8);
	EXPECT(r == 0, "rt_sigaction: %s", strerror(errno));
	EXPECT(handler_of(SIGSEGV) == (uintptr_t)SIG_IGN, "raw rt_sigaction did not take effect");
	uint64_t rep1 = cgoguard_handler_repairs();
	int v = 1;
	rc = cgoguard_call(f_healthy, &v, NULL);
	EXPECT(rc == CGOGUARD_OK && v == 3, "healthy guarded call: rc = %d, value %d", rc, v);
	EXPECT(cgoguard_handler_repairs() == rep1, "raw replacement was noticed automatically (unexpected)");
	EXPECT(handler_of(SIGSEGV) == (uintptr_t)SIG_IGN, "raw replacement was repaired without verify");
	int n = cgoguard_verify_handlers();
	EXPECT(n >= 1, "cgoguard_verify_handlers() = %d, want >= 1", n);
	EXPECT(cgoguard_handler_repairs() >= rep1 + 1, "cgoguard_handler_repairs() did not grow");
	EXPECT(handler_of(SIGSEGV) == cg_handler, "cgoguard's handler not back in front after verify");
	memset(&f, 0, sizeof f);
	rc = guarded(f_null_write, NULL, &f, &leaked);
	EXPECT(!leaked, "the guarded fault reached a program handler");
	EXPECT(rc == CGOGUARD_FAULT && f.signo == SIGSEGV && f.code == SEGV_MAPERR, "rc = %d (%s), signo %d code %d",
	       rc, cgoguard_strerror(rc), f.signo, f.code);
	n = cgoguard_verify_handlers();
	EXPECT(n == 0, "second cgoguard_verify_handlers() = %d, want 0", n);
	end("raw rt_sigaction replacement: cgoguard_verify_handlers repairs it, fault recovered");
}

/* ---- 7. sent signals chain too ---- */

static void f_kill_abrt(void *arg) {
	int *after = arg;
	kill(getpid(), SIGABRT);
	*after = 1;
}

static void check_sent(void) {
	begin();
	int before = abrt_count;
	abrt_code = 0;
	abrt_pid = 0;
	EXPECT(handler_of(SIGABRT) == cg_handler, "cgoguard's handler is not in front for SIGABRT");
	int r = kill(getpid(), SIGABRT);
	EXPECT(r == 0, "kill: %s", strerror(errno));
	EXPECT(abrt_count == before + 1, "program's SIGABRT handler ran %d times, want 1", (int)(abrt_count - before));
	EXPECT(abrt_code == SI_USER, "program's handler saw si_code %d, want SI_USER", (int)abrt_code);
	EXPECT(abrt_pid == getpid(), "program's handler saw si_pid %d, want %d", (int)abrt_pid, (int)getpid());
	end("unguarded kill(getpid(), SIGABRT) reaches the program's earlier SIGABRT handler");

	begin();
	before = abrt_count;
	int after = 0;
	cgoguard_fault f;
	memset(&f, 0, sizeof f);
	int rc = cgoguard_call(f_kill_abrt, &after, &f);
	EXPECT(rc == CGOGUARD_OK, "rc = %d (%s), want CGOGUARD_OK", rc, cgoguard_strerror(rc));
	EXPECT(after == 1, "the guarded function did not continue after kill()");
	EXPECT(abrt_count == before + 1, "program's SIGABRT handler ran %d times, want 1", (int)(abrt_count - before));
	end("kill() inside a guard is not a fault: it reaches the program's SIGABRT handler");
}

/* ---- main ---- */

/* ---- deadlines ---- */

static int dl_pipe[2] = {-1, -1};

static void f_block_read(void *arg) {
	char c;
	(void)arg;
	sink = (int)read(dl_pipe[0], &c, 1);
}

static void f_spin(void *arg) {
	(void)arg;
	for (;;)
		sink++;
}

static void f_quick(void *arg) { *(int *)arg = 42; }

struct cancel_later {
	cgoguard_cancel *c;
	long delay_us;
};

static void *cancel_after(void *p) {
	struct cancel_later *cl = p;
	usleep((useconds_t)cl->delay_us);
	cgoguard_cancel_request(cl->c);
	return NULL;
}

static double ms_since(const struct timespec *t0) {
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void check_deadlines(void) {
	cgoguard_fault f;
	struct timespec t0;
	int rc, x = 0;

	begin();
	EXPECT(pipe(dl_pipe) == 0, "pipe");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = cgoguard_call_deadline(f_block_read, NULL, &f, 8, 50 * 1000000LL, CGOGUARD_DEFAULT_GRACE_NS, NULL);
	double ms = ms_since(&t0);
	EXPECT(rc == CGOGUARD_TIMEOUT, "blocked read: rc %d (%s)", rc, cgoguard_strerror(rc));
	EXPECT(f.interrupt == CGOGUARD_IN_SYSCALL, "blocked read: interrupt %d, want in a system call", f.interrupt);
	EXPECT(f.signo == cgoguard_timeout_signal(), "signo %d, want the timeout signal %d", f.signo, cgoguard_timeout_signal());
	EXPECT(ms >= 50 && ms < 2000, "blocked read returned after %.1f ms", ms);
	EXPECT(cgoguard_depth() == 0, "depth %d after the interrupt", cgoguard_depth());
	rc = cgoguard_call_deadline(f_quick, &x, &f, 8, 1000 * 1000000LL, 0, NULL);
	EXPECT(rc == CGOGUARD_OK && x == 42, "quick call under a deadline: rc %d", rc);
	end("deadline interrupts a read() blocked on an empty pipe; a later call is unaffected");

	begin();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = cgoguard_call_deadline(f_spin, NULL, &f, 8, 20 * 1000000LL, 30 * 1000000LL, NULL);
	ms = ms_since(&t0);
	EXPECT(rc == CGOGUARD_TIMEOUT && f.interrupt == CGOGUARD_FORCED, "CPU loop: rc %d interrupt %d", rc, f.interrupt);
	EXPECT(ms >= 50, "CPU loop forced after %.1f ms, before deadline + grace (50 ms)", ms);
	end("a CPU loop is forced after deadline + grace");

	begin();
	cgoguard_cancel c;
	cgoguard_cancel_init(&c);
	struct cancel_later cl = {&c, 30000};
	pthread_t t;
	EXPECT(pthread_create(&t, NULL, cancel_after, &cl) == 0, "pthread_create");
	rc = cgoguard_call_deadline(f_block_read, NULL, &f, 8, 0, CGOGUARD_DEFAULT_GRACE_NS, &c);
	pthread_join(t, NULL);
	EXPECT(rc == CGOGUARD_CANCELED && f.interrupt == CGOGUARD_IN_SYSCALL, "cancel: rc %d interrupt %d", rc, f.interrupt);
	cgoguard_cancel_init(&c);
	cgoguard_cancel_request(&c);
	x = 0;
	rc = cgoguard_call_deadline(f_quick, &x, &f, 8, 0, 0, &c);
	EXPECT(rc == CGOGUARD_CANCELED && x == 0, "already cancelled: rc %d, ran %d", rc, x);
	end("cancellation interrupts a blocked call; a cancelled token stops the call before it runs");

	begin();
	pid_t pid = fork();
	if (pid == 0) {
		/* The child has no watchdog thread: its first deadline starts one. */
		alarm(5); /* without a watchdog the read would block forever */
		int r = cgoguard_call_deadline(f_block_read, NULL, NULL, 0, 30 * 1000000LL, 0, NULL);
		_exit(r == CGOGUARD_TIMEOUT ? 9 : 1);
	}
	int st = 0;
	EXPECT(pid > 0 && waitpid(pid, &st, 0) == pid, "fork/waitpid");
	EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 9, "deadline in a forked child: status %#x", st);
	end("deadlines work in a child forked after the watchdog started");

	begin();
	EXPECT(cgoguard_set_timeout_signal(SIGSEGV) == CGOGUARD_ESIGNAL, "SIGSEGV accepted as the timeout signal");
	EXPECT(cgoguard_set_timeout_signal(SIGRTMIN + 5) == CGOGUARD_ESIGNAL, "the timeout signal changed while in use");
	end("the timeout signal is checked and fixed once in use");
}

/* ---- timed calls with retries (cgoguard_add_timeout_to_func) ---- */

static int tc_pipe[2] = {-1, -1};
static volatile int tc_runs; /* attempts that reached the function */

static ssize_t tc_read(int fd, char *buf, size_t n) {
	tc_runs++;
	return read(fd, buf, n);
}

static long tc_six(long a, int b, unsigned c, char *d, short e, long f) {
	tc_runs++;
	return a * 100000 + b * 10000 + (long)c * 1000 + (d[0] - '0') * 100 + e * 10 + f;
}

static int tc_negate(int x) { return -x; }
static unsigned char tc_low_byte(unsigned x) { return (unsigned char)x; }
static const char *tc_name(int i) { return i ? "one" : "zero"; }
static int tc_none(void) { return 42; }

static int tc_null_write(int v) {
	tc_runs++;
	*null_ptr = v;
	return v;
}

struct tc_nested {
	int rc;
	int ret;
};

static void f_tc_nested(void *arg) {
	struct tc_nested *n = arg;
	n->rc = cgoguard_add_timeout_to_func(tc_negate, 1, 100, n->ret, 5);
}

static void check_timed_calls(void) {
	struct timespec t0;
	cgoguard_fault f;
	int rc, attempts;
	char buf[8];

	begin();
	EXPECT(pipe(tc_pipe) == 0, "pipe");
	ssize_t got = -7;
	tc_runs = 0;
	attempts = -1;
	memset(&f, 0, sizeof f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = cgoguard_add_timeout_to_func_ex(&f, &attempts, tc_read, 2, 50, got, tc_pipe[0], buf, sizeof buf);
	double ms = ms_since(&t0);
	EXPECT(rc == CGOGUARD_TIMEOUT, "rc %d (%s), want CGOGUARD_TIMEOUT", rc, cgoguard_strerror(rc));
	EXPECT(attempts == 2 && tc_runs == 2, "%d attempts, function ran %d times, want 2 and 2", attempts, tc_runs);
	/* Deadlines run on the TSC, calibrated over 10 ms: allow 2%. */
	EXPECT(ms >= 98 && ms < 2000, "took %.1f ms, want about 2 x 50 ms", ms);
	EXPECT(f.interrupt == CGOGUARD_IN_SYSCALL && f.signo == cgoguard_timeout_signal(),
	       "fault record: interrupt %d signo %d, want in a system call, the timeout signal", f.interrupt, f.signo);
	EXPECT(got == -7, "ret changed to %zd on a timeout", got);
	EXPECT(cgoguard_depth() == 0, "depth %d after", cgoguard_depth());
	end("timed call: 2 attempts of 50 ms on an empty pipe time out after 2 attempts, about 100 ms");

	begin();
	EXPECT(write(tc_pipe[1], "xyz", 3) == 3, "write");
	got = -7;
	tc_runs = 0;
	rc = cgoguard_add_timeout_to_func_ex(NULL, &attempts, tc_read, 3, 1000, got, tc_pipe[0], buf, sizeof buf);
	EXPECT(rc == CGOGUARD_OK && got == 3 && memcmp(buf, "xyz", 3) == 0, "rc %d (%s), ret %zd", rc,
	       cgoguard_strerror(rc), got);
	EXPECT(attempts == 1 && tc_runs == 1, "%d attempts, ran %d times, want 1", attempts, tc_runs);
	long l = 0;
	char digit[] = "4";
	rc = cgoguard_add_timeout_to_func(tc_six, 1, 1000, l, 1L, 2, 3u, digit, (short)5, 6L);
	EXPECT(rc == CGOGUARD_OK && l == 123456, "six arguments: rc %d, ret %ld, want 123456", rc, l);
	int i = 0;
	long long ll = 0;
	rc = cgoguard_add_timeout_to_func(tc_negate, 1, 1000, ll, 9);
	EXPECT(rc == CGOGUARD_OK && ll == -9, "int result into a long long: rc %d, ret %lld, want -9", rc, ll);
	unsigned char uc = 0;
	rc = cgoguard_add_timeout_to_func(tc_low_byte, 1, 1000, uc, 0x1ffu);
	EXPECT(rc == CGOGUARD_OK && uc == 0xff, "unsigned char result: rc %d, ret %d", rc, uc);
	const char *name = NULL;
	rc = cgoguard_add_timeout_to_func(tc_name, 1, 1000, name, 1);
	EXPECT(rc == CGOGUARD_OK && name != NULL && strcmp(name, "one") == 0, "pointer result: rc %d", rc);
	rc = add_timeout_to_func(tc_none, 1, 1000, i);
	EXPECT(rc == CGOGUARD_OK && i == 42, "no arguments (short name): rc %d, ret %d", rc, i);
	end("timed call returning in time gives its return value (integer, pointer, 0 to 6 arguments)");

	begin();
	i = -7;
	tc_runs = 0;
	memset(&f, 0, sizeof f);
	rc = cgoguard_add_timeout_to_func_ex(&f, &attempts, tc_null_write, 3, 1000, i, 1);
	EXPECT(rc == CGOGUARD_FAULT, "rc %d (%s), want CGOGUARD_FAULT", rc, cgoguard_strerror(rc));
	EXPECT(attempts == 1 && tc_runs == 1, "%d attempts, ran %d times: a fault must not be retried", attempts,
	       tc_runs);
	EXPECT(f.signo == SIGSEGV && f.code == SEGV_MAPERR && f.addr == 0, "signo %d code %d addr %#llx", f.signo,
	       f.code, (unsigned long long)f.addr);
	EXPECT(i == -7, "ret changed to %d on a fault", i);
	EXPECT(cgoguard_depth() == 0, "depth %d after", cgoguard_depth());
	end("timed call of a faulting function gives CGOGUARD_FAULT after 1 attempt");

	begin();
	int (*nullfn)(int) = NULL;
	rc = cgoguard_add_timeout_to_func_ex(NULL, &attempts, tc_negate, 0, 100, i, 1);
	EXPECT(rc == CGOGUARD_EINVAL && attempts == 0, "n = 0: rc %d, %d attempts", rc, attempts);
	rc = cgoguard_add_timeout_to_func(tc_negate, 1, 0, i, 1);
	EXPECT(rc == CGOGUARD_EINVAL, "interval 0: rc %d", rc);
	rc = cgoguard_add_timeout_to_func(tc_negate, 1, INT64_MAX, i, 1);
	EXPECT(rc == CGOGUARD_EINVAL, "interval INT64_MAX ms: rc %d", rc);
	rc = cgoguard_add_timeout_to_func(nullfn, 1, 100, i, 1);
	EXPECT(rc == CGOGUARD_ENULLFN, "NULL function: rc %d", rc);
	EXPECT(strcmp(cgoguard_strerror(CGOGUARD_EINVAL), cgoguard_strerror(12345)) != 0,
	       "CGOGUARD_EINVAL has no description");
	struct tc_nested n = {0, 0};
	rc = cgoguard_call_deadline(f_tc_nested, &n, NULL, 0, 1000 * 1000000LL, 0, NULL);
	EXPECT(rc == CGOGUARD_OK && n.rc == CGOGUARD_ENESTEDDEADLINE && n.ret == 0,
	       "inside a call with a deadline: outer rc %d, inner rc %d", rc, n.rc);
	end("timed call: bad n, interval or function, and nesting inside a deadline, are refused");
	close(tc_pipe[0]);
	close(tc_pipe[1]);
}

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(30); /* a hang fails loudly instead of blocking make */

	/* The main-thread overflow check needs a bounded stack. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_STACK, &rl) == 0 && (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (64 << 20))) {
		rl.rlim_cur = 8 << 20;
		setrlimit(RLIMIT_STACK, &rl);
	}

	/* 5 (first part): before this process installs anything. */
	check_dfl_kills();

	/* The program's own handlers, then cgoguard in front of them. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = prog_fpe;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGFPE, &sa, NULL) != 0) {
		perror("sigaction(SIGFPE)");
		return 2;
	}
	sa.sa_sigaction = prog_abrt;
	if (sigaction(SIGABRT, &sa, NULL) != 0) {
		perror("sigaction(SIGABRT)");
		return 2;
	}
	begin();
	int rc = cgoguard_install();
	EXPECT(rc == CGOGUARD_OK, "cgoguard_install() = %d (%s)", rc, cgoguard_strerror(rc));
	cg_handler = handler_of(SIGSEGV);
	EXPECT(cg_handler != (uintptr_t)SIG_DFL && cg_handler != (uintptr_t)SIG_IGN, "no handler for SIGSEGV");
	EXPECT(handler_of(SIGFPE) == cg_handler && handler_of(SIGABRT) == cg_handler &&
	           handler_of(SIGBUS) == cg_handler && handler_of(SIGILL) == cg_handler,
	       "cgoguard's handler is not installed for every guarded signal");
	rc = cgoguard_install();
	EXPECT(rc == CGOGUARD_OK, "second cgoguard_install() = %d", rc);
	end("cgoguard_install in front of the program's own handlers");

	/* 1 */
	static const struct fault_case cases[] = {
	    {"guarded NULL write: SIGSEGV, SEGV_MAPERR, addr 0", f_null_write, SIGSEGV, SEGV_MAPERR, ADDR_ZERO, 0},
	    {"guarded integer divide by zero: SIGFPE, FPE_INTDIV", f_div_zero, SIGFPE, FPE_INTDIV, ADDR_PC, 0},
	    {"guarded abort(): SIGABRT, SI_TKILL, sender_pid == getpid()", f_abort, SIGABRT, SI_TKILL, ADDR_ZERO, 1},
	    {"guarded raise(SIGFPE): SIGFPE, SI_TKILL", f_raise_fpe, SIGFPE, SI_TKILL, ADDR_ZERO, 1},
	    {"guarded __builtin_trap: SIGILL, ILL_ILLOPN", f_trap, SIGILL, ILL_ILLOPN, ADDR_PC, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_fault(&cases[i]);

	/* 2 */
	check_overflow();
	check_frames_clamped();
	/* 3 */
	check_nesting();
	/* 4 */
	check_chaining();
	/* 5 (last part): the guard after fork, in a process that used it */
	check_fork_guard();
	/* deadlines and cancellation through the C API */
	check_deadlines();
	check_timed_calls();
	/* 6 */
	check_replacement();
	/* 7 */
	check_sent();

	printf("%d passed, %d failed\n", npassed, nfailed);
	return nfailed == 0 ? 0 : 1;
}
