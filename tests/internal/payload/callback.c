// A guarded C function that calls back into Go.
#include "payload.h"
#include "_cgo_export.h"

void pl_call_go(void *arg) {
	struct pl_result *r = arg;
	r->out = plGoCallback(r->in);
	r->after = 1;
}

// Calls back into Go, then blocks reading an empty pipe.
void pl_call_go_then_block(void *arg) {
	struct pl_result *r = arg;
	r->out = plGoCallback(r->in);
	pl_block_read_pipe(arg);
}
