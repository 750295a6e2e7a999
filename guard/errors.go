package guard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// The errors a call returns, one for each thing a caller may do about it;
// the detail (which setup step failed, which Go version) is in the text.
// Besides these, a call returns a *CrashError, an *InterruptError, a
// *NotStartedError, or a plain error naming a bad option.
var (
	// ErrCrash matches every recovered native fault (a *CrashError).
	ErrCrash = errors.New("guard: native crash in guarded C code")
	// ErrTimeout matches every call interrupted at a deadline (WithTimeout
	// or a context deadline): an *InterruptError.
	ErrTimeout = errors.New("guard: deadline exceeded, C call interrupted")
	// ErrUnsupported matches the error of every call on a platform where
	// guarding is not implemented (anything but amd64 Linux with cgo), and
	// ErrRuntimeUnsupported: the function was not run.
	ErrUnsupported = errors.New("guard: guarding C calls is not supported on " + runtime.GOOS + "/" + runtime.GOARCH + " (needs linux/amd64 with cgo)")
	// ErrRuntimeUnsupported is returned by Do and DoContext, without
	// running f, when the Go runtime's cgo boundary does not look as
	// cgoguard expects (a Go release it does not know): Do refuses rather
	// than risk corrupting the process. The error names runtime.Version()
	// and why. It also matches ErrUnsupported; Call, CallContext and
	// CallFunc still work.
	ErrRuntimeUnsupported error = &unsupportedError{"guard: Do is not supported with this Go runtime"}
	// ErrSetup matches the error of a call that did not run because
	// cgoguard could not be set up for it: the signal handlers could not be
	// installed, the thread has no alternate signal stack and none could be
	// made, the C core lies inside the Go text range (its faults could not
	// be told from Go's; -linkmode=internal, which would put it there,
	// does not link a program that imports guard), the watchdog thread could not
	// start, the timeout signal is unusable (SetTimeoutSignal), or Do could
	// not track one more goroutine (no memory, or goroutines spread over
	// more than 4 GiB of heap). The error's text says which. SetTimeoutSignal's errors match it too.
	ErrSetup = errors.New("guard: could not set up the guard")
	// ErrTooDeep is returned, without running the function, by a guard
	// opened while MaxDepth guards are already open on the thread.
	ErrTooDeep = fmt.Errorf("guard: more than %d nested guards on one thread", MaxDepth)
	// ErrNestedDeadline is returned, without running the function, for a
	// call with a deadline or a cancellable context made (through a Go
	// callback, or inside DoContext) inside another such call on the same
	// thread: one deadline per thread at a time. Making the inner call
	// without its own deadline works: the outer one covers it.
	ErrNestedDeadline = errors.New("guard: a call with a deadline inside another call with a deadline on the same thread")
	// ErrNilFunction is returned when the C function pointer (or Do's f)
	// is nil.
	ErrNilFunction = errors.New("guard: nil C function pointer")
	// ErrTooManyArgs is returned by CallFunc for more than 6 arguments.
	ErrTooManyArgs = errors.New("guard: CallFunc takes at most 6 arguments")

	errDoRetries = errors.New("guard: WithRetries is not accepted by Do: running f again is the caller's decision")
)

// The setup failures, each an ErrSetup with its own text.
var (
	errInstall        = &setupError{"guard: could not install signal handlers"}
	errAltStack       = &setupError{"guard: no alternate signal stack for this thread"}
	errLinkMode       = &setupError{"guard: C code linked inside the Go text segment (-linkmode=internal); build with external linking"}
	errTimeoutSignal  = &setupError{"guard: unusable timeout signal (want SIGRTMIN..SIGRTMAX or SIGUSR1/SIGUSR2, set before first use)"}
	errWatchdog       = &setupError{"guard: could not start the watchdog thread"}
	errTooManyRegions = &setupError{"guard: no room to track one more goroutine inside Do"}
)

