/* The C API on platforms other than x86-64 Linux: every call says so. */
#if !(defined(__x86_64__) && defined(__linux__))
#include <stddef.h>

#include "../include/cgoguard.h"

int cgoguard_install(void) { return CGOGUARD_EUNSUPPORTED; }
int cgoguard_call(void (*fn)(void *), void *arg, cgoguard_fault *fault) {
	(void)fn; (void)arg; (void)fault;
	return CGOGUARD_EUNSUPPORTED;
}
int cgoguard_call_frames(void (*fn)(void *), void *arg, cgoguard_fault *fault, int max_frames) {
	(void)max_frames;
	return cgoguard_call(fn, arg, fault);
}
int cgoguard_depth(void) { return 0; }
const char *cgoguard_strerror(int result) {
	return result == CGOGUARD_EUNSUPPORTED ? "guarding is not supported on this platform" : "unknown result";
}
int cgoguard_verify_handlers(void) { return CGOGUARD_EUNSUPPORTED; }
uint64_t cgoguard_handler_repairs(void) { return 0; }
uint64_t cgoguard_recovered(void) { return 0; }
uint64_t cgoguard_interrupted(void) { return 0; }
void cgoguard_cancel_init(cgoguard_cancel *c) { c->slot = NULL; c->gen = 0; c->requested = 0; c->seq = 0; }
void cgoguard_cancel_request(cgoguard_cancel *c) { c->requested = 1; }
int cgoguard_call_deadline(void (*fn)(void *), void *arg, cgoguard_fault *fault, int max_frames,
                           int64_t timeout_ns, int64_t grace_ns, cgoguard_cancel *cancel) {
	(void)max_frames; (void)timeout_ns; (void)grace_ns; (void)cancel;
	return cgoguard_call(fn, arg, fault);
}
int cgoguard_set_timeout_signal(int sig) { (void)sig; return CGOGUARD_EUNSUPPORTED; }
int cgoguard_timeout_signal(void) { return 0; }
#endif
