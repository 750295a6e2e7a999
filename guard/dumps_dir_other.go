//go:build !linux

package guard

import (
	"os"
	"path/filepath"
)

// dumpDir is a dump directory. Dumps are only written on linux/amd64; here
// the directory is used by path, without the ownership checks.
type dumpDir struct{ path string }

func openDumpDir(dir string) (*dumpDir, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	return &dumpDir{path: dir}, nil
}

func (d *dumpDir) close() {}

func (d *dumpDir) create(name string) (*os.File, error) {
	return os.OpenFile(filepath.Join(d.path, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

func (d *dumpDir) publish(tmp, name string) error {
	return os.Rename(filepath.Join(d.path, tmp), filepath.Join(d.path, name))
}

func (d *dumpDir) remove(name string) { os.Remove(filepath.Join(d.path, name)) }
