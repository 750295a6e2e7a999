// The register and stack snapshot that ctxsnap's C functions take.
#include <stdint.h>

typedef struct {
	uint64_t gregs[23];   // glibc's gregs order (REG_R8 ... REG_CR2)
	uint8_t fx[512];      // fxsave image
	uint64_t stack_start; // address of stack[0]
	uint64_t stack_len;   // bytes copied into stack
	uint8_t *stack;       // caller's buffer of stack_cap bytes
	uint64_t stack_cap;
	int64_t tid;
} ctxsnap_out;

int ctxsnap_outer(ctxsnap_out *out);
int ctxsnap_inner(ctxsnap_out *out);