// setupError is an error matching ErrSetup; msg says what failed.
type setupError struct{ msg string }

func (e *setupError) Error() string { return e.msg }

// Is reports whether target is ErrSetup.
func (e *setupError) Is(target error) bool { return target == ErrSetup }

// runtimeUnsupported is ErrRuntimeUnsupported for this runtime, with why.
func runtimeUnsupported(why error) error {
	return fmt.Errorf("%w (%s): %v", ErrRuntimeUnsupported, runtime.Version(), why)
}

// unsupportedError is ErrRuntimeUnsupported: its own error, matching
// ErrUnsupported too.
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return e.msg }

// Is reports whether target is ErrUnsupported.
func (e *unsupportedError) Is(target error) bool { return target == ErrUnsupported }

// MaxDepth is how many guards may be open at once on one thread.
const MaxDepth = 16

// CrashError describes a native fault recovered by a guard.
type CrashError struct {
	Signal syscall.Signal // SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT
	Code   int            // si_code: e.g. SEGV_MAPERR, or SI_TKILL for abort/raise
	Addr   uintptr        // si_addr for SIGSEGV, SIGBUS, SIGFPE, SIGILL; 0 for SIGABRT
	PC     uintptr        // the faulting instruction
	SP     uintptr        // the stack pointer at the fault
	// Frames are the C frames from the fault up to the guarded function,
	// innermost first. Unsymbolizable frames have only PC set.
	Frames []runtime.Frame
	// Registers of the faulting thread at the fault.
	Registers Registers
	ThreadID  int       // kernel thread id of the thread that faulted
	SenderPID int       // for a signal raised with raise/abort: the process that sent it (this one)
	Depth     int       // 1 for the outermost guard on the thread
	Time      time.Time // when the handler ran
	// Taint says what the fault may have left inconsistent.
	Taint Taint
	// GoStack is the stack of the goroutine that made the call, as
	// runtime.Callers returns it (use runtime.CallersFrames).
	GoStack []uintptr
	// DumpPath is the crash dump written for the fault ("" for none);
	// DumpErr says why none was written when one was due (it matches
	// ErrDumpSkipped when a limit skipped it).
	DumpPath string
	DumpErr  error
}

// Error returns one line: signal and code names, address, and the innermost
// C function with file:line when known.
func (e *CrashError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "guard: %s", signalDescription(e.Signal))
	if name := codeName(e.Signal, e.Code); name != "" {
		fmt.Fprintf(&b, " (%s)", name)
	}
	if e.Signal != syscall.SIGABRT && e.Code > 0 {
		fmt.Fprintf(&b, " addr=%#x", e.Addr)
	}
	fmt.Fprintf(&b, " pc=%#x", e.PC)
	if f, ok := e.innermost(); ok {
		b.WriteString(" in ")
		b.WriteString(f.Function)
		if f.File != "" {
			fmt.Fprintf(&b, " (%s:%d)", f.File, f.Line)
		}
	}
	return b.String()
}

// innermost is the first frame with a function name; for SIGABRT, the
// first one outside the C library's abort machinery (raise, abort, assert,
// the allocator's error report), which is where the program gave up.
func (e *CrashError) innermost() (runtime.Frame, bool) {
	var first *runtime.Frame
	for i := range e.Frames {
		f := &e.Frames[i]
		if f.Function == "" {
			continue
		}
		if first == nil {
			first = f
		}
		if e.Signal != syscall.SIGABRT || !isAbortMachinery(f.Function) {
			return *f, true
		}
	}
	if first != nil {
		return *first, true
	}
	return runtime.Frame{}, false
}

// glibc functions on the way from a failed check to the SIGABRT.
var abortMachinery = []string{
	"__pthread_kill", "pthread_kill", "__GI_raise", "raise", "__GI_abort", "abort",
	"__assert_fail", "__GI___assert_fail", "__assert_perror_fail", "__libc_message",
	"__libc_fatal", "malloc_printerr", "__fortify_fail", "__chk_fail", "__stack_chk_fail",
}

