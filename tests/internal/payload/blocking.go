package payload

/*
#include "payload.h"
*/
import "C"

import (
	"errors"
	"unsafe"
)

// Blocker is a C function that never returns on its own.
type Blocker struct {
	Name string
	Fn   unsafe.Pointer
	// Syscall: it waits in a blocking system call (interrupted at once);
	// otherwise it runs user code (interrupted after the grace period).
	Syscall bool
}

// Blockers lists every way of never returning the deadline tests cover.
func Blockers() []Blocker {
	return []Blocker{
		{"read_pipe", C.pl_block_read_pipe, true},
		{"recv_socket", C.pl_block_recv_socket, true},
		{"poll", C.pl_block_poll, true},
		{"select", C.pl_block_select, true},
		{"nanosleep_eintr_loop", C.pl_block_nanosleep, true},
		{"pthread_mutex_lock", C.pl_block_mutex, true},
		{"sem_wait", C.pl_block_sem, true},
		{"pthread_cond_wait", C.pl_block_cond, true},
		{"cpu_loop", C.pl_spin, false},
	}
}

// BlockingSetup creates the pipe, socket pair, held mutex and semaphore the
// blockers wait on.
func BlockingSetup() error {
	if C.pl_blocking_setup() != 0 {
		return errors.New("payload: blocking setup failed")
	}
	return nil
}

// Functions for the deadline tests.
var (
	Spin         = unsafe.Pointer(C.pl_spin)
	MallocLoop   = unsafe.Pointer(C.pl_malloc_loop)
	MallocSpin   = unsafe.Pointer(C.pl_malloc_spin)
	SleepUs      = unsafe.Pointer(C.pl_sleep_us)
	SpinUs       = unsafe.Pointer(C.pl_spin_us)
	ReadPipe     = unsafe.Pointer(C.pl_block_read_pipe)
	SleepSeconds = unsafe.Pointer(C.pl_sleep_seconds)
	// SpinThenBlock spins r.In µs, then blocks in read() forever.
	SpinThenBlock = unsafe.Pointer(C.pl_spin_then_block)
	// PollOnce polls an empty pipe once for r.In ms; Out is poll's result.
	PollOnce = unsafe.Pointer(C.pl_poll_once)
)
