package guard

import (
	"time"

	"github.com/cgoguard/cgoguard/guard/internal/optinfo"
)

// What guard/guardsql needs to know of its options (guard/internal/optinfo).
func init() {
	optinfo.IsTimeout = func(o any) bool {
		_, ok := o.(timeoutOption)
		return ok
	}
	optinfo.Settings = func(opts any) (time.Duration, time.Duration, error) {
		c := buildConfig(opts.([]Option))
		return c.timeout, c.grace, c.err
	}
}
