/*
 * Crash recovery from plain C: the original design's test program on the C
 * API (include/cgoguard.h, libcgoguard.a), no Go.
 *
 * Four faults, each done twice under cgoguard_call: abort(), an integer
 * divide by zero, a write through a NULL pointer and raise(SIGFPE). Every
 * one must come back as CGOGUARD_FAULT with the expected signal, si_code and
 * address, and the program carries on to the next. One line per case, then
 * a summary line; the exit status is 0 only when all 8 were caught as
 * expected.
 *
 *   make lib
 *   cc -Iinclude examples/c/crashes.c libcgoguard.a -lpthread -o crashes
 *   ./crashes
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgoguard.h"

/* volatile: the compiler may neither fold the divide nor drop the store,
 * and cannot see that the pointer is NULL (gcc would emit ud2 instead). */
static int *volatile null_ptr = NULL;
static volatile int divisor = 0;
static volatile int dividend = 42;
static volatile int sink;

/* noinline: each fault happens in a function of its own, called by the
 * guard, as a fault in a library function would. */
__attribute__((noinline)) static void do_abort(void *arg) {
	(void)arg;
	abort();
}

__attribute__((noinline)) static void do_divide_by_zero(void *arg) {
	(void)arg;
	sink = dividend / divisor;
}

__attribute__((noinline)) static void do_null_write(void *arg) {
	(void)arg;
	*null_ptr = 1;
}

__attribute__((noinline)) static void do_raise_fpe(void *arg) {
	(void)arg;
	raise(SIGFPE);
	__asm__ volatile("" ::: "memory"); /* keep raise a call, not a tail jump */
}

/* What the fault record must say. */
enum where { ADDR_ZERO, ADDR_AT_PC };

struct fault_case {
	const char *what;
	void (*fn)(void *);
	int signo;
	int code;
	enum where addr;
	int sent; /* sent by this process (raise/abort): sender_pid is ours */
};

static const char *sig_name(int signo) {
	switch (signo) {
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGFPE: return "SIGFPE";
	case SIGILL: return "SIGILL";
	case SIGABRT: return "SIGABRT";
	}
	return "?";
}

static const char *code_name(int signo, int code) {
	switch (code) {
	case SI_USER: return "SI_USER";
	case SI_TKILL: return "SI_TKILL";
	case SI_QUEUE: return "SI_QUEUE";
	}
	if (signo == SIGSEGV && code == SEGV_MAPERR) return "SEGV_MAPERR";
	if (signo == SIGSEGV && code == SEGV_ACCERR) return "SEGV_ACCERR";
	if (signo == SIGFPE && code == FPE_INTDIV) return "FPE_INTDIV";
	if (signo == SIGFPE && code == FPE_INTOVF) return "FPE_INTOVF";
	return "?";
}

/* Runs one case once; prints its line; returns 1 when it went as expected. */
static int run_case(const struct fault_case *c, int run) {
	cgoguard_fault f;
	memset(&f, 0, sizeof f);
	int rc = cgoguard_call(c->fn, NULL, &f);

	char why[160] = "";
	if (rc != CGOGUARD_FAULT)
		snprintf(why, sizeof why, "result %d (%s), want CGOGUARD_FAULT", rc, cgoguard_strerror(rc));
	else if (f.signo != c->signo)
		snprintf(why, sizeof why, "signal %d, want %d", f.signo, c->signo);
	else if (f.code != c->code)
		snprintf(why, sizeof why, "si_code %d, want %d (%s)", f.code, c->code, code_name(c->signo, c->code));
	else if (c->addr == ADDR_ZERO && f.addr != 0)
		snprintf(why, sizeof why, "address %#llx, want 0", (unsigned long long)f.addr);
	else if (c->addr == ADDR_AT_PC && f.addr != f.pc)
		snprintf(why, sizeof why, "address %#llx, want the faulting instruction %#llx",
		         (unsigned long long)f.addr, (unsigned long long)f.pc);
	else if (c->sent && f.sender_pid != getpid())
		snprintf(why, sizeof why, "sender pid %d, want this process (%d)", f.sender_pid, (int)getpid());
	else if (f.pc == 0)
		snprintf(why, sizeof why, "no pc recorded");
	else if (cgoguard_depth() != 0)
		snprintf(why, sizeof why, "%d guards still open after the fault", cgoguard_depth());

	if (rc == CGOGUARD_FAULT)
		printf("%-4s %-15s run %d: caught %s (%s) addr=%#llx pc=%#llx%s%s%s\n", why[0] ? "FAIL" : "ok",
		       c->what, run, sig_name(f.signo), code_name(f.signo, f.code), (unsigned long long)f.addr,
		       (unsigned long long)f.pc, f.sender_pid ? " sent by this process" : "", why[0] ? ": " : "",
		       why);
	else
		printf("FAIL %-15s run %d: %s\n", c->what, run, why);
	fflush(stdout);
	return why[0] == '\0';
}

int main(void) {
	static const struct fault_case cases[] = {
	    {"abort()", do_abort, SIGABRT, SI_TKILL, ADDR_ZERO, 1},
	    {"divide by zero", do_divide_by_zero, SIGFPE, FPE_INTDIV, ADDR_AT_PC, 0},
	    {"NULL write", do_null_write, SIGSEGV, SEGV_MAPERR, ADDR_ZERO, 0},
	    {"raise(SIGFPE)", do_raise_fpe, SIGFPE, SI_TKILL, ADDR_ZERO, 1},
	};
	const int ncases = (int)(sizeof cases / sizeof cases[0]);

	alarm(10); /* a hang fails instead of blocking */
	int rc = cgoguard_install();
	if (rc != CGOGUARD_OK) {
		printf("cgoguard_install: %s\n", cgoguard_strerror(rc));
		return 2;
	}

	int caught = 0;
	for (int i = 0; i < ncases; i++)
		for (int run = 1; run <= 2; run++)
			caught += run_case(&cases[i], run);

	printf("crashes: %d of %d faults caught as expected; recovered counter %llu\n", caught, 2 * ncases,
	       (unsigned long long)cgoguard_recovered());
	return caught == 2 * ncases ? 0 : 1;
}
