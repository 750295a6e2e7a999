// Plain C entry points for calls made through cgo without any guard: what
// guard.Do protects.
#include "payload.h"

void pl_invoke(pl_fn fn, void *arg) { fn(arg); }

void pl_invoke_nocb(pl_fn fn, void *arg) { fn(arg); }
