package guard

import (
	"time"

	"github.com/cgoguard/cgoguard/guard/internal/optinfo"
)

// What guard/guardhttp and guard/guardsql need to know of their options
// (guard/internal/optinfo).
func init() {
	optinfo.Timeout = func(opts any) (time.Duration, error) {
		c := buildConfig(*opts.(*[]Option))
		if c.err == nil && c.retries != 0 {
			c.err = errDoRetries
		}
		return c.timeout, c.err
	}
	optinfo.IsTimeout = func(o any) bool {
		_, ok := o.(timeoutOption)
		return ok
	}
	optinfo.Settings = func(opts any) (time.Duration, time.Duration, error) {
		c := buildConfig(opts.([]Option))
		return c.timeout, c.grace, c.err
	}
}
