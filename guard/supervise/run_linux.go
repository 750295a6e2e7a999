package supervise

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/cgoguard/cgoguard/guard/supervise/internal/handoff"
)

// Run runs the service. In the master (the process started by the user or
// the service manager) it listens on c.Addrs, runs workers (this same
// executable, with the same arguments) and supervises them; it returns nil
// after a graceful stop on SIGTERM or SIGINT, and an error if it cannot
// listen, if the first worker does not become ready, or on a crash loop.
// serve is never called in the master.
//
// In a worker, Run calls serve with the inherited listeners and a context
// that is done when the worker must drain (context.Cause says why), and
// returns serve's error once serve has returned. serve calls Ready when it
// serves, and returns only when its drain is over (ServeHTTP does both the
// serving and the drain). main should return (exit 0) after Run.
func Run(c Config, serve func(ctx context.Context, ls []net.Listener) error) error {
	c.setDefaults()
	ctrl, ls, isWorker, err := handoff.Inherited()
	if err != nil {
		return fmt.Errorf("supervise: worker: %w", err)
	}
	if isWorker {
		return runWorker(&c, ctrl, ls, serve)
	}
	if err := c.check(); err != nil {
		return err
	}
	m := newMaster(&c)
	return m.run()
}

func runWorker(c *Config, ctrl net.Conn, ls []net.Listener, serve func(context.Context, []net.Listener) error) error {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w := &worker{ctrl: ctrl, logger: c.Logger, cancel: cancel}
	current.Store(w)
	defer ctrl.Close()

	go w.readCtrl(c.DrainTimeout)

	sigc := make(chan os.Signal, 4)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigc)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigc:
				if s == syscall.SIGHUP {
					Restart("SIGHUP to the worker")
					continue
				}
				w.drain(c.StopTimeout, fmt.Errorf("%w: %v", ErrSignaled, s))
			}
		}
	}()
	if c.Heartbeat > 0 {
		go w.heartbeat(ctx, c.Heartbeat, c.Alive)
	}
	err := serve(ctx, ls)
	for _, l := range ls {
		l.Close()
	}
	return err
}
