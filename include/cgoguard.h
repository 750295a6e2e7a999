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
	CGOGUARD_ENESTEDDEADLINE = -9 /* a call with a deadline inside another one on the same thread */
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
	int32_t reserved;
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
