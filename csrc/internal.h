/* Shared between the C core's files; not part of the public API. */
#ifndef CGOGUARD_INTERNAL_H
#define CGOGUARD_INTERNAL_H

#include <signal.h>
#include <stdint.h>

#include "../include/cgoguard.h"

/* Thread-local state must be reachable from a signal handler without a call
 * into the dynamic linker (__tls_get_addr may allocate): initial-exec. */
#define CG_TLS __thread __attribute__((tls_model("initial-exec")))

/*
 * One open guard. Lives in cgoguard_call's frame. The first fields are
 * written by cg_guard_save (sigentry_amd64.S) and read back by the signal
 * handler; their offsets are fixed.
 */
struct cg_guard {
	uint64_t jb[8];      /* rbx rbp r12 r13 r14 r15 rsp(after return) rip(return address) */
	uint32_t mxcsr;      /* offset 64 */
	uint16_t fpucw;      /* offset 68 */
	uint16_t pad;
	struct cg_guard *prev;
	cgoguard_fault *out; /* where the handler records the fault */
	int32_t depth;
	int32_t max_frames;
	uintptr_t canary;    /* (uintptr_t)this ^ CG_CANARY while the guard is open */
};

#define CG_CANARY ((uintptr_t)0x6367677561726421ull)

enum { CG_JB_RBX, CG_JB_RBP, CG_JB_R12, CG_JB_R13, CG_JB_R14, CG_JB_R15, CG_JB_RSP, CG_JB_RIP };

/* Saves the callee-saved registers, the stack pointer and the return
 * address into g and returns 0. The signal handler makes it "return" a
 * second time, with 1, by rewriting the interrupted context. */
int cg_guard_save(struct cg_guard *g) __attribute__((returns_twice));

/* The handler installed with sigaction: an assembly stub that calls
 * cg_dispatch and either returns or tail-jumps to the handler it returns, so
 * a chained handler sees exactly the frame the kernel built. */
void cg_sigentry(int sig, siginfo_t *info, void *uc);
void *cg_dispatch(int sig, siginfo_t *info, void *uc);

/* The guard stack of the calling thread (innermost first). */
extern CG_TLS struct cg_guard *cg_top;

/* Installation state (handler.c). */
extern int cg_installed;      /* atomic: handlers are in place */
extern int cg_handlers_dirty; /* atomic: someone changed a guarded signal's handler */
int cg_is_guarded_signal(int sig);
int cg_repair_handlers(void);
int cg_libc_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* Go text range (set by the Go package; empty in a C program). */
void cgoguard_set_go_text(uintptr_t start, uintptr_t end);
int cg_pc_in_go(uintptr_t pc);

/* Calls fn(arg); its return address is cg_invoke_ret (sigentry_amd64.S). */
void cg_invoke(void (*fn)(void *), void *arg);

/*
 * Stack walk from the fault to the guard point (unwind.c), keeping up to max
 * frames. Async-signal-safe on glibc >= 2.35, whose _dl_find_object lets
 * libgcc find unwind tables without locks or malloc.
 */
enum {
	CG_WALK_UNKNOWN,  /* the walk ended early (no unwind info, limit) */
	CG_WALK_REACHED,  /* reached the guard point's cg_invoke frame */
	CG_WALK_GO_FRAME  /* met a Go frame first */
};
int cg_walk_stack(uint64_t *frames, int max, int *nframes, uintptr_t pc,
                  uintptr_t sp, uintptr_t guard_sp);

#endif