func isAbortMachinery(fn string) bool {
	for _, m := range abortMachinery {
		if fn == m || strings.HasPrefix(fn, m+"_") || strings.HasPrefix(fn, m+".") {
			return true
		}
	}
	return false
}

// Is reports whether target is ErrCrash.
func (e *CrashError) Is(target error) bool { return target == ErrCrash }

// CodeName is the symbolic name of Code for this signal, e.g. "SEGV_MAPERR".
func (e *CrashError) CodeName() string { return codeName(e.Signal, e.Code) }

// Format implements fmt.Formatter: %v and %s print Error(); %+v prints a
// multi-line report: signal, code, address, thread, time, taint, dump,
// registers, the C frames and the Go stack of the caller.
func (e *CrashError) Format(s fmt.State, verb rune) {
	switch {
	case verb == 'v' && s.Flag('+'):
		fmt.Fprintf(s, "%s\n", e.Error())
		fmt.Fprintf(s, "signal:  %s (%d), code %s (%d)", signalName(e.Signal), int(e.Signal), orQuestion(e.CodeName()), e.Code)
		if e.Signal != syscall.SIGABRT && e.Code > 0 {
			fmt.Fprintf(s, ", address %#x", e.Addr)
		}
		if e.SenderPID != 0 {
			fmt.Fprintf(s, ", sent by pid %d", e.SenderPID)
		}
		fmt.Fprintf(s, "\nthread:  %d, guard depth %d, at %s\n", e.ThreadID, e.Depth, e.Time.Format(time.RFC3339Nano))
		writeReportTail(s, e.Taint, e.DumpPath, e.DumpErr, e.Registers, e.Frames, e.GoStack)
	case verb == 'v' || verb == 's':
		fmt.Fprint(s, e.Error())
	case verb == 'q':
		fmt.Fprintf(s, "%q", e.Error())
	default:
		fmt.Fprintf(s, "%%!%c(*guard.CrashError=%s)", verb, e.Error())
	}
}

