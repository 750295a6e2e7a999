/*
 * cgoguard: run C functions under a guard point that turns native faults
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) into an error return.
 *
 * Supported: x86-64 Linux with glibc. Elsewhere every entry point returns
 * CGOGUARD_EUNSUPPORTED.
 *
 * What a recovered fault means: the guarded function was abandoned at the
 * faulting instruction. Nothing it allocated is freed, no lock it held is
 * released, no destructor or cleanup runs. The caller decides whether the
 * state the function touched can still be trusted.
 */
#ifndef CGOGUARD_H
#define CGOGUARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Guards a thread may have open at once (a guarded function entering
 * another guard). One more returns CGOGUARD_EDEPTH without running it. */
#define CGOGUARD_MAX_DEPTH 16

/* C frames kept per fault, innermost first. */
#define CGOGUARD_MAX_FRAMES 64

/* Results of cgoguard_call and cgoguard_install. */
enum {
	CGOGUARD_OK = 0,           /* fn returned normally */
	CGOGUARD_FAULT = 1,        /* fn faulted; *fault describes it */
	CGOGUARD_ENULLFN = -1,     /* fn is NULL */
	CGOGUARD_EDEPTH = -2,      /* more than CGOGUARD_MAX_DEPTH nested guards */
	CGOGUARD_EUNSUPPORTED = -3,/* not x86-64 Linux */
	CGOGUARD_EINSTALL = -4,    /* sigaction failed while installing handlers */
	CGOGUARD_EALTSTACK = -5,   /* no alternate signal stack, and none could be made */
	CGOGUARD_ELINKMODE = -6,   /* C code lies inside the Go text range (internal linking) */
	CGOGUARD_TIMEOUT = 2,      /* the deadline passed; the call was interrupted */
	CGOGUARD_CANCELED = 3,     /* cgoguard_cancel_request; the call was interrupted */
	CGOGUARD_ESIGNAL = -7,     /* the timeout signal cannot be used (see cgoguard_set_timeout_signal) */
	CGOGUARD_EWATCHDOG = -8,   /* the watchdog thread could not be started */
	CGOGUARD_ENESTEDDEADLINE = -9, /* a call with a deadline inside another one on the same thread */
	CGOGUARD_EINVAL = -10      /* cgoguard_timed_call_run: attempts or timeout out of range */
};

/* How an interrupted call was stopped (cgoguard_fault.interrupt). */
enum {
	CGOGUARD_NOT_INTERRUPTED = 0, /* a fault, not an interrupt */
	CGOGUARD_IN_SYSCALL = 1,      /* blocked in (or entering) a system call */
	CGOGUARD_FORCED = 2           /* running user code; stopped when the grace period ended */
};

/* Registers of the faulting thread, in glibc's REG_* order (sys/ucontext.h). */
#define CGOGUARD_NREGS 23

typedef struct cgoguard_fault {
	int32_t signo;       /* SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT */
	int32_t code;        /* si_code */
	int32_t tid;         /* kernel thread id of the guarded thread */
	int32_t sender_pid;  /* si_pid for a signal sent with raise/abort, else 0 */
	uint64_t addr;       /* si_addr for SEGV/BUS/FPE/ILL, else 0 */
	uint64_t pc;         /* the faulting instruction */
	uint64_t sp;         /* stack pointer at the fault */
	int64_t time_ns;     /* CLOCK_REALTIME when the signal was handled */
	uint64_t regs[CGOGUARD_NREGS];
	int32_t depth;       /* 1 for the outermost guard */
	int32_t nframes;     /* entries used in frames */
	int32_t interrupt;   /* CGOGUARD_NOT_INTERRUPTED, _IN_SYSCALL or _FORCED */
	int32_t capture;     /* internal: the crash dump capture taken, if any (Go package) */
	/* frames[0] is pc; later entries are return addresses (subtract 1 to
	 * symbolize the call instruction). Ends at the guarded function. */
	uint64_t frames[CGOGUARD_MAX_FRAMES];
} cgoguard_fault;

/*
 * cgoguard_install installs the fault handlers, chaining to the handlers
 * already present. Idempotent; cgoguard_call calls it on first use. In a Go
 * program the Go package does this for you.
 */
int cgoguard_install(void);

