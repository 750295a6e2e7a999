// Guards entered from C through the public C API.
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "cgoguard.h"
#include "payload.h"

// A guarded function that opens an inner guard around a faulting call and
// carries on after the inner fault.
void pl_nested_outer(void *arg) {
	struct pl_result *r = arg;
	cgoguard_fault f;
	int rc = cgoguard_call(pl_null_write, NULL, &f);
	r->inner = rc == CGOGUARD_FAULT ? f.signo * 100 + f.depth : -1000 + rc;
	r->after = cgoguard_depth();
}

// Nests guards until the limit refuses one; records the depth reached and
// the refusal code in r->inner.
void pl_nest_deep(void *arg) {
	struct pl_result *r = arg;
	r->depth_reached = cgoguard_depth();
	int rc = cgoguard_call(pl_nest_deep, r, NULL);
	if (rc != CGOGUARD_OK && r->inner == 0)
		r->inner = rc;
}

struct pl_thread_job {
	pl_fn fn;
	int rc;
	long sig;
	int depth_after;
	int had_altstack;
};

static void *pl_thread_main(void *p) {
	struct pl_thread_job *j = p;
	struct pl_result r;
	cgoguard_fault f;
	stack_t ss;
	memset(&r, 0, sizeof r);
	sigaltstack(NULL, &ss);
	j->had_altstack = !(ss.ss_flags & SS_DISABLE);
	j->rc = cgoguard_call(j->fn, &r, &f);
	j->sig = j->rc == CGOGUARD_FAULT ? f.signo : 0;
	j->depth_after = cgoguard_depth();
	return NULL;
}

// Runs fn under a guard on a fresh C thread (no alternate signal stack, no
// Go). Returns the guard's result, or -100 if the thread could not start,
// -101 if the thread unexpectedly had an alternate stack already.
int pl_guard_in_c_thread(pl_fn fn, long *sig, int *depth_after) {
	pthread_t t;
	struct pl_thread_job j;
	memset(&j, 0, sizeof j);
	j.fn = fn;
	if (pthread_create(&t, NULL, pl_thread_main, &j) != 0)
		return -100;
	pthread_join(t, NULL);
	if (j.had_altstack)
		return -101;
	*sig = j.sig;
	*depth_after = j.depth_after;
	return j.rc;
}
