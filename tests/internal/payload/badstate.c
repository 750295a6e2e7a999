// C functions that leave the machine state broken when they fault: a stack
// pointer at an unmapped page, a PC with no code, a call through an
// unmapped function pointer; and a library with its own SIGSEGV handler
// that probes memory and siglongjmps out of the handler.
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "badstate.h"

// RSP at an unmapped low page, then a store to NULL: every read of the
// stack the fault path makes (unwinders, the word at SP) faults.
__attribute__((noinline)) void pl_bad_rsp(void *arg) {
	(void)arg;
	__asm__ volatile("movq $0x1000, %%rsp\n\tmovl $1, 0" ::: "memory");
}

// RSP and RIP both broken: a jump to address 0x10 with RSP at 0x1000.
__attribute__((noinline)) void pl_bad_rip_rsp(void *arg) {
	(void)arg;
	__asm__ volatile("movq $0x1000, %%rsp\n\tmovq $0x10, %%rax\n\tjmp *%%rax" ::: "rax", "memory");
}

// A call through a function pointer whose target is unmapped (`call *8`
// style), with a sane stack: the return address is at SP.
__attribute__((noinline)) void pl_call_unmapped(void *arg) {
	(void)arg;
	__asm__ volatile("movq $8, %%rax\n\tcall *%%rax" ::: "rax", "rcx", "rdx", "rsi", "rdi", "r8",
	                 "r9", "r10", "r11", "memory");
}

// Spins for about *arg iterations with RSP at an unmapped page (no fault),
// then puts RSP back and returns: a signal that lands meanwhile (SIGPROF)
// finds a stack no unwinder can read.
__attribute__((noinline)) void pl_spin_bad_rsp(void *arg) {
	long n = *(long *)arg;
	__asm__ volatile("movq %%rsp, %%r12\n\t"
	                 "movq $0x1000, %%rsp\n"
	                 "1:\tdecq %0\n\t"
	                 "jnz 1b\n\t"
	                 "movq %%r12, %%rsp"
	                 : "+r"(n)
	                 :
	                 : "r12", "memory", "cc");
}

// ---- a probing library (the memory-probe pattern of GCs and JITs) ----

static struct sigaction pl_probe_prev;
static __thread sigjmp_buf pl_probe_jb;
static __thread volatile int pl_probing;
static volatile long pl_probe_faults;

static void pl_probe_handler(int sig, siginfo_t *info, void *uc) {
	if (pl_probing) {
		pl_probe_faults++;
		siglongjmp(pl_probe_jb, 1);
	}
	// Not a probe: the handler installed before us decides.
	if (pl_probe_prev.sa_flags & SA_SIGINFO) {
		if ((uintptr_t)pl_probe_prev.sa_sigaction > (uintptr_t)SIG_IGN)
			pl_probe_prev.sa_sigaction(sig, info, uc);
		return;
	}
	if (pl_probe_prev.sa_handler != SIG_DFL && pl_probe_prev.sa_handler != SIG_IGN)
		pl_probe_prev.sa_handler(sig);
	else
		signal(sig, SIG_DFL);
}

// Installs the probing handler for SIGSEGV in front of whatever is there.
// how: 0 SA_SIGINFO|SA_ONSTACK and sigsetjmp(buf, 1) restoring the mask;
// 1 with SA_NODEFER and sigsetjmp(buf, 0) (the mask is not restored: the
// handler's own mask must not block SIGSEGV).
static int pl_probe_how;
int pl_probe_install(int how) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = pl_probe_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | (how == 1 ? SA_NODEFER : 0);
	sigemptyset(&sa.sa_mask);
	pl_probe_how = how;
	return sigaction(SIGSEGV, &sa, &pl_probe_prev);
}

// 1 when the long at addr can be read, 0 when reading it faulted.
__attribute__((noinline)) int pl_probe_read(uintptr_t addr) {
	int ok;
	if ((pl_probe_how == 1 ? sigsetjmp(pl_probe_jb, 0) : sigsetjmp(pl_probe_jb, 1)) == 0) {
		pl_probing = 1;
		(void)*(volatile long *)addr;
		ok = 1;
	} else {
		ok = 0;
	}
	pl_probing = 0;
	return ok;
}

long pl_probe_fault_count(void) { return pl_probe_faults; }
