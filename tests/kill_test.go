//go:build linux && amd64

package tests

// A signal another process sends (SIGSEGV or SIGABRT, with kill to the
// process or tgkill to a thread blocked inside a guarded call) is not a
// fault of the guarded call: Go gets it and the process dies as without
// cgoguard. tests/crashprog's sleepers mode blocks goroutines in C and
// waits to be killed; crash_test.go parses Go's report.

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/internal/testbuf"
	"golang.org/x/sys/unix"
)

// sleeperRun starts crashprog sleepers (guarded with install), waits for
// "ready", lets send deliver a signal, and returns how the child ended and
// what it printed.
func sleeperRun(t *testing.T, bin string, install bool, send func(pid int, tids []int) error) (string, syscall.WaitStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	args := []string{"-n", "4", "sleepers"}
	if install {
		args = append([]string{"-install"}, args...)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv("")
	var out testbuf.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var tids []int
	for tids == nil {
		select {
		case err := <-done:
			t.Fatalf("crashprog %v ended before it was ready: %v\n%s", args, err, out.String())
		case <-ctx.Done():
			<-done
			t.Fatalf("crashprog %v: not ready within %v\n%s", args, childTimeout, out.String())
		case <-time.After(5 * time.Millisecond):
		}
		s := out.String()
		if !strings.Contains(s, "\nready\n") {
			continue
		}
		for _, l := range strings.Split(s, "\n") {
			if f, ok := strings.CutPrefix(l, "tids: "); ok {
				for _, w := range strings.Fields(f) {
					n, err := strconv.Atoi(w)
					if err != nil {
						t.Fatalf("bad tids line %q", l)
					}
					tids = append(tids, n)
				}
			}
		}
		if len(tids) != 4 {
			t.Fatalf("want 4 thread ids, got %v\n%s", tids, s)
		}
	}
	if tids[0] != cmd.Process.Pid {
		t.Errorf("sleeper 0 runs on thread %d, want the main thread %d", tids[0], cmd.Process.Pid)
	}
	if err := send(cmd.Process.Pid, tids); err != nil {
		cmd.Process.Kill()
		<-done
		t.Fatalf("sending the signal: %v", err)
	}
	err := <-done
	if ctx.Err() != nil {
		t.Fatalf("crashprog %v: still running %v after the signal\n%s", args, childTimeout, out.String())
	}
	s := out.String()
	return s, waitStatus(t, cmd, err, []byte(s))
}

// checkSentSignal runs the sleepers with and without the guard, sends the
// signal, and checks that both die the same way: Go's fatal report for a
// signal sent by another process, never a recovered guard error.
func checkSentSignal(t *testing.T, sig syscall.Signal, toThread bool) {
	bins := crashprog(t)
	send := func(pid int, tids []int) error {
		if toThread {
			return unix.Tgkill(pid, tids[1], sig) // a sleeper on a thread Go created
		}
		return syscall.Kill(pid, sig)
	}
	name := map[syscall.Signal]string{syscall.SIGSEGV: "SIGSEGV: segmentation violation", syscall.SIGABRT: "SIGABRT: abort"}[sig]
	for _, install := range []bool{true, false} {
		t.Run(fmt.Sprintf("install=%v", install), func(t *testing.T) {
			out, ws := sleeperRun(t, bins.std, install, send)
			what := fmt.Sprintf("%v sent to crashprog sleepers (install=%v)", sig, install)
			if strings.Contains(out, "recovered") {
				t.Fatalf("%s: a guarded call took the sent signal as its own fault (%s)\n%s", what, describe(ws), out)
			}
			wantExit2(t, what, ws, out)
			wantContains(t, what, out, name, "PC=")
			// The thread that got the signal is the one Go reports. tgkill
			// picks it: a sleeper blocked in C, inside guard.Call when
			// installed. kill leaves the choice to the kernel, which gives
			// the signal to the main thread (sleeper 0) unless that thread
			// cannot take it just then (it has another signal pending); it
			// may then land on a thread running Go or the runtime, so there
			// a miss is only logged.
			if !strings.Contains(out, "signal arrived during cgo execution") {
				if toThread {
					t.Fatalf("%s: output lacks %q\n%s", what, "signal arrived during cgo execution", out)
				}
				t.Logf("%s: the signal did not land in C code:\n%s", what, firstLines(out, 12))
				return
			}
			r := parseCrashReport(t, out, name)
			want := []string{"pl_sleep_until"}
			if install {
				want = append(want, "github.com/cgoguard/cgoguard/guard.Call")
			}
			for _, fn := range want {
				if containsString(r.funcs, fn) {
					continue
				}
				if toThread {
					t.Errorf("%s: %s not in the crashing goroutine's frames %q\n%s", what, fn, r.funcs, out)
				} else {
					t.Logf("%s: the signal did not land in a sleeper (%s not in %q)", what, fn, r.funcs)
				}
			}
		})
	}
}

// TestKillSIGSEGVTgkill: SIGSEGV sent with tgkill by another process to a
// thread inside a guarded call (si_code SI_TKILL, foreign si_pid) is not a
// fault of that call: Go gets it and dies as it would without cgoguard.
func TestKillSIGSEGVTgkill(t *testing.T) { checkSentSignal(t, syscall.SIGSEGV, true) }

// TestKillSIGSEGVProcess: the same for SIGSEGV sent to the process with
// kill (si_code SI_USER), which the kernel normally gives to the main
// thread, there blocked in a guarded call.
func TestKillSIGSEGVProcess(t *testing.T) { checkSentSignal(t, syscall.SIGSEGV, false) }

// TestKillSIGABRTTgkill: SIGABRT sent with tgkill by another process to a
// guarded thread is not the guarded code's abort(): "SIGABRT: abort" and
// exit status 2, as without cgoguard.
func TestKillSIGABRTTgkill(t *testing.T) { checkSentSignal(t, syscall.SIGABRT, true) }
