// The plugin's C code (tests/plugin_test.go).

#include "_cgo_export.h"

// Calls back into the plugin's Go code.
void plug_call_go(void *arg) {
	(void)arg;
	plugGoCallback();
}

// Writes through NULL.
void plug_null_write(void *arg) {
	(void)arg;
	*(volatile int *)0 = 1;
}
