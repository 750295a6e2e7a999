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
	CGOGUARD_ELINKMODE = -6    /* C code lies inside the Go text range (internal linking) */
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

/* Faults recovered by this process since start. */
uint64_t cgoguard_recovered(void);

#ifdef __cplusplus
}
#endif

#endif /* CGOGUARD_H */
