package main

/*
#include <stdlib.h>
#include <string.h>

// A "vendor library" with bugs.

struct record { char name[16]; int *counter; };

// Follows a pointer it was never given.
static void bump_counter(void *arg) {
	struct record *r = arg;
	(*r->counter)++;
}

// Divides by a field that can be zero.
static void average(void *arg) {
	int *v = arg;
	volatile int n = v[1];
	v[2] = v[0] / n;
}

// Trusts an internal invariant with assert().
#undef NDEBUG
#include <assert.h>
static void checked_copy(void *arg) {
	struct record *r = arg;
	assert(strlen(r->name) < 8 && "name too long");
}

// Works.
static void fill(void *arg) {
	struct record *r = arg;
	strcpy(r->name, "ok");
}

static void *fn_bump_counter(void) { return (void *)bump_counter; }
static void *fn_average(void) { return (void *)average; }
static void *fn_checked_copy(void) { return (void *)checked_copy; }
static void *fn_fill(void) { return (void *)fill; }
*/
import "C"

import "unsafe"

var (
	bumpCounter = unsafe.Pointer(C.fn_bump_counter())
	average     = unsafe.Pointer(C.fn_average())
	checkedCopy = unsafe.Pointer(C.fn_checked_copy())
	fill        = unsafe.Pointer(C.fn_fill())
)

type record = C.struct_record

func newRecord(name string) *record {
	r := (*record)(C.calloc(1, C.size_t(unsafe.Sizeof(record{}))))
	cs := C.CString(name)
	C.strncpy(&r.name[0], cs, 15)
	C.free(unsafe.Pointer(cs))
	return r
}

func freeRecord(r *record) { C.free(unsafe.Pointer(r)) }

func newInts(a, b int) unsafe.Pointer {
	p := (*[3]C.int)(C.calloc(3, C.size_t(unsafe.Sizeof(C.int(0)))))
	p[0], p[1] = C.int(a), C.int(b)
	return unsafe.Pointer(p)
}
