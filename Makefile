# cgoguard: see README.md.
#
#   make demo    run the main example (examples/segv)
#   make test    everything CI runs
#   make bench   guarded call vs raw cgo, seed-style wrapper and go-plugin, side by side,
#                then lateness, scale, guardhttp, and last make bench-supervise and
#                make bench-guardsql (docs/benchmarks.md)
#   make stress  the randomized soak for 10 minutes (+ profile, + race)
#   make lib     libcgoguard.a from csrc/ alone (no Go)
#   make test-c  the C API test and the C examples (examples/c), no Go
#   make digest  refresh the csrc/ digest in guard/ after editing the C core
#   make check   the edit-test loop: gofmt, vet, the guard packages' tests and the
#                fast integration tests, all -short (no deps, no other Go release)

GO      ?= go
CC      ?= gcc
CFLAGS  ?= -O2 -g -Wall -Wextra
BUILD   := build
# go test strips test binaries unless told otherwise; the C symbolizer
# needs the symbol table and DWARF to name C frames.
TESTLDFLAGS := -ldflags='-s=false -w=false'
GOTESTFLAGS ?=

CORE_SRC := $(wildcard csrc/*.c) $(wildcard csrc/*.S)
CORE_OBJ := $(patsubst csrc/%,$(BUILD)/obj/%.o,$(CORE_SRC))

# demo and test first install what they need with .ci/deps.sh (demo: gcc;
# test: also the zlib, libpq, SQLite and unixODBC headers, psqlODBC, a
# PostgreSQL server, LLDB; the script's header says what needs each).

.PHONY: all deps demo check test test-go test-go-versions test-go-latest test-go-oldest test-race test-c test-examples-c test-cross test-soak test-binding test-odbc test-supervise test-http stress bench bench-supervise lib digest clean

all: lib

# Built, not run with go run: go run strips the binary, and the C frames
# could not be named.
demo:
	@sh .ci/deps.sh demo
	@mkdir -p $(BUILD)
	$(GO) build -o $(BUILD)/segv ./examples/segv
	$(BUILD)/segv

lib: libcgoguard.a

libcgoguard.a: $(CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/obj/%.o: csrc/% $(wildcard csrc/*.h) include/cgoguard.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -Iinclude -c $< -o $@

deps:
	@sh .ci/deps.sh

# The edit-test loop, -short throughout. The slow tests it leaves out (soak,
# scale, supervise, PostgreSQL, LLDB, Go's own runtime programs, the
# TestConcurrent* loads) and the other modules (tests/bench, tests/binding,
# tests/odbc) run in make test.
check:
	@test -z "$$(gofmt -l guard tests examples)" || { gofmt -l guard tests examples; echo "gofmt: files above"; exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 -short -timeout 5m $(TESTLDFLAGS) ./guard/...
	$(GO) test -count=1 -short -timeout 5m -skip '^(TestSupervise|TestSoak|TestDeadlineScale|TestPostgres|TestCrashDumpLLDB|TestGoRuntime|TestConcurrent)' $(TESTLDFLAGS) ./tests/

# Everything, in this order; .ci/run (CI) is exactly this.
test: deps
	$(MAKE) test-go test-race test-c test-cross test-bench-build test-binding test-odbc test-soak test-supervise test-http test-go-versions

# guard/supervise: its package tests, then the master/worker tests in tests/
# (TestSupervise*), verbose for the load counts (requests answered, failed,
# refused through 20 restarts and 2 kills), their output kept in
# build/test-supervise.txt.
test-supervise:
	$(GO) test -count=1 $(GOTESTFLAGS) ./guard/supervise/...
	@mkdir -p $(BUILD)
	($(GO) test -count=1 -v -run 'TestSupervise' $(TESTLDFLAGS) $(GOTESTFLAGS) ./tests/; echo $$? >$(BUILD)/test-supervise.rc) | \
		tee $(BUILD)/test-supervise.txt; exit $$(cat $(BUILD)/test-supervise.rc)

# guard/guardhttp (docs/http.md), verbose for the load counts (16 clients:
# requests answered, faults, interrupts, connections); test-go and
# test-race run it too, with everything else.
test-http:
	$(GO) test -count=1 -v -timeout 5m $(TESTLDFLAGS) $(GOTESTFLAGS) ./guard/guardhttp/

# A 2-minute slice of the soak (make stress runs it for 10 minutes).
test-soak:
	$(GO) test -count=1 -run TestSoak -v $(TESTLDFLAGS) ./tests/ -args -soak=2m

# The full soak: 10 minutes, then once with a CPU profile on and once under
# the race detector (shorter: the race detector slows everything tenfold);
# then the deadline scale test at full size (2,000 blocked calls; make test
# runs a 15 s slice of it with the other tests).
stress:
	@mkdir -p $(BUILD)
	$(GO) test -count=1 -run TestSoak -v -timeout 30m $(TESTLDFLAGS) ./tests/ -args -soak=10m
	$(GO) test -count=1 -run TestSoak -v -timeout 30m -cpuprofile $(BUILD)/soak.pprof $(TESTLDFLAGS) ./tests/ -args -soak=3m
	$(GO) test -count=1 -run TestSoak -v -timeout 30m -race $(TESTLDFLAGS) ./tests/ -args -soak=3m
	$(GO) test -count=1 -run TestDeadlineScale -v -timeout 30m $(TESTLDFLAGS) ./tests/ -args -scale.full

# The root module on the machine's Go: vet, a build with
# -tags cgoguard_nosymbolizer, and every package's tests (TestSupervise*
# left to test-supervise).
test-go:
	$(GO) vet ./...
	$(GO) build -tags cgoguard_nosymbolizer ./...
	$(GO) test -count=1 -skip '^TestSupervise' $(TESTLDFLAGS) $(GOTESTFLAGS) ./...

# The release matrix (README, Platforms). test-go runs the whole root
# suite on the machine's Go (1.26). test-go-latest, on Go 1.27: vet, the
# examples built, the whole root suite again, four of the TestSupervise
# tests, and under GOEXPERIMENT=runtimesecret (asmcgocall's call site
# moves there) TestDoUnderRuntimeSecret, TestDoFaultMatrix and
# TestUnknownRuntime. test-go-oldest, on Go 1.25: vet and the fault,
# timeout, Do and runtime-compatibility tests (SLICE_OLDEST). The go
# command fetches each toolchain through the module proxy (about 10 s the
# first time).
GO_LATEST ?= go1.27.3
GO_OLDEST ?= go1.25.5
SLICE_OLDEST := ^(TestFault|TestDeadline|TestContext|TestDo|TestCallInsideDo|TestRetries|TestStaleDeadline|TestCPULoop|TestMalloc|TestLazy|TestUnguarded|TestGoRuntime|TestUnknownRuntime|TestRuntimeSymbolsAllowed|TestBoundary|TestThreadSlot|TestFindThisRuntime|TestCallSite|TestCheck)

test-go-versions: test-go-latest test-go-oldest

test-go-latest:
	GOTOOLCHAIN=$(GO_LATEST) $(GO) version
	GOTOOLCHAIN=$(GO_LATEST) $(GO) vet ./...
	GOTOOLCHAIN=$(GO_LATEST) $(GO) build ./examples/...
	GOTOOLCHAIN=$(GO_LATEST) $(GO) test -count=1 -skip '^TestSupervise' $(TESTLDFLAGS) $(GOTESTFLAGS) ./...
	GOTOOLCHAIN=$(GO_LATEST) $(GO) test -count=1 -run '^TestSupervise(RestartsUnderLoad|Kill9|CrashLoop|Notify)$$' $(TESTLDFLAGS) ./tests/
	GOEXPERIMENT=runtimesecret GOTOOLCHAIN=$(GO_LATEST) $(GO) test -count=1 -run '^(TestDoUnderRuntimeSecret|TestDoFaultMatrix|TestUnknownRuntime)$$' $(TESTLDFLAGS) ./tests/

test-go-oldest:
	GOTOOLCHAIN=$(GO_OLDEST) $(GO) version
	GOTOOLCHAIN=$(GO_OLDEST) $(GO) vet ./...
	GOTOOLCHAIN=$(GO_OLDEST) $(GO) test -count=1 -run '$(SLICE_OLDEST)' $(TESTLDFLAGS) $(GOTESTFLAGS) ./guard/... ./tests/

# A real binding, github.com/mattn/go-sqlite3, under guard.Do and through
# guard/guardsql (docs/databases.md), in modules of their own
# (tests/binding, examples/sqlite) so that the library's go.mod stays free
# of it: the tests, then the example built and run; it must exit 0 and
# print its last line. BenchmarkSelect1 there is guardsql's overhead on
# SELECT 1 (not run here: make bench-guardsql).
test-binding:
	cd tests/binding && $(GO) vet ./... && $(GO) test -count=1 $(TESTLDFLAGS) $(GOTESTFLAGS) ./...
	@mkdir -p $(BUILD)
	cd examples/sqlite && $(GO) vet ./... && $(GO) build -o $(CURDIR)/$(BUILD)/sqlite-example .
	$(BUILD)/sqlite-example </dev/null >$(BUILD)/sqlite-example.out 2>&1; st=$$?; cat $(BUILD)/sqlite-example.out; \
		if [ $$st -ne 0 ]; then echo "sqlite-example: exit status $$st"; exit 1; fi
	@tail -n 1 $(BUILD)/sqlite-example.out | grep -qx 'sqlite example: ok' || \
		{ echo "sqlite-example: last line is not 'sqlite example: ok'"; exit 1; }

# guard/guardsql over github.com/alexbrainman/odbc, unixODBC and psqlODBC
# against a PostgreSQL server the tests start (tests/odbc, a module of its
# own; docs/databases.md), and examples/odbc, which tests/odbc builds and
# runs against that server.
test-odbc:
	cd examples/odbc && $(GO) vet ./...
	cd tests/odbc && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m $(GOTESTFLAGS) ./...

# guardsql's overhead on SELECT 1 against an in-memory SQLite, side by
# side with go-sqlite3 alone and interleaved (the "ratio" metric:
# guardsql's time over go-sqlite3's; the control's is the method's bias).
.PHONY: bench-guardsql
bench-guardsql:
	cd tests/binding && $(GO) test -run '^$$' -bench 'Select1' -benchmem -count $(BENCHCOUNT) -timeout 30m .

# The guard packages and tests/ under the race detector; -short skips the
# 10,000-repeat loops.
test-race:
	$(GO) test -count=1 -race -short $(TESTLDFLAGS) ./guard/... ./tests/...

# The C API on its own: tests/c/capi_test.c linked against libcgoguard.a,
# built and run, then test-examples-c.
test-c: lib
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -Iinclude tests/c/capi_test.c libcgoguard.a -o $(BUILD)/capi_test
	$(BUILD)/capi_test
	$(MAKE) test-examples-c

# The C examples, built against libcgoguard.a alone and run; each must exit 0
# and print its summary line (no stdin: they read only pipes they create).
test-examples-c: lib
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -Iinclude examples/c/crashes.c libcgoguard.a -o $(BUILD)/crashes
	$(CC) $(CFLAGS) -Iinclude -pthread examples/c/timeout.c libcgoguard.a -o $(BUILD)/timeout
	@for p in crashes timeout; do \
		echo "$(BUILD)/$$p"; \
		$(BUILD)/$$p </dev/null >$(BUILD)/$$p.out 2>&1; st=$$?; cat $(BUILD)/$$p.out; \
		if [ $$st -ne 0 ]; then echo "$$p: exit status $$st"; exit 1; fi; \
		if grep -q FAIL $(BUILD)/$$p.out; then echo "$$p: a FAIL line"; exit 1; fi; \
	done
	@grep -qx 'crashes: 8 of 8 faults caught as expected; recovered counter 8' $(BUILD)/crashes.out || \
		{ echo "crashes: no summary line saying all 8 were caught"; exit 1; }
	@test "$$(grep -c '^ok ' $(BUILD)/crashes.out)" -eq 8 || { echo "crashes: not 8 ok lines"; exit 1; }
	@grep -qx 'timeout: all [0-9]* checks as expected' $(BUILD)/timeout.out || \
		{ echo "timeout: no summary line saying all checks were as expected"; exit 1; }

# Other platforms must build and report ErrUnsupported.
test-cross:
	GOOS=linux GOARCH=arm64 $(GO) build ./guard/... ./examples/...
	GOOS=darwin GOARCH=arm64 $(GO) build ./guard/... ./examples/...
	GOOS=windows GOARCH=amd64 $(GO) build ./guard/... ./examples/...
	CGO_ENABLED=0 $(GO) build ./guard/... ./examples/...
	CGO_ENABLED=0 $(GO) test -count=1 ./guard/ ./guard/guardhttp/

# Costs side by side, in one run of the tests/bench module (its own go.mod:
# go-plugin stays out of the library's): raw cgo, guarded calls, the
# seed-style wrapper, fault and interrupt round trips, go-plugin calls and
# crash restarts, and goroutine scaling; BENCHCOUNT runs each. cmd/ratios
# then prints the medians and the ratios to the raw cgo call, and
# cmd/sigfloor what one system call and one bare signal round trip cost on
# this machine (also in thread CPU time), cmd/firstuse what the first uses
# cost in a fresh process, and cmd/cpucost the main calls in thread CPU
# time, interleaved (robust to a loaded machine). Last, interrupt lateness over 10,000 timed-out calls, idle and
# with both cores busy (beside Go's own timer at the same deadlines),
# cancellation latency around the lazy threshold, deadlines at scale (2,000
# blocked calls, steady and storm), the fault round trip with crash
# dump captures on and with a dump written, and guardhttp's trivial request
# bare and guarded. It prints the load before and after (the machine may be
# shared: keep both with the numbers, docs/benchmarks.md), then runs
# bench-supervise and bench-guardsql.
BENCHMOD   := tests/bench
BENCHOUT   := $(CURDIR)/$(BUILD)/bench.txt
BENCHCOUNT ?= 5

bench:
	@mkdir -p $(BUILD)
	@echo "load before: $$(uptime)"
	cd $(BENCHMOD) && $(GO) build -o $(CURDIR)/$(BUILD)/benchplugin ./plugin
	(cd $(BENCHMOD) && $(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) -timeout 60m $(TESTLDFLAGS) . \
		-args -plugin=$(CURDIR)/$(BUILD)/benchplugin; echo $$? >$(BENCHOUT).rc) | tee $(BENCHOUT); exit $$(cat $(BENCHOUT).rc)
	cd $(BENCHMOD) && $(GO) run ./cmd/ratios $(BENCHOUT)
	cd $(BENCHMOD) && $(GO) run ./cmd/sigfloor
	cd $(BENCHMOD) && $(GO) build -o $(CURDIR)/$(BUILD)/firstuse ./cmd/firstuse && $(CURDIR)/$(BUILD)/firstuse
	cd $(BENCHMOD) && $(GO) build -o $(CURDIR)/$(BUILD)/cpucost ./cmd/cpucost && $(CURDIR)/$(BUILD)/cpucost -rounds 9 -n 1000000
	$(GO) test -run '^$$' -bench 'InterruptLateness' -benchtime 10000x ./tests/
	$(GO) test -run '^$$' -bench 'CancelLatency' -benchtime 500x ./tests/
	$(GO) test -run '^$$' -bench 'DeadlineScale' -benchtime 1x -timeout 30m ./tests/
	$(GO) test -run '^$$' -bench 'FaultRecover' -count 3 $(TESTLDFLAGS) ./tests/
	$(GO) test -run '^$$' -bench 'Trivial' -count 5 ./guard/guardhttp/
	@echo "load after: $$(uptime)"
	$(MAKE) bench-supervise
	$(MAKE) bench-guardsql

# guard/supervise with examples/service under 16 clients: requests/s steady
# and with a SIGHUP every second, SIGHUP to the new worker answering, the
# idle master's RSS and CPU (docs/supervise.md, Figures).
bench-supervise:
	@mkdir -p $(BUILD)
	($(GO) test -count=1 -run 'TestSuperviseFigures' -v -timeout 10m $(TESTLDFLAGS) ./tests/ -args -supervise-figures; \
		echo $$? >$(BUILD)/bench-supervise.rc) | tee $(BUILD)/bench-supervise.txt; exit $$(cat $(BUILD)/bench-supervise.rc)

# Vet, and so compile, the tests/bench module without running a benchmark
# (make test runs this; make bench runs the benchmarks).
.PHONY: test-bench-build
test-bench-build:
	cd $(BENCHMOD) && $(GO) vet ./...

# Refresh the csrc/ digest in guard/csrc_linux_amd64.c after editing csrc/ or include/.
digest:
	@d=$$(for f in $$(ls csrc/* include/* | LC_ALL=C sort); do printf '%s\n' "$$f"; cat "$$f"; done | sha256sum | cut -d' ' -f1); \
	sed -i "s/csrc digest: .*/csrc digest: $$d/" guard/csrc_linux_amd64.c; echo "csrc digest: $$d"

clean:
	rm -rf $(BUILD) libcgoguard.a
