//go:build !linux

package supervise

import (
	"context"
	"net"
)

// Run reports ErrUnsupported: supervision needs Linux.
func Run(c Config, serve func(ctx context.Context, ls []net.Listener) error) error {
	return ErrUnsupported
}