/*
 * cgoguard_call runs fn(arg) under a guard. A fault inside fn (or anything
 * it calls, on this thread) returns CGOGUARD_FAULT and fills *fault when
 * fault is not NULL. A thread with no alternate signal stack is given one
 * (64 KiB, freed when the thread exits), so a stack overflow is caught too.
 * May be nested up to CGOGUARD_MAX_DEPTH deep.
 */
int cgoguard_call(void (*fn)(void *), void *arg, cgoguard_fault *fault);

/* Like cgoguard_call, keeping at most max_frames frames (0: none). */
int cgoguard_call_frames(void (*fn)(void *), void *arg, cgoguard_fault *fault,
                         int max_frames);

/*
 * Deadlines and cancellation.
 *
 * cgoguard_call_deadline is cgoguard_call with a deadline timeout_ns from
 * now (0: none) and an optional cancellation token. When the deadline
 * passes, or cgoguard_cancel_request is called on the token, a watchdog
 * thread sends the timeout signal to the one thread running the call:
 *  - blocked in (or entering) a system call: the call is unwound at once;
 *  - running user code: the thread is left running until it enters a system
 *    call (where it holds no user-space lock, usually) and is signalled again
 *    until then; after grace_ns it is unwound wherever it stands (grace_ns 0:
 *    at once; negative: never).
 * The result is CGOGUARD_TIMEOUT or CGOGUARD_CANCELED with *fault describing
 * where the thread was (signo is the timeout signal). What an interrupted
 * call leaves behind is what a fault leaves behind; see the README.
 */
#define CGOGUARD_DEFAULT_GRACE_NS 200000000LL /* 200 ms */

typedef struct cgoguard_cancel {
	void *slot;         /* internal: the thread running the call */
	uint64_t gen;       /* internal: which call */
	int32_t requested;  /* set by cgoguard_cancel_request */
	uint32_t seq;       /* internal: odd while slot and gen are being set */
} cgoguard_cancel;

/* Zeroes a token; one token serves one call at a time. */
void cgoguard_cancel_init(cgoguard_cancel *c);
/* Interrupts the call using c, now or as soon as it starts. Safe from any
 * thread (not from a signal handler). */
void cgoguard_cancel_request(cgoguard_cancel *c);

int cgoguard_call_deadline(void (*fn)(void *), void *arg, cgoguard_fault *fault, int max_frames,
                           int64_t timeout_ns, int64_t grace_ns, cgoguard_cancel *cancel);

/* The signal used to interrupt calls: by default SIGRTMIN+3. May be changed
 * before the first call with a deadline, to a real-time signal (SIGRTMIN
 * and above, as glibc counts them) or SIGUSR1/SIGUSR2; returns
 * CGOGUARD_ESIGNAL otherwise or once it is in use. Instances of it that
 * cgoguard did not send for a live call are passed to the handler that was
 * installed before. */
int cgoguard_set_timeout_signal(int sig);
int cgoguard_timeout_signal(void);

