package guard

import (
	"fmt"
	"strings"
	"syscall"
)

// si_code values (Linux, asm-generic/siginfo.h).
const (
	siUser   = 0
	siKernel = 0x80
	siQueue  = -1
	siTkill  = -6
)

var signalDescriptions = map[syscall.Signal]string{
	syscall.SIGSEGV: "SIGSEGV: segmentation violation",
	syscall.SIGBUS:  "SIGBUS: bus error",
	syscall.SIGFPE:  "SIGFPE: floating-point exception",
	syscall.SIGILL:  "SIGILL: illegal instruction",
	syscall.SIGABRT: "SIGABRT: abort",
}

func signalDescription(sig syscall.Signal) string {
	if d, ok := signalDescriptions[sig]; ok {
		return d
	}
	return fmt.Sprintf("signal %d", int(sig))
}

// Per-signal si_code names, indexed by code (1-based).
var codeNames = map[syscall.Signal][]string{
	syscall.SIGSEGV: {"SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR", "SEGV_ACCADI", "SEGV_ADIDERR", "SEGV_ADIPERR", "SEGV_MTEAERR", "SEGV_MTESERR", "SEGV_CPERR"},
	syscall.SIGBUS:  {"BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR", "BUS_MCEERR_AR", "BUS_MCEERR_AO"},
	syscall.SIGFPE:  {"FPE_INTDIV", "FPE_INTOVF", "FPE_FLTDIV", "FPE_FLTOVF", "FPE_FLTUND", "FPE_FLTRES", "FPE_FLTINV", "FPE_FLTSUB", "FPE_FLTUNK", "FPE_CONDTRAP"},
	syscall.SIGILL:  {"ILL_ILLOPC", "ILL_ILLOPN", "ILL_ILLADR", "ILL_ILLTRP", "ILL_PRVOPC", "ILL_PRVREG", "ILL_COPROC", "ILL_BADSTK", "ILL_BADIADDR"},
}

func codeName(sig syscall.Signal, code int) string {
	switch code {
	case siUser:
		return "SI_USER"
	case siKernel:
		return "SI_KERNEL"
	case siQueue:
		return "SI_QUEUE"
	case siTkill:
		return "SI_TKILL"
	}
	if names, ok := codeNames[sig]; ok && code >= 1 && code <= len(names) {
		return names[code-1]
	}
	return fmt.Sprintf("code %d", code)
}

// signalName is the short name: "SIGSEGV", or "SIGRTMIN+3" for a real-time
// signal (glibc's SIGRTMIN is 34).
func signalName(sig syscall.Signal) string {
	if d, ok := signalDescriptions[sig]; ok {
		return d[:strings.IndexByte(d, ':')]
	}
	switch {
	case sig == 10: // Linux's SIGUSR1 (syscall has none on every GOOS)
		return "SIGUSR1"
	case sig == 12:
		return "SIGUSR2"
	case sig >= 34 && sig <= 64:
		return fmt.Sprintf("SIGRTMIN+%d", int(sig)-34)
	}
	return fmt.Sprintf("signal %d", int(sig))
}
