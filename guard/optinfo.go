package guard

import (
	"time"

	"github.com/cgoguard/cgoguard/guard/internal/optinfo"
)

func init() {
	optinfo.Timeout = func(opts any) (time.Duration, error) {
		c := buildConfig(*opts.(*[]Option))
		if c.err == nil && c.retries != 0 {
			c.err = errDoRetries
		}
		return c.timeout, c.err
	}
}