/*
 * Timed calls with retries (macros):
 *
 *   int cgoguard_add_timeout_to_func(func, n, interval_ms, ret, args...);
 *   int cgoguard_add_timeout_to_func_ex(fault, attempts, func, n, interval_ms,
 *                                       ret, args...);
 *
 * For example
 *
 *   ssize_t got;
 *   int rc = cgoguard_add_timeout_to_func(read, 3, 100, got, fd, buf, sizeof buf);
 *
 * runs got = read(fd, buf, sizeof buf) under a guard with a deadline of
 * 100 ms. When the deadline passes the call is interrupted (as
 * cgoguard_call_deadline does it) and func is started again: up to n
 * attempts in all (here 3), each with the full interval_ms (an int64_t). The
 * macro is an expression of type int:
 *   CGOGUARD_OK       an attempt returned; ret = its return value
 *   CGOGUARD_TIMEOUT  all n attempts reached the deadline and were interrupted
 *   CGOGUARD_FAULT    an attempt faulted; not retried
 *   CGOGUARD_E*       (negative) nothing more was run: CGOGUARD_EINVAL for
 *                     n < 1 or interval_ms outside 1..INT64_MAX/1000000,
 *                     CGOGUARD_ENULLFN for a NULL func,
 *                     CGOGUARD_ENESTEDDEADLINE inside another call with a
 *                     deadline on this thread, or a setup error
 * ret is assigned only on CGOGUARD_OK; otherwise it keeps its value.
 * func, n, interval_ms, ret and every argument are evaluated once, before
 * the first attempt (ret: when it is assigned); every attempt gets the same
 * argument values.
 *
 * Each attempt is cgoguard_call_deadline(..., interval_ms * 1000000,
 * CGOGUARD_DEFAULT_GRACE_NS, NULL): blocked in a system call, func is unwound
 * at once; running user code, it is left running until it enters a system
 * call and forced 200 ms after the deadline at the latest.
 *
 * What an interrupted attempt leaves behind: func was abandoned where it was
 * stopped, as after a fault. Nothing it allocated is freed, no lock it held
 * is released, the object or descriptor it was working on is in whatever
 * state it had reached, and the next attempt starts from that state. So
 * retry only functions that can be abandoned in a blocking system call
 * without harm (a read or poll on a pipe or socket), and treat a final
 * CGOGUARD_TIMEOUT like a fault: the handle is poisoned (README.md,
 * "Deadlines and cancellation").
 *
 * Arguments and types, checked at compile time:
 *  - func: a function or function pointer, with a prototype, returning an
 *    integer, enum, bool or pointer type. The call func(args...) is checked
 *    against the prototype as a direct call would be.
 *  - at most 6 arguments (none is fine), each of an integer, enum, bool or
 *    pointer type (arrays and functions decay to pointers). More than 6, a
 *    floating-point, complex, struct, union or 128-bit argument or result
 *    does not compile.
 *  - each argument travels in a 64-bit register, converted from its own type
 *    (sign- or zero-extended, as for a variadic function): this is what the
 *    prototype's conversion gives for int, long, size_t and pointer
 *    parameters, but for a parameter narrower than int (char, short, _Bool)
 *    pass a value the parameter type can represent. A variadic func (an
 *    open-like or printf-like one) works for integer and pointer arguments.
 *  - the result is taken from RAX through func's own return type and
 *    assigned to ret as ret = func(args...) would be.
 *  - x86-64 System V only (elsewhere the result is CGOGUARD_EUNSUPPORTED
 *    and func is not run). C only (not defined for C++), with GNU
 *    extensions: gcc or clang (statement expressions, __typeof__,
 *    __builtin_classify_type).
 *
 * All state lives on the caller's stack (a cgoguard_timed_call): the macro
 * can be used any number of times on the same function, and from any
 * number of threads at once.
 *
 * cgoguard_add_timeout_to_func_ex(fault, attempts, func, n, interval_ms, ret,
 * args...) is the same, and also fills *fault (a cgoguard_fault *, or NULL)
 * describing the last attempt that faulted or was interrupted (untouched if
 * none was), and stores in *attempts (an int *, or NULL) how many attempts
 * func was started for.
 *
 * Define CGOGUARD_SHORT_NAMES before including this header to also get the
 * name add_timeout_to_func.
 */
typedef struct cgoguard_timed_call {
	void (*fn)(void);      /* called as uintptr_t fn(uintptr_t a0, ..., uintptr_t a5) */
	uintptr_t args[6];     /* unused ones 0 */
	uintptr_t ret;         /* out: RAX when fn returned */
	cgoguard_fault *fault; /* in: where to describe a failed attempt, or NULL */
	int32_t attempts;      /* out: attempts started */
	int32_t reserved;
} cgoguard_timed_call;

/* Runs c->fn(c->args...) with a deadline of timeout_ms per attempt, up to
 * max_attempts attempts while it times out; the result codes are the
 * macro's. The macro's helper; callable directly. */
int cgoguard_timed_call_run(cgoguard_timed_call *c, int max_attempts, int64_t timeout_ms);

#ifndef __cplusplus
/*
 * Macro internals (the names with a double underscore). Plain C99
 * preprocessor: the arguments are counted, func and ret included, so that
 * no comma has to be dropped when func takes no arguments.
 */
#define cgoguard_add_timeout_to_func(...) CGOGUARD__TIMED((cgoguard_fault *)0, (int *)0, __VA_ARGS__)
#define cgoguard_add_timeout_to_func_ex(...) CGOGUARD__TIMED(__VA_ARGS__)

#ifdef CGOGUARD_SHORT_NAMES
#define add_timeout_to_func cgoguard_add_timeout_to_func
#endif

#define CGOGUARD__CAT(a, b) CGOGUARD__CAT_(a, b)
#define CGOGUARD__CAT_(a, b) a##b
#define CGOGUARD__ID(...) __VA_ARGS__
/* The number of arguments, 1 to 20. */
#define CGOGUARD__COUNT(...) \
	CGOGUARD__COUNT_(__VA_ARGS__, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define CGOGUARD__COUNT_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, \
                         a19, a20, n, ...) n
