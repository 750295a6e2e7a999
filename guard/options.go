package guard

import (
	"fmt"
	"time"
)

// An Option configures one guarded call.
type Option interface {
	// apply returns c changed by the option. By value: a pointer passed
	// through an interface method escapes, and would cost every call an
	// allocation.
	apply(c callConfig) callConfig
}

type callConfig struct {
	maxFrames  int
	timeout    time.Duration // 0: none
	retries    int
	grace      time.Duration
	dumpDir    string // WithDumpDir
	dumpDirSet bool
	err        error // a bad option, returned by the call
}

// DefaultMaxFrames is how many C frames a CrashError keeps by default.
const DefaultMaxFrames = 32

var defaultConfig = callConfig{maxFrames: DefaultMaxFrames, grace: DefaultGrace}

// DefaultGrace is how long a call that is running user code (not blocked in
// a system call) at its deadline is given to enter a system call before it
// is interrupted wherever it stands. See WithGrace.
const DefaultGrace = 200 * time.Millisecond

type optionFunc func(callConfig) callConfig

func (f optionFunc) apply(c callConfig) callConfig { return f(c) }

// WithMaxFrames sets how many C frames a CrashError records: 0 records
// none (recovery is then cheaper), more than 64 records 64. A negative n
// makes the call fail with an error.
func WithMaxFrames(n int) Option {
	return optionFunc(func(c callConfig) callConfig {
		switch {
		case n < 0:
			c.err = fmt.Errorf("guard: WithMaxFrames(%d): frame count must not be negative", n)
		case n > maxFramesLimit:
			c.maxFrames = maxFramesLimit
		default:
			c.maxFrames = n
		}
		return c
	})
}

const maxFramesLimit = 64

func buildConfig(opts []Option) callConfig {
	c := defaultConfig
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	return c
}

// WithTimeout sets a deadline d from the start of the call. When it passes,
// the one thread running the C function is interrupted (see WithGrace for
// when exactly) and unwinds to the guard point; the call returns an
// *InterruptError matching ErrTimeout and context.DeadlineExceeded. d must
// be positive.
func WithTimeout(d time.Duration) Option { return timeoutOption(d) }

// timeoutOption is a type of its own so that Call can take the common case
// of a single WithTimeout without building a configuration.
type timeoutOption time.Duration

func (d timeoutOption) apply(c callConfig) callConfig {
	if d <= 0 {
		c.err = fmt.Errorf("guard: WithTimeout(%v): the timeout must be positive", time.Duration(d))
		return c
	}
	c.timeout = time.Duration(d)
	return c
}

// WithRetries makes a call that timed out run again, up to n more times,
// each with the full timeout; the error of the last attempt says how many
// ran. Faults and cancellations are not retried. n must not be negative.
func WithRetries(n int) Option {
	return optionFunc(func(c callConfig) callConfig {
		if n < 0 {
			c.err = fmt.Errorf("guard: WithRetries(%d): the count must not be negative", n)
			return c
		}
		c.retries = n
		return c
	})
}

// WithGrace sets what happens when the deadline passes (or the context is
// done) while the C function is running user-space code rather than
// blocking in a system call. Interrupting code at an arbitrary instruction
// can leave its locks held (malloc's, say), so by default (DefaultGrace)
// the thread is left running, and signalled again every millisecond, until
// it enters a blocking system call, where it is unwound; only after d is it
// unwound wherever it stands. 0 unwinds it at once wherever it is; a
// negative d never forces it. A thread blocked in a system call at the
// deadline is always unwound at once.
func WithGrace(d time.Duration) Option {
	return optionFunc(func(c callConfig) callConfig {
		c.grace = d
		return c
	})
}
