package supervise

import (
	"fmt"
	"os"
	"path/filepath"
)

// writePIDFile writes pid to path atomically: to a new file under a
// temporary name in the same directory, then renamed over path, so that a
// reader (a service manager, a script sending SIGHUP) sees either the old
// file or the whole new one, never an empty or partial one. The file is
// mode 0644 whatever the umask (os.CreateTemp creates 0600; a pid file is
// for others to read).
func writePIDFile(path string, pid int) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%d\n", pid); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