/* fault, attempts, func, n, interval_ms, ret and 0 to 6 arguments: 6 to 12. */
#define CGOGUARD__TIMED(...) CGOGUARD__CAT(CGOGUARD__TIMED_, CGOGUARD__COUNT(__VA_ARGS__))(__VA_ARGS__)

/* 1 when x (after decay and promotion) is an integer, enum, bool or pointer
 * of at most 64 bits. Neither operand evaluates x. */
#define CGOGUARD__IS_WORD(x)                                                    \
	(__builtin_classify_type(x) >= 1 && __builtin_classify_type(x) <= 5 && \
	 sizeof(1 ? (x) : (x)) <= sizeof(uintptr_t))
#define CGOGUARD__CHECK(i, x)                                                                      \
	_Static_assert(CGOGUARD__IS_WORD(x), "cgoguard_add_timeout_to_func: argument " #i " (" #x \
	                                     ") is not an integer or pointer of at most 64 bits");
#define CGOGUARD__W(x) (uintptr_t)(x)

/* RAX as a value of type T: only its low sizeof(T) bytes are defined. */
#define CGOGUARD__FROM_RAX(T, v)                           \
	((T)(sizeof(T) == 1   ? (uintptr_t)(uint8_t)(v)  \
	     : sizeof(T) == 2 ? (uintptr_t)(uint16_t)(v) \
	     : sizeof(T) == 4 ? (uintptr_t)(uint32_t)(v) \
	                      : (uintptr_t)(v)))

/* callargs: (a, b); words: (W(a), W(b)); checks: (CHECK(1, a) CHECK(2, b)). */
#define CGOGUARD__BODY(fault_, attempts_, func, n, interval_ms, ret_, callargs, words, checks) \
	__extension__({                                                                          \
		CGOGUARD__ID checks                                                              \
		_Static_assert(CGOGUARD__IS_WORD((func)callargs), "cgoguard_add_timeout_to_func: " #func \
		               " must return an integer or pointer of at most 64 bits");          \
		cgoguard_fault *cgoguard__fault = (fault_);                                      \
		int *cgoguard__attempts = (attempts_);                                           \
		cgoguard_timed_call cgoguard__c = {(void (*)(void))(func), {CGOGUARD__ID words}, \
		                                   0, cgoguard__fault, 0, 0};                    \
		int cgoguard__rc = cgoguard_timed_call_run(&cgoguard__c, (n), (interval_ms));    \
		if (cgoguard__attempts)                                                          \
			*cgoguard__attempts = cgoguard__c.attempts;                              \
		if (cgoguard__rc == CGOGUARD_OK)                                                 \
			(ret_) = CGOGUARD__FROM_RAX(__typeof__((func)callargs), cgoguard__c.ret); \
		cgoguard__rc;                                                                    \
	})

#define CGOGUARD__TIMED_6(fl, at, f, n, ms, r) CGOGUARD__BODY(fl, at, f, n, ms, r, (), (0), ((void)0;))
#define CGOGUARD__TIMED_7(fl, at, f, n, ms, r, a) \
	CGOGUARD__BODY(fl, at, f, n, ms, r, (a), (CGOGUARD__W(a)), (CGOGUARD__CHECK(1, a)))
#define CGOGUARD__TIMED_8(fl, at, f, n, ms, r, a, b)                                   \
	CGOGUARD__BODY(fl, at, f, n, ms, r, (a, b), (CGOGUARD__W(a), CGOGUARD__W(b)), \
	               (CGOGUARD__CHECK(1, a) CGOGUARD__CHECK(2, b)))
#define CGOGUARD__TIMED_9(fl, at, f, n, ms, r, a, b, c)                                                  \
	CGOGUARD__BODY(fl, at, f, n, ms, r, (a, b, c), (CGOGUARD__W(a), CGOGUARD__W(b), CGOGUARD__W(c)), \
	               (CGOGUARD__CHECK(1, a) CGOGUARD__CHECK(2, b) CGOGUARD__CHECK(3, c)))
