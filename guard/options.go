package guard

import "fmt"

// An Option configures one guarded call.
type Option interface {
	apply(*callConfig)
}

type callConfig struct {
	maxFrames int
	err       error // a bad option, returned by the call
}

// DefaultMaxFrames is how many C frames a CrashError keeps by default.
const DefaultMaxFrames = 32

var defaultConfig = callConfig{maxFrames: DefaultMaxFrames}

type optionFunc func(*callConfig)

func (f optionFunc) apply(c *callConfig) { f(c) }

// WithMaxFrames sets how many C frames a CrashError records: 0 records
// none (recovery is then cheaper), more than 64 records 64. A negative n
// makes the call fail with an error.
func WithMaxFrames(n int) Option {
	return optionFunc(func(c *callConfig) {
		switch {
		case n < 0:
			c.err = fmt.Errorf("guard: WithMaxFrames(%d): frame count must not be negative", n)
		case n > maxFramesLimit:
			c.maxFrames = maxFramesLimit
		default:
			c.maxFrames = n
		}
	})
}

const maxFramesLimit = 64

func buildConfig(opts []Option) callConfig {
	c := defaultConfig
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}
