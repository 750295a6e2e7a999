package supervise

import (
	"errors"
	"log"
	"os"
	"syscall"
	"time"
)

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.StartTimeout, 30*time.Second)
	def(&c.DrainTimeout, 10*time.Second)
	def(&c.StopTimeout, c.DrainTimeout)
	def(&c.CrashWindow, time.Minute)
	def(&c.MinBackoff, 100*time.Millisecond)
	def(&c.MaxBackoff, 10*time.Second)
	if c.CrashLoop <= 0 {
		c.CrashLoop = 5
	}
	if c.Forward == nil {
		c.Forward = []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2}
	}
	if c.Logger == nil {
		c.Logger = log.New(os.Stderr, "supervise: ", log.LstdFlags|log.Lmicroseconds)
	}
}

func (c *Config) check() error {
	if len(c.Addrs) == 0 && os.Getenv("LISTEN_FDS") == "" {
		return errors.New("supervise: no Addrs and no socket activation")
	}
	for _, s := range c.Forward {
		switch s {
		case syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD, syscall.SIGPIPE,
			syscall.SIGURG, syscall.SIGKILL, syscall.SIGSTOP:
			return errors.New("supervise: cannot forward " + s.String())
		}
	}
	return nil
}
