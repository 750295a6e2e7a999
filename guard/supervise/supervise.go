// Package supervise runs a service as two processes from one binary: a
// small master that holds the listening sockets and keeps one pid for the
// life of the service, and a worker that serves on inherited copies of them
// and can be replaced without refusing or dropping a connection.
//
// A service calls Run first thing in main:
//
//	func main() {
//		err := supervise.Run(supervise.Config{Addrs: []string{":8080"}},
//			func(ctx context.Context, ls []net.Listener) error {
//				supervise.RestartOnTaint(5, 10*time.Minute)
//				srv := &http.Server{Handler: mux}
//				supervise.Ready()
//				return supervise.ServeHTTP(ctx, srv, ls...)
//			})
//		if err != nil {
//			log.Fatal(err)
//		}
//	}
//
// In the master, Run listens, starts the worker and supervises it until
// SIGTERM or SIGINT; serve is not called there, and no cgoguard call is
// made. In the worker, Run calls serve and returns what it returns.
//
// SIGHUP to the master, or Restart in the worker, replaces the worker: the
// master starts a new one from the executable on disk, waits for it to call
// Ready, and only then tells the old one to drain (its ctx is done). A
// worker that dies is restarted with exponential backoff; CrashLoop deaths
// within CrashWindow make Run return an error. Under systemd the master
// sends READY=1, RELOADING=1, STOPPING=1 and WATCHDOG=1, and takes its
// sockets from socket activation.
package supervise

import (
	"errors"
	"log"
	"os"
	"time"
)

// Config configures Run. The master and the worker run the same main, so
// both see the same Config.
type Config struct {
	// Addrs are the addresses to listen on, in the order serve gets the
	// listeners: "host:port" for TCP, "unix:/path" for a Unix socket.
	// Under socket activation (LISTEN_FDS set for this process) the passed
	// sockets are used instead.
	Addrs []string
	// Names, under socket activation, selects and orders the passed
	// sockets by their names (LISTEN_FDNAMES, FileDescriptorName= in the
	// socket unit). Empty: all of them, in the order passed.
	Names []string

	// StartTimeout bounds the time from starting a worker to its Ready
	// (default 30s). A new worker that misses it is killed and the old one
	// kept; a first worker that misses it makes Run return an error.
	StartTimeout time.Duration
	// DrainTimeout bounds a replaced worker's drain (default 10s); the
	// master kills it one second later.
	DrainTimeout time.Duration
	// StopTimeout bounds the drain on SIGTERM or SIGINT (default
	// DrainTimeout). Keep StopTimeout plus one second under Kubernetes'
	// terminationGracePeriodSeconds or systemd's TimeoutStopSec.
	StopTimeout time.Duration

	// Heartbeat, if positive, enables hang detection: a ready worker that
	// reports no progress for this long is sent a request to write its
	// goroutines to stderr, killed, and restarted as a crashed one is. The
	// worker reports progress while it has no work in flight (see Busy) or
	// finishes some; Alive, if set, decides instead. Make Heartbeat longer
	// than the longest request.
	Heartbeat time.Duration
	// Alive, if set, is asked in the worker every Heartbeat/4 whether to
	// report progress.
	Alive func() bool

	// CrashLoop worker deaths within CrashWindow make Run return an error
	// (defaults 5 and 1m).
	CrashLoop   int
	CrashWindow time.Duration
	// MinBackoff and MaxBackoff bound the delay before a dead worker is
	// restarted (defaults 100ms and 10s); it doubles with each death and
	// starts over after a worker has lived MaxBackoff.
	MinBackoff, MaxBackoff time.Duration

	// PIDFile, if set, is written with the master's pid and removed when
	// Run returns. It is written atomically (a temporary file in the same
	// directory, renamed over it), mode 0644.
	PIDFile string
	// Forward are the signals the master passes on to the serving worker
	// (default SIGUSR1 and SIGUSR2). SIGHUP, SIGTERM, SIGINT, SIGCHLD,
	// SIGPIPE, SIGURG, SIGKILL and SIGSTOP are refused.
	Forward []os.Signal
	// Reap makes the master a child subreaper that reaps the orphans
	// re-parented to it. It does so anyway when it runs as pid 1.
	Reap bool

	// Logger receives the master's and the worker's supervision messages
	// (default: standard error with the prefix "supervise: ").
	Logger *log.Logger
}

// ErrUnsupported is returned by Run on systems other than Linux.
var ErrUnsupported = errors.New("supervise: not supported on this system")

// Errors a worker's context is cancelled with (context.Cause).
var (
	// ErrDrain: the master asked the worker to drain (a restart or a stop).
	ErrDrain = errors.New("supervise: draining at the master's request")
	// ErrOrphaned: the master is gone.
	ErrOrphaned = errors.New("supervise: draining: the master is gone")
	// ErrSignaled: the worker itself got SIGTERM or SIGINT.
	ErrSignaled = errors.New("supervise: draining on a signal")
)
