//go:build linux && amd64 && cgo

// Package examplec supplies the C functions of the guard package's
// examples (test files cannot use cgo): a parser with a bug that faults on
// bad input, and a call that never returns.
package examplec

/*
#include <stdlib.h>
#include <time.h>

// The digit table a careless parser meant to set up: it never does, so
// the first character that is not a digit makes it read through NULL.
const signed char *examplec_table;

static int examplec_parse(const char *s) {
	int n = 0;
	for (; *s != 0; s++) {
		if (*s < '0' || *s > '9')
			return examplec_table[(unsigned char)*s];
		n = n * 10 + (*s - '0');
	}
	return n;
}

struct examplec_request {
	char in[32];
	long long out;
};

// For guard.Call: a void (*)(void *) taking a struct examplec_request.
void examplec_parse_request(void *arg) {
	struct examplec_request *r = arg;
	r->out = examplec_parse(r->in);
}

// For guard.CallFunc: integer arguments, an integer result. Dividing by 0
// raises SIGFPE.
long examplec_divide(long a, long b) { return a / b; }

// Waits for something that never comes, in nanosleep.
void examplec_stall(void *arg) {
	(void)arg;
	struct timespec ts = {3600, 0};
	for (;;)
		nanosleep(&ts, NULL);
}
*/
import "C"

import "unsafe"

// Parse parses a decimal number through a plain cgo call, as a binding
// would. It faults (SIGSEGV) on a character that is not a digit.
func Parse(s string) int {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	return int(C.examplec_parse(cs))
}

// Stall blocks in C, through a plain cgo call, and never returns.
func Stall() { C.examplec_stall(nil) }

// Request is the argument of ParseRequest: the C struct examplec_request.
// It holds no Go pointers, so it may live in Go memory.
type Request struct {
	In  [32]byte // NUL-terminated input
	Out int64    // the number parsed
}

var _ = [1]struct{}{}[unsafe.Sizeof(Request{})-C.sizeof_struct_examplec_request]

// NewRequest returns a Request for s (at most 31 bytes).
func NewRequest(s string) *Request {
	r := new(Request)
	copy(r.In[:len(r.In)-1], s)
	return r
}

// C functions of type void (*)(void *), for guard.Call.
var (
	// ParseRequest parses a *Request's In into its Out, faulting as
	// Parse does.
	ParseRequest = unsafe.Pointer(C.examplec_parse_request)
	// StallFunc ignores its argument and never returns, as Stall.
	StallFunc = unsafe.Pointer(C.examplec_stall)
)

// Divide, for guard.CallFunc, is long divide(long a, long b): a / b, and
// SIGFPE when b is 0.
var Divide = unsafe.Pointer(C.examplec_divide)
