package guard

import (
	"context"
	"fmt"
	"time"
)

// NotStartedError is returned when the context was already done before the
// C function could run; the function did not run. It unwraps to the
// context's error (context.Canceled or context.DeadlineExceeded) and to its
// cause when one was given (context.WithCancelCause and friends).
type NotStartedError struct {
	Err   error // ctx.Err()
	Cause error // context.Cause(ctx)
}

func (e *NotStartedError) Error() string {
	if e.Cause != nil && e.Cause != e.Err {
		return fmt.Sprintf("guard: not started: %v: %v", e.Err, e.Cause)
	}
	return fmt.Sprintf("guard: not started: %v", e.Err)
}

// Unwrap returns the context error and its cause.
func (e *NotStartedError) Unwrap() []error {
	if e.Cause != nil && e.Cause != e.Err {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

func contextError(ctx context.Context) error {
	if ctx == nil {
		return fmt.Errorf("guard: nil context")
	}
	if err := ctx.Err(); err != nil {
		return &NotStartedError{Err: err, Cause: context.Cause(ctx)}
	}
	return nil
}

// callTimeout is the timeout of a call starting now: timeout (0: none), or
// less when ctx's deadline comes first; a *NotStartedError when that
// deadline has already passed.
func callTimeout(ctx context.Context, timeout time.Duration) (int64, error) {
	t := int64(timeout)
	if dl, ok := ctx.Deadline(); ok {
		left := int64(time.Until(dl))
		if left <= 0 {
			return 0, &NotStartedError{Err: context.DeadlineExceeded, Cause: context.Cause(ctx)}
		}
		if t <= 0 || left < t {
			t = left
		}
	}
	return t, nil
}
