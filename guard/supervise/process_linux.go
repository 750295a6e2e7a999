package supervise

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cgoguard/cgoguard/guard/supervise/internal/handoff"
)

// The process plumbing: starting a worker with its descriptors and
// environment, and the one goroutine that waits for it (reap_linux.go
// reaps the orphans re-parented to the master).

// executablePath is the path the master was started from, made absolute
// but with symbolic links kept, so that a worker started later runs
// whatever is at that path then (a new build renamed into place, or a
// symbolic link switched to a new release). Without a usable argv[0], it is
// the running executable's path.
func executablePath() (string, error) {
	a := os.Args[0]
	if !strings.Contains(a, "/") {
		if p, err := exec.LookPath(a); err == nil {
			a = p
		}
	}
	if strings.Contains(a, "/") {
		if abs, err := filepath.Abs(a); err == nil {
			if fi, err := os.Stat(abs); err == nil && fi.Mode().IsRegular() {
				return abs, nil
			}
		}
	}
	return os.Executable()
}

// spawn starts a worker as m.next.
func (m *master) spawn() error {
	m.gen++
	ctrl, theirs, err := handoff.ControlPair()
	if err != nil {
		return err
	}
	files := []*os.File{theirs}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, l := range m.ls {
		f, err := handoff.DupListener(l)
		if err != nil {
			ctrl.Close()
			return fmt.Errorf("supervise: %w", err)
		}
		files = append(files, f)
	}
	cmd := exec.Command(m.exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(handoff.Strip(os.Environ()), handoff.WorkerEnv(len(m.ls)))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = files
	// Its own process group: a terminal's Ctrl-C reaches the master alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		ctrl.Close()
		return fmt.Errorf("supervise: starting a worker: %w", err)
	}
	p := &proc{pid: cmd.Process.Pid, gen: m.gen, cmd: cmd, ctrl: ctrl, started: time.Now()}
	m.live[p] = true
	m.next = p
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(ctrl)
		for sc.Scan() {
			m.post(event{kind: evMsg, p: p, msg: sc.Text()})
		}
	}()
	go func() {
		err := cmd.Wait()
		// The worker's messages come before its exit (its end of the
		// socket closed with it, unless a child it left holds it).
		select {
		case <-read:
		case <-time.After(time.Second):
		}
		m.post(event{kind: evExit, p: p, err: err})
	}()
	p.timers = append(p.timers, time.AfterFunc(m.c.StartTimeout, func() {
		m.post(event{kind: evStartTimeout, p: p})
	}))
	m.logf("started worker pid %d (generation %d)", p.pid, p.gen)
	return nil
}

// closeOnExecAll sets FD_CLOEXEC on every descriptor above standard error.
func closeOnExecAll() {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}