#define CGOGUARD__TIMED_10(fl, at, f, n, ms, r, a, b, c, d)                                         \
	CGOGUARD__BODY(fl, at, f, n, ms, r, (a, b, c, d),                                            \
	               (CGOGUARD__W(a), CGOGUARD__W(b), CGOGUARD__W(c), CGOGUARD__W(d)),            \
	               (CGOGUARD__CHECK(1, a) CGOGUARD__CHECK(2, b) CGOGUARD__CHECK(3, c)            \
	                    CGOGUARD__CHECK(4, d)))
#define CGOGUARD__TIMED_11(fl, at, f, n, ms, r, a, b, c, d, e)                                      \
	CGOGUARD__BODY(fl, at, f, n, ms, r, (a, b, c, d, e),                                         \
	               (CGOGUARD__W(a), CGOGUARD__W(b), CGOGUARD__W(c), CGOGUARD__W(d), CGOGUARD__W(e)), \
	               (CGOGUARD__CHECK(1, a) CGOGUARD__CHECK(2, b) CGOGUARD__CHECK(3, c)            \
	                    CGOGUARD__CHECK(4, d) CGOGUARD__CHECK(5, e)))
#define CGOGUARD__TIMED_12(fl, at, f, n, ms, r, a, b, c, d, e, g)                                   \
	CGOGUARD__BODY(fl, at, f, n, ms, r, (a, b, c, d, e, g),                                      \
	               (CGOGUARD__W(a), CGOGUARD__W(b), CGOGUARD__W(c), CGOGUARD__W(d), CGOGUARD__W(e), \
	                CGOGUARD__W(g)),                                                            \
	               (CGOGUARD__CHECK(1, a) CGOGUARD__CHECK(2, b) CGOGUARD__CHECK(3, c)            \
	                    CGOGUARD__CHECK(4, d) CGOGUARD__CHECK(5, e) CGOGUARD__CHECK(6, g)))

/* Wrong counts: one clear error. */
#define CGOGUARD__TOO_FEW(...)                                                                      \
	__extension__({                                                                             \
		_Static_assert(0, "cgoguard_add_timeout_to_func: needs func, n, interval_ms and ret"); \
		0;                                                                                  \
	})
#define CGOGUARD__TOO_MANY(...)                                                                  \
	__extension__({                                                                          \
		_Static_assert(0, "cgoguard_add_timeout_to_func: func takes at most 6 arguments"); \
		0;                                                                               \
	})
#define CGOGUARD__TIMED_1 CGOGUARD__TOO_FEW
#define CGOGUARD__TIMED_2 CGOGUARD__TOO_FEW
#define CGOGUARD__TIMED_3 CGOGUARD__TOO_FEW
#define CGOGUARD__TIMED_4 CGOGUARD__TOO_FEW
#define CGOGUARD__TIMED_5 CGOGUARD__TOO_FEW
#define CGOGUARD__TIMED_13 CGOGUARD__TOO_MANY
#define CGOGUARD__TIMED_14 CGOGUARD__TOO_MANY
#define CGOGUARD__TIMED_15 CGOGUARD__TOO_MANY
#define CGOGUARD__TIMED_16 CGOGUARD__TOO_MANY
#define CGOGUARD__TIMED_17 CGOGUARD__TOO_MANY
#define CGOGUARD__TIMED_18 CGOGUARD__TOO_MANY
#define CGOGUARD__TIMED_19 CGOGUARD__TOO_MANY
#define CGOGUARD__TIMED_20 CGOGUARD__TOO_MANY
#endif /* !__cplusplus */

/* Number of guards open on the calling thread. */
int cgoguard_depth(void);

/* A static description of a result code. */
const char *cgoguard_strerror(int result);

/*
 * Handler replacement. Another library may install its own handler for a
 * guarded signal after cgoguard did. Calls through sigaction(), signal(),
 * bsd_signal(), ssignal(), sysv_signal() and __sysv_signal() are noticed
 * when they happen, and the next cgoguard_call puts cgoguard's handler back
 * in front (chaining to the new one). cgoguard_verify_handlers checks the
 * kernel's table now, which also catches raw rt_sigaction system calls and
 * sigset(); it returns how many it repaired, or a negative result code.
 */
int cgoguard_verify_handlers(void);
uint64_t cgoguard_handler_repairs(void);

/* Faults recovered, and calls interrupted, by this process since start. */
uint64_t cgoguard_recovered(void);
uint64_t cgoguard_interrupted(void);

#ifdef __cplusplus
}
#endif

#endif /* CGOGUARD_H */