func orQuestion(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// writeReportTail writes the part of a %+v report that crashes and
// interrupts share.
func writeReportTail(w io.Writer, t Taint, dump string, dumpErr error, r Registers, frames []runtime.Frame, goStack []uintptr) {
	fmt.Fprintf(w, "taint:   %s: %s\n", t.Level, t.Reason)
	if t.Object != "" {
		fmt.Fprintf(w, "object:  %s\n", t.Object)
	}
	switch {
	case dump != "":
		fmt.Fprintf(w, "dump:    %s\n", dump)
	case dumpErr != nil:
		fmt.Fprintf(w, "dump:    none: %v\n", dumpErr)
	}
	fmt.Fprintf(w, "registers:\n")
	for _, line := range strings.Split(r.String(), "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
	fmt.Fprintf(w, "C frames (innermost first):")
	if len(frames) == 0 {
		fmt.Fprintf(w, " none recorded")
	}
	for _, f := range frames {
		name := f.Function
		if name == "" {
			name = "?"
		}
		fmt.Fprintf(w, "\n  %#016x %s", f.PC, name)
		if f.File != "" {
			if f.Line > 0 {
				fmt.Fprintf(w, "\n      %s:%d", f.File, f.Line)
			} else {
				fmt.Fprintf(w, "\n      %s", f.File)
			}
		}
	}
	fmt.Fprintf(w, "\nGo stack of the caller:")
	if len(goStack) == 0 {
		fmt.Fprintf(w, " not recorded")
	}
	it := runtime.CallersFrames(goStack)
	for len(goStack) > 0 {
		f, more := it.Next()
		fmt.Fprintf(w, "\n  %s\n      %s:%d", f.Function, f.File, f.Line)
		if !more {
			break
		}
	}
}

// InterruptError describes a call that was interrupted at its deadline or
// because its context was done. The C function was abandoned where the
// thread stood (see InSyscall and Forced for what that may leave behind).
type InterruptError struct {
	// Err is ErrTimeout for WithTimeout, else ctx.Err() (context.Canceled
	// or context.DeadlineExceeded); Cause is context.Cause(ctx), if any.
	Err, Cause error
	// InSyscall: the thread was blocked in (or entering) a blocking system
	// call; it held no allocator lock, though the C library's own state is
	// whatever it was. Forced: the thread was running user code and was
	// stopped at an arbitrary instruction when its grace period ended: locks
	// it held (the allocator's included) may stay held.
	InSyscall, Forced bool
	Attempts          int           // attempts made (WithRetries)
	Timeout           time.Duration // the per-attempt timeout (WithTimeout), if any
	Signal            syscall.Signal
	PC, SP            uintptr
	Frames            []runtime.Frame // C frames where the thread was stopped, innermost first
	Registers         Registers
	ThreadID          int
	Time              time.Time
	// Taint says what the abandoned call may have left inconsistent.
	Taint Taint
	// GoStack is the stack of the goroutine that made the call.
	GoStack []uintptr
	// DumpPath is the crash dump written for a forced interrupt ("" for
	// none: interrupts in a system call write none); DumpErr as in
	// CrashError.
	DumpPath string
	DumpErr  error
}

// Format implements fmt.Formatter: %v and %s print Error(); %+v prints a
// multi-line report like CrashError's.
func (e *InterruptError) Format(s fmt.State, verb rune) {
	switch {
	case verb == 'v' && s.Flag('+'):
		fmt.Fprintf(s, "%s\n", e.Error())
		how := "blocked in a system call"
		if e.Forced {
			how = "forced in user code after its grace period"
		}
		fmt.Fprintf(s, "stopped: %s, by %s (%d), pc %#x\n", how, signalName(e.Signal), int(e.Signal), e.PC)
		fmt.Fprintf(s, "thread:  %d, attempt %d, at %s\n", e.ThreadID, e.Attempts, e.Time.Format(time.RFC3339Nano))
		writeReportTail(s, e.Taint, e.DumpPath, e.DumpErr, e.Registers, e.Frames, e.GoStack)
	case verb == 'v' || verb == 's':
		fmt.Fprint(s, e.Error())
	case verb == 'q':
		fmt.Fprintf(s, "%q", e.Error())
	default:
		fmt.Fprintf(s, "%%!%c(*guard.InterruptError=%s)", verb, e.Error())
	}
}

func (e *InterruptError) Error() string {
	var b strings.Builder
	b.WriteString("guard: C call interrupted: ")
	b.WriteString(e.Err.Error())
	if e.Cause != nil && e.Cause != e.Err {
		fmt.Fprintf(&b, ": %v", e.Cause)
	}
	switch {
	case e.InSyscall:
		b.WriteString(", in a system call")
	case e.Forced:
		b.WriteString(", forced in user code")
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (%d attempts)", e.Attempts)
	}
	for _, f := range e.Frames {
		if f.Function != "" {
			fmt.Fprintf(&b, " in %s", f.Function)
			if f.File != "" {
				fmt.Fprintf(&b, " (%s:%d)", f.File, f.Line)
			}
			break
		}
	}
	return b.String()
}

// Unwrap returns Err and Cause.
func (e *InterruptError) Unwrap() []error {
	if e.Cause != nil && e.Cause != e.Err {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// Is makes a deadline match both ErrTimeout and context.DeadlineExceeded.
func (e *InterruptError) Is(target error) bool {
	switch target {
	case ErrTimeout:
		return e.Err == ErrTimeout || e.Err == context.DeadlineExceeded
	case context.DeadlineExceeded:
		return e.Err == ErrTimeout || e.Err == context.DeadlineExceeded
	}
	return false
}
