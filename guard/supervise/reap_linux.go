package supervise

import (
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// Reaping: as pid 1, or with Config.Reap (a child subreaper), the master
// waits for the orphans re-parented to it, so that they do not stay zombies.
// It looks on SIGCHLD, then on every tick while a worker's zombie is in the
// way, and once a second in case a SIGCHLD was lost in a full signal
// channel; each look is a waitid(WNOHANG|WNOWAIT) on any child, which costs
// one system call, not a read of /proc.

// reapOrphans waits for the zombies among this process's children that are
// not workers. A worker's zombie is left to that worker's own Wait (this
// runs on the goroutine that starts workers, so a worker's pid is in m.live
// before it can be seen here, and leaves m.live only after its Wait has
// returned). The kernel shows one waitable child at a time; while that is a
// worker's, those behind it cannot be seen, and m.reapPending asks for
// another look on the next tick, by which time its Wait will have taken it.
func (m *master) reapOrphans() {
	m.reapPending, m.reapedAt = false, time.Now()
	// Bounded, in case a child shown as waitable cannot be waited for.
	for range 1000 {
		pid, err := waitableChild()
		if err != nil || pid == 0 {
			return // no children (ECHILD), or none has exited
		}
		if m.isWorker(pid) {
			m.reapPending = true
			return
		}
		var ws syscall.WaitStatus
		if n, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); err == nil && n == pid {
			m.logf("reaped orphan pid %d (%s)", pid, waitStatus(ws))
		}
	}
	m.reapPending = true
}

func (m *master) isWorker(pid int) bool {
	for p := range m.live {
		if p.pid == pid {
			return true
		}
	}
	return false
}

// waitableChild returns the pid of a child of this process that has
// exited and not been waited for, without waiting for it (0: none).
func waitableChild() (int, error) {
	const pAll = 0 // P_ALL
	// siginfo_t: si_signo, si_errno, si_code, then a union aligned as a
	// pointer; for SIGCHLD it begins with si_pid.
	var info [128 / 8]uint64
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pAll, 0, uintptr(unsafe.Pointer(&info[0])),
			syscall.WEXITED|syscall.WNOHANG|syscall.WNOWAIT, 0, 0)
		switch e {
		case 0:
			return int(*(*int32)(unsafe.Add(unsafe.Pointer(&info[0]), siPidOffset))), nil
		case syscall.EINTR:
			continue
		default:
			return 0, e
		}
	}
}

// siPidOffset is si_pid's offset in siginfo_t: 16 on 64-bit systems, 12
// on 32-bit ones.
const siPidOffset = (3*4 + unsafe.Alignof(uintptr(0)) - 1) &^ (unsafe.Alignof(uintptr(0)) - 1)

func waitStatus(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "signal: " + ws.Signal().String()
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}

func setSubreaper() error {
	const prSetChildSubreaper = 36
	_, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	if e != 0 {
		return e
	}
	return nil
}
