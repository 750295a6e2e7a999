// Package bench compares cgoguard's guarded calls with a raw cgo call, the
// seed-style per-call wrapper and process isolation with
// github.com/hashicorp/go-plugin, all on the same C functions, in one
// `go test -bench` run (see bench_test.go; `make bench` at the repository
// root runs it and prints the ratios with cmd/ratios). It is a module of its
// own so that the library does not depend on go-plugin.
package bench
