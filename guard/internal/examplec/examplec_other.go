//go:build !(linux && amd64 && cgo)

// Package examplec supplies the C functions of the guard package's
// examples; they exist only on linux/amd64 with cgo, where the examples
// run.
package examplec
