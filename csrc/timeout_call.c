/*
 * Timed calls with retries (cgoguard_add_timeout_to_func in the header):
 * a function of up to six integer or pointer arguments, run under
 * cgoguard_call_deadline, started again each time it times out.
 *
 * Everything an attempt needs is in the caller's cgoguard_timed_call, on the
 * caller's stack: no static state, so any number of threads may run timed
 * calls of the same function at once.
 */
#include <stddef.h>
#include <stdint.h>

#include "../include/cgoguard.h"

/* Largest timeout whose nanosecond count fits an int64_t. */
#define CG_TIMED_MAX_MS (INT64_MAX / 1000000)

/*
 * Runs one attempt. fn is called through a variadic prototype: integer and
 * pointer arguments travel in the same registers either way (x86-64
 * System V), extra ones are ignored by the callee, and %al (the number of
 * vector registers a variadic callee may read) is then 0. On other
 * platforms cgoguard_call_deadline refuses before this could run.
 */
static void cg_timed_attempt(void *p) {
	cgoguard_timed_call *c = p;
	uintptr_t (*f)(uintptr_t, ...) = (uintptr_t (*)(uintptr_t, ...))c->fn;
	c->ret = f(c->args[0], c->args[1], c->args[2], c->args[3], c->args[4], c->args[5]);
}

int cgoguard_timed_call_run(cgoguard_timed_call *c, int max_attempts, int64_t timeout_ms) {
	if (c == NULL || c->fn == NULL)
		return CGOGUARD_ENULLFN;
	c->attempts = 0;
	if (max_attempts < 1 || timeout_ms < 1 || timeout_ms > CG_TIMED_MAX_MS)
		return CGOGUARD_EINVAL;
	int max_frames = c->fault != NULL ? CGOGUARD_MAX_FRAMES : 0;
	int rc = CGOGUARD_TIMEOUT;
	while (c->attempts < max_attempts) {
		c->attempts++;
		rc = cgoguard_call_deadline(cg_timed_attempt, c, c->fault, max_frames, timeout_ms * 1000000,
		                            CGOGUARD_DEFAULT_GRACE_NS, NULL);
		if (rc < 0)
			c->attempts--; /* refused before fn ran */
		if (rc != CGOGUARD_TIMEOUT)
			break;
	}
	return rc;
}
