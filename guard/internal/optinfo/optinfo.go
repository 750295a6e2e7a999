// Package optinfo lets guard's own subpackages (guardhttp) read what a list
// of guard options says, without making that part of guard's API.
package optinfo

import "time"

// Timeout is set by package guard when it is initialized. Given a
// *[]guard.Option, it returns the WithTimeout duration the options carry
// (0 for none) and the error a Do given them would return without running
// (a bad option, WithRetries).
var Timeout func(opts any) (time.Duration, error)
