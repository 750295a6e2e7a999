package guard

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"
)

// dumpDir is an opened dump directory that passed the checks: the file
// is created through the descriptor, so a path changed after the check
// (a symlink swapped in) does not move it.
type dumpDir struct {
	fd   int
	path string // as configured
}

// openDumpDir resolves dir's symlinks and opens the directory they lead
// to. It must be owned by the process's effective uid and writable by no
// one else (no group or other write bit): a dump holds raw memory.
func openDumpDir(dir string) (*dumpDir, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("guard: dump directory: %w", err)
	}
	fd, err := syscall.Open(real, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("guard: dump directory %s: %w", real, err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("guard: dump directory %s: %w", real, err)
	}
	where := dir
	if real != filepath.Clean(dir) {
		where = dir + " (" + real + ")"
	}
	euid := os.Geteuid()
	switch {
	case int(st.Uid) != euid:
		err = fmt.Errorf("%w %s: owned by uid %d, not by the process's effective uid %d", ErrDumpDirUnsafe, where, st.Uid, euid)
	case st.Mode&0o022 != 0:
		err = fmt.Errorf("%w %s: writable by its group or by others (mode %#o); make it 0700", ErrDumpDirUnsafe, where, st.Mode&0o7777)
	}
	if err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return &dumpDir{fd: fd, path: dir}, nil
}

func (d *dumpDir) close() { syscall.Close(d.fd) }

// create makes a new file name in the directory, 0600, refusing one that
// exists or is a symlink.
func (d *dumpDir) create(name string) (*os.File, error) {
	fd, err := syscall.Openat(d.fd, name, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: filepath.Join(d.path, name), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(d.path, name)), nil
}

// publish gives the file tmp its final name, which must not exist.
func (d *dumpDir) publish(tmp, name string) error {
	err := linkat(d.fd, tmp, name)
	if err != nil && !errors.Is(err, syscall.EEXIST) {
		// A file system without hard links: the directory is private,
		// so nobody else can have made name.
		err = syscall.Renameat(d.fd, tmp, d.fd, name)
		if err == nil {
			return nil
		}
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: filepath.Join(d.path, tmp), New: filepath.Join(d.path, name), Err: err}
	}
	return syscall.Unlinkat(d.fd, tmp)
}

func (d *dumpDir) remove(name string) { syscall.Unlinkat(d.fd, name) }

// linkat is linkat(2) within the directory fd, following no symlink (the
// syscall package has no wrapper for it).
func linkat(fd int, oldName, newName string) error {
	o, err := syscall.BytePtrFromString(oldName)
	if err != nil {
		return err
	}
	n, err := syscall.BytePtrFromString(newName)
	if err != nil {
		return err
	}
	_, _, e := syscall.Syscall6(syscall.SYS_LINKAT, uintptr(fd), uintptr(unsafe.Pointer(o)),
		uintptr(fd), uintptr(unsafe.Pointer(n)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
