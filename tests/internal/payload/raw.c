// Plain C entry points for calls made through cgo without any guard: what
// guard.Do protects.
#include "payload.h"

void pl_invoke(pl_fn fn, void *arg) { fn(arg); }

void pl_invoke_nocb(pl_fn fn, void *arg) { fn(arg); }

#include <dlfcn.h>

// The address of symbol name in the shared object at path, loaded now.
void *pl_dlsym(const char *path, const char *name) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	return h ? dlsym(h, name) : 0;
}
