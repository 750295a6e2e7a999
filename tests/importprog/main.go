// Command importprog shows what importing the guard package changes before
// any call: nothing. It prints the SIGSEGV and timeout-signal handlers and
// whether the watchdog thread exists, before and after first use.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// handler returns the address of sig's current handler.
func handler(sig unix.Signal) uintptr {
	var old [4]uintptr // struct kernel_sigaction: handler, flags, restorer, mask
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		return 0
	}
	return old[0]
}

func watchdog() bool {
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		b, _ := os.ReadFile("/proc/self/task/" + t.Name() + "/comm")
		if strings.TrimSpace(string(b)) == "cgoguard-wd" {
			return true
		}
	}
	return false
}

func report(when string) {
	fmt.Printf("%s: segv=%#x timeout=%#x watchdog=%v\n", when, handler(unix.SIGSEGV), handler(unix.Signal(guard.TimeoutSignal())), watchdog())
}

func main() {
	report("imported")
	if err := guard.Call(payload.Empty, nil); err != nil {
		panic(err)
	}
	report("after Call")
	if err := guard.Call(payload.Empty, nil, guard.WithTimeout(time.Second)); err != nil {
		panic(err)
	}
	time.Sleep(10 * time.Millisecond)
	report("after deadline")
}
