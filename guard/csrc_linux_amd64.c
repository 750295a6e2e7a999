//go:build cgo

// cgo compiles only the files in the package directory: this one pulls in
// the C core from csrc/, which stays the single source of truth.
#include "../csrc/guard_point.c"
#include "../csrc/handler.c"
#include "../csrc/interpose.c"
#include "../csrc/report_pool.c"
#include "../csrc/unwind.c"
