// Command sigfloor measures what the kernel alone charges on this machine,
// for reading the benchmarks: one system call (getppid), and one SIGSEGV
// delivered to a bare handler that skips the faulting instruction and
// returns (sigreturn), with no guard, no stack walk and no Go involved. A
// guarded fault round trip cannot cost less than the second; the seed-style
// wrapper makes fourteen of the first per call.
//
// Both loops run in C on one thread. The SIGSEGV handler replaces the Go
// runtime's for the duration of the loop only, in this process of its own.
package main

/*
#cgo CFLAGS: -O2
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static double sf_now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

// The thread's CPU time (user and kernel), which a loaded machine's other
// work does not inflate.
static double sf_cpu(void) {
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}
static double sf_fault_cpu;
static double sf_last_fault_cpu(void) { return sf_fault_cpu; }

// A NULL write of known length: movl $42, 0x0 is 11 bytes.
#define SF_INSN_LEN 11
__attribute__((noinline)) static void sf_null_write(void) {
	__asm__ volatile("movl $42, 0x0" ::: "memory");
}

static void sf_skip(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)si;
	((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP] += SF_INSN_LEN;
}

static double sf_syscall_ns(int n) {
	double t = sf_now();
	for (int i = 0; i < n; i++)
		syscall(SYS_getppid);
	return (sf_now() - t) / n;
}

// Returns ns per fault round trip, or -1 if the handler could not be set.
static double sf_fault_ns(int n) {
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = sf_skip;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old) != 0)
		return -1;
	double t = sf_now(), c = sf_cpu();
	for (int i = 0; i < n; i++)
		sf_null_write();
	double ns = (sf_now() - t) / n;
	sf_fault_cpu = (sf_cpu() - c) / n;
	sigaction(SIGSEGV, &old, NULL);
	return ns;
}
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"slices"
)

func main() {
	runtime.LockOSThread()
	const runs = 5
	var sys, fault, faultCPU []float64
	for range runs {
		sys = append(sys, float64(C.sf_syscall_ns(200_000)))
		f := float64(C.sf_fault_ns(20_000))
		if f < 0 {
			fmt.Fprintln(os.Stderr, "sigfloor: sigaction failed")
			os.Exit(1)
		}
		fault = append(fault, f)
		faultCPU = append(faultCPU, float64(C.sf_last_fault_cpu()))
	}
	slices.Sort(sys)
	slices.Sort(fault)
	slices.Sort(faultCPU)
	fmt.Printf("kernel floor (median of %d): system call (getppid) %.0f ns; SIGSEGV to a bare handler and back %.0f ns\n",
		runs, sys[runs/2], fault[runs/2])
	fmt.Printf("kernel floor in thread CPU time (compare with cmd/cpucost): SIGSEGV to a bare handler and back %.0f ns\n", faultCPU[runs/2])
}
