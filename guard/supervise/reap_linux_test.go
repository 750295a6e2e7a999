package supervise

import (
	"bytes"
	"errors"
	"github.com/cgoguard/cgoguard/internal/testbuf"
	"log"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// procState is pid's state letter from /proc (Z: a zombie), "" if there is
// no such process.
func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	if f := strings.Fields(string(b[i+1:])); len(f) > 0 {
		return f[0]
	}
	return ""
}

func waitZombie(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for procState(pid) != "Z" {
		if time.Now().After(deadline) {
			failHung(t, "pid %d: state %q after %v, want a zombie", pid, procState(pid), waitTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReapOrphans, with real child processes of the test: a child that is
// no worker's (started with syscall.ForkExec, so nothing in Go waits for
// it) is reaped once it has exited, and its status logged. A worker's
// zombie is left to the worker's own Wait, which gets its exit status;
// while it is there the master looks again on the next tick; and an orphan
// behind it is reaped once that Wait has taken it.
func TestReapOrphans(t *testing.T) {
	var out testbuf.Buffer
	c := &Config{Addrs: []string{":0"}, Logger: log.New(&out, "", 0)}
	c.setDefaults()
	m := newMaster(c)

	// Nothing to reap: no error, nothing pending.
	m.reapOrphans()
	if m.reapPending {
		t.Fatal("pending with no child")
	}

	orphan := func(code int) int {
		t.Helper()
		pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "exit " + strconv.Itoa(code)},
			&syscall.ProcAttr{Files: []uintptr{0, 1, 2}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if procState(pid) != "" {
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			}
		})
		return pid
	}

	// One orphan.
	o1 := orphan(3)
	waitZombie(t, o1)
	m.reapOrphans()
	if s := procState(o1); s != "" {
		t.Errorf("orphan pid %d: state %q after reapOrphans, want gone", o1, s)
	}
	if want := "reaped orphan pid " + strconv.Itoa(o1) + " (exit status 3)"; !strings.Contains(out.String(), want) {
		t.Errorf("log %q, want %q", out.String(), want)
	}
	if m.reapPending {
		t.Error("pending after the only orphan was reaped")
	}

	// A worker's zombie, and an orphan's.
	cmd := exec.Command("/bin/sh", "-c", "exit 7")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &proc{pid: cmd.Process.Pid, cmd: cmd}
	m.live[w] = true
	o2 := orphan(4)
	waitZombie(t, w.pid)
	waitZombie(t, o2)
	m.reapOrphans()
	if !m.reapPending {
		t.Error("not pending with a worker's zombie in the way")
	}
	if s := procState(w.pid); s != "Z" {
		t.Fatalf("worker pid %d: state %q, want a zombie left to its Wait", w.pid, s)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var ee *exec.ExitError
	if err := await(t, waited, waitTimeout, "the worker's Wait"); !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("the worker's Wait: %v, want exit status 7", err)
	}
	delete(m.live, w)
	m.reapOrphans() // the next tick
	if s := procState(o2); s != "" {
		t.Errorf("orphan pid %d: state %q after the worker's Wait and reapOrphans, want gone", o2, s)
	}
	if m.reapPending {
		t.Error("pending with no zombie left")
	}
	if strings.Contains(out.String(), "reaped orphan pid "+strconv.Itoa(w.pid)+" ") {
		t.Error("the worker's exit was reaped as an orphan's")
	}
	t.Logf("log:\n%s", out.String())
}
