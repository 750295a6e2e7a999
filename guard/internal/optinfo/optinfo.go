// Package optinfo lets the packages of this module that wrap guard calls
// (guard/guardhttp, guard/guardsql) read guard.Options, which are opaque
// outside package guard: which option is a WithTimeout, and what a list of
// options sets. Package guard fills the functions in when it is
// initialized.
package optinfo

import "time"

var (
	// Timeout, given a *[]guard.Option, returns the WithTimeout duration
	// the options carry (0 for none) and the error a Do given them would
	// return without running (a bad option, WithRetries).
	Timeout func(opts any) (time.Duration, error)
	// IsTimeout reports whether o, a guard.Option, is a WithTimeout.
	IsTimeout func(o any) bool
	// Settings returns the timeout (0: none) and grace period a list of
	// guard.Options (a []guard.Option) sets, and the error a guarded call
	// given them would return for a bad option.
	Settings func(opts any) (timeout, grace time.Duration, err error)
)
