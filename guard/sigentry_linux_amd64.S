//go:build cgo

#include "../csrc/sigentry_amd64.S"
