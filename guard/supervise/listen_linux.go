package supervise

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/coreos/go-systemd/v22/activation"
)

// The listening sockets: the master opens them (or takes them from socket
// activation) once, holds them for the life of the service, and passes
// duplicates to every worker.

func listenerAddrs(ls []net.Listener) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.Addr().String())
	}
	return strings.Join(s, ", ")
}

// listen returns the sockets passed by socket activation, or new ones on
// c.Addrs.
func (m *master) listen() ([]net.Listener, error) {
	if files := activation.Files(true); len(files) > 0 {
		var ls []net.Listener
		closeAll := func() {
			for _, l := range ls {
				l.Close()
			}
			for _, f := range files {
				if f != nil {
					f.Close()
				}
			}
		}
		take := func(f *os.File) error {
			l, err := net.FileListener(f)
			if err != nil {
				return fmt.Errorf("supervise: socket activation: %s: %w", f.Name(), err)
			}
			ls = append(ls, l)
			return nil
		}
		if len(m.c.Names) == 0 {
			for i, f := range files {
				if err := take(f); err != nil {
					closeAll()
					return nil, err
				}
				f.Close()
				files[i] = nil
			}
			return ls, nil
		}
		for _, name := range m.c.Names {
			found := false
			for i, f := range files {
				if f != nil && f.Name() == name {
					if err := take(f); err != nil {
						closeAll()
						return nil, err
					}
					f.Close()
					files[i] = nil
					found = true
					break
				}
			}
			if !found {
				closeAll()
				return nil, fmt.Errorf("supervise: socket activation: no socket named %q", name)
			}
		}
		for _, f := range files {
			if f != nil {
				f.Close() // a passed socket not asked for
			}
		}
		return ls, nil
	}
	var ls []net.Listener
	for _, a := range m.c.Addrs {
		network := "tcp"
		if p, ok := strings.CutPrefix(a, "unix:"); ok {
			network, a = "unix", p
		}
		l, err := net.Listen(network, a)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("supervise: %w", err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}
