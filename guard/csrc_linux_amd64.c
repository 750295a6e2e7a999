//go:build cgo

// cgo compiles only the files in the package directory: this one pulls in
// the C core from csrc/, which stays the single source of truth.
//
// The go command does not notice changes to files included from outside the
// package directory, so the digest below covers csrc/ and include/: `make
// digest` rewrites it, and a test fails while it is out of date, which makes
// every change to the C core rebuild this package.
// csrc digest: c28502c34112a333d002d738a2b674680792b1a30f53708722d20fddc5ad752d
#include "../csrc/boundary.c"
#include "../csrc/chain.c"
#include "../csrc/checked.c"
#include "../csrc/context.c"
#include "../csrc/deadline.c"
#include "../csrc/dump_capture.c"
#include "../csrc/gomodules.c"
#include "../csrc/guard_point.c"
#include "../csrc/handler.c"
#include "../csrc/install.c"
#include "../csrc/interpose.c"
#include "../csrc/report_pool.c"
#include "../csrc/thread.c"
#include "../csrc/timeout_call.c"
#include "../csrc/traceback.c"
#include "../csrc/unwind.c"
