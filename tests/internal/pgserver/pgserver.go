// Package pgserver starts the PostgreSQL server the tests talk to: initdb
// into a temporary directory, the postgres binary run as the 'postgres'
// user when the tests run as root (the server refuses to run as root),
// listening on 127.0.0.1 only. tests/pg_test.go starts one per test,
// tests/odbc one for its package.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Bounds on everything Start and Stop wait for: a hang is an error.
const (
	InitdbTimeout = 60 * time.Second
	ReadyTimeout  = 30 * time.Second
	StopTimeout   = 10 * time.Second
)

// ErrNoServer is Start's error when the server's binaries are not
// installed.
var ErrNoServer = errors.New("no PostgreSQL server binaries (initdb, postgres, pg_isready) under /usr/lib/postgresql/*/bin: install the Debian package 'postgresql' (make deps does)")

// Server is a running PostgreSQL server.
type Server struct {
	Port int    // on 127.0.0.1
	Dir  string // temporary: data/, sock/, server.log; Stop removes it

	cmd  *exec.Cmd
	done chan struct{} // closed when the postmaster has exited
	log  string
}

// Options are Start's settings.
type Options struct {
	MaxConnections int    // the server's max_connections; 0 is 100
	DirPrefix      string // of the temporary directory's name; "" is "cgoguard-pg-"
}

// ConnInfo is the libpq connection string of the server.
func (s *Server) ConnInfo() string {
	return fmt.Sprintf("host=127.0.0.1 port=%d dbname=postgres user=postgres sslmode=disable gssencmode=disable connect_timeout=10", s.Port)
}

// binDir is the newest /usr/lib/postgresql/*/bin holding initdb, postgres
// and pg_isready.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range dirs {
		ok := true
		for _, b := range []string{"initdb", "postgres", "pg_isready"} {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				ok = false
			}
		}
		if ok {
			return d, nil
		}
	}
	return "", ErrNoServer
}

func major(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// credential is who the server runs as: the 'postgres' system user when
// this process is root, else nil (this process's user).
func credential() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, os.Geteuid(), os.Getegid(), nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("running as root, and there is no 'postgres' user to run the server as (the Debian package 'postgresql' creates it): %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, uid, gid, nil
}

// Start initialises a database cluster and starts a server on it, ready
// for connections when Start returns. Stop it with Stop. The error is
// ErrNoServer when the server is not installed.
func Start(opts Options) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := credential()
	if err != nil {
		return nil, err
	}
	if opts.DirPrefix == "" {
		opts.DirPrefix = "cgoguard-pg-"
	}
	if opts.MaxConnections == 0 {
		opts.MaxConnections = 100
	}
	// Not t.TempDir: that is mode 0700 under a directory of the same mode,
	// which the postgres user cannot enter.
	dir, err := os.MkdirTemp("", opts.DirPrefix)
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, log: filepath.Join(dir, "server.log")}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fail(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return fail(err)
		}
	}
	env := []string{"PATH=" + bin + ":/usr/bin:/bin", "LC_ALL=C", "HOME=" + dir}

	ctx, cancel := context.WithTimeout(context.Background(), InitdbTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "--auth=trust", "-U", "postgres",
		"--no-sync", "--no-instructions", "--locale=C", "-E", "UTF8")
	initdb.Dir, initdb.Env = dir, env
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}

	// A port found free may be taken before the server binds it: try a
	// few.
	for try := 1; ; try++ {
		err := s.start(bin, data, sock, env, cred, opts.MaxConnections)
		if err == nil {
			return s, nil
		}
		if try == 3 || !strings.Contains(s.Log(), "could not bind") {
			return fail(fmt.Errorf("starting postgres: %v\nserver log:\n%s", err, s.Log()))
		}
	}
}

func (s *Server) start(bin, data, sock string, env []string, cred *syscall.Credential, maxConns int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	logf, err := os.Create(s.log)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(s.Port), "-k", sock,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		// A backend whose client went away while it runs a query (the
		// interrupted pg_sleep calls) notices within 50 ms and exits,
		// rather than sleeping on with its connection slot.
		"-c", "client_connection_check_interval=50ms",
		"-c", "max_connections="+strconv.Itoa(maxConns))
	s.cmd.Dir, s.cmd.Env = s.Dir, env
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		Setpgid:    true, // its own process group: kill can kill every process of it
		// If the test binary dies without stopping the server (a panic, a
		// go test -timeout), the server shuts down at once (SIGQUIT is
		// postgres's immediate shutdown) instead of outliving it.
		Pdeathsig: syscall.SIGQUIT,
	}
	done := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child exits,
		// not the process: keep this goroutine, and so its thread, until
		// the server has exited.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(done)
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.cmd.Wait()
	}()
	if err := <-started; err != nil {
		<-done
		return err
	}
	s.done = done

	// Ready when pg_isready says so (it does not need to log in).
	deadline := time.Now().Add(ReadyTimeout)
	for {
		select {
		case <-done:
			return fmt.Errorf("postgres exited: %v", s.cmd.ProcessState)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := exec.CommandContext(ctx, filepath.Join(bin, "pg_isready"), "-q", "-h", "127.0.0.1",
			"-p", strconv.Itoa(s.Port), "-t", "2").Run()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("postgres not ready after %v (pg_isready: %v)", ReadyTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down the way pg_ctl stop -m immediate does
// (SIGQUIT), SIGKILLs its process group if it has not exited within
// StopTimeout (and then says so in its error, with the server's log), and
// removes its directory.
func (s *Server) Stop() error {
	defer os.RemoveAll(s.Dir)
	if s.done == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
		return nil
	case <-time.After(StopTimeout):
	}
	err := fmt.Errorf("postgres did not stop within %v of SIGQUIT: killed it\nserver log:\n%s", StopTimeout, s.Log())
	s.kill()
	return err
}

// kill SIGKILLs the server's process group and waits (StopTimeout at most)
// for the postmaster's exit.
func (s *Server) kill() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(StopTimeout):
	}
}

// Log is the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}
