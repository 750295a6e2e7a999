package guard

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Crash dumps.
//
// With a dump directory set (SetDumpDir for the process, WithDumpDir for
// one call), every recovered fault and every forced interrupt (an interrupt
// that stopped the thread in user code, see WithGrace) writes a minidump: the
// Breakpad/Crashpad file format, which LLDB (lldb -c FILE), Breakpad's
// minidump_stackwalk and other crash tools read. A dump holds the thread's
// registers (general, x87/SSE), a copy of up to 64 KiB of its stack from
// just below SP, the code around PC, the list of loaded objects with their
// ELF build ids, and the process's /proc/self/maps and /proc/self/status.
// The signal handler copies what the unwind would overwrite into memory
// mapped in advance (8 slots; a fault that finds them all in use gets no
// dump); the file is written after the unwind, on the calling goroutine,
// before the call returns.
//
// Dumps are bounded (DumpLimits): at most one per MinInterval in the
// process (the rest are skipped, and say so in DumpErr), and in each
// directory at most MaxFiles files and MaxBytes bytes of cgoguard's dumps,
// the oldest removed first. Files are named cgoguard-PID-TIME-TID-SEQ.dmp
// and appear whole (written under a temporary name, then renamed).

// ErrDumpDirUnsafe matches the error of a dump directory that anyone but
// the process could read or change (SetDumpDir, WithDumpDir) and the
// DumpErr of a dump not written there: after its symlinks are resolved,
// the directory must be owned by the process's effective uid and writable
// by no one else (no group or other write bit). A dump holds raw memory.
var ErrDumpDirUnsafe = errors.New("guard: unsafe crash dump directory")

// ErrDumpSkipped matches the DumpErr of a fault whose dump was not written
// on purpose: the rate limit, or no capture slot free.
var ErrDumpSkipped = errors.New("guard: crash dump skipped")

// DumpLimits bound the crash dumps written.
type DumpLimits struct {
	// MaxFiles is how many dumps a directory keeps; older ones are removed.
	MaxFiles int
	// MaxBytes bounds the total size of the dumps kept in a directory.
	MaxBytes int64
	// MinInterval is the least time between two dumps in the process;
	// dumps due sooner are skipped. 0 writes every one.
	MinInterval time.Duration
}

// DefaultDumpLimits returns the limits in force until SetDumpLimits is
// called: 16 files, 64 MiB, one dump a second. A dump is typically 40-300
// KiB. SetDumpLimits(DefaultDumpLimits()) puts them back.
func DefaultDumpLimits() DumpLimits {
	return DumpLimits{MaxFiles: 16, MaxBytes: 64 << 20, MinInterval: time.Second}
}

var dumps = struct {
	mu     sync.Mutex // serializes writing and pruning
	dir    string     // process-wide; "" for none
	limits DumpLimits
	last   time.Time // when the last dump was written
	seq    uint64
}{limits: DefaultDumpLimits()}

// SetDumpDir sets the directory where every recovered fault and forced
// interrupt in the process writes a crash dump; "" stops them (calls with
// WithDumpDir still write theirs). The directory is created (mode 0700) if
// it does not exist. After its symlinks are resolved it must be owned by
// the process's effective uid and writable by no one else, or SetDumpDir
// returns an error matching ErrDumpDirUnsafe; every dump checks again, and
// a dump whose directory fails the check is not written (DumpErr says
// why).
func SetDumpDir(dir string) error {
	if dir != "" {
		if err := prepareDumpDir(dir); err != nil {
			return err
		}
	}
	dumps.mu.Lock()
	dumps.dir = dir
	dumps.mu.Unlock()
	return nil
}

// DumpDir returns the process-wide dump directory ("" for none).
func DumpDir() string {
	dumps.mu.Lock()
	defer dumps.mu.Unlock()
	return dumps.dir
}

// SetDumpLimits changes the limits for every dump written after it
// returns; each field must be positive except MinInterval, which may be 0.
func SetDumpLimits(l DumpLimits) error {
	if l.MaxFiles <= 0 || l.MaxBytes <= 0 || l.MinInterval < 0 {
		return fmt.Errorf("guard: SetDumpLimits(%+v): MaxFiles and MaxBytes must be positive, MinInterval not negative", l)
	}
	dumps.mu.Lock()
	dumps.limits = l
	dumps.mu.Unlock()
	return nil
}

// WithDumpDir makes this call write a crash dump into dir when it faults or
// is forced at its deadline, whatever SetDumpDir says; WithDumpDir("")
// writes none for this call. The directory is created (mode 0700) when the
// option is made; if that fails, or the directory fails SetDumpDir's
// ownership and mode check, calls given the option return the error.
func WithDumpDir(dir string) Option {
	var err error
	if dir != "" {
		err = prepareDumpDir(dir)
	}
	return optionFunc(func(c callConfig) callConfig {
		if err != nil {
			c.err = err
			return c
		}
		c.dumpDir, c.dumpDirSet = dir, true
		return c
	})
}

func prepareDumpDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("guard: dump directory: %w", err)
	}
	d, err := openDumpDir(dir)
	if err != nil {
		return err
	}
	d.close()
	if err := enableCapture(); err != nil {
		return err
	}
	return nil
}

// dumpDirFor is where the call configured by c (nil: the defaults) writes
// its dumps.
func dumpDirFor(c *callConfig) string {
	if c != nil && c.dumpDirSet {
		return c.dumpDir
	}
	dumps.mu.Lock()
	defer dumps.mu.Unlock()
	return dumps.dir
}

// saveDump writes a dump into dir through write, within the limits, and
// returns its path.
func saveDump(dir string, tid int, write func(*os.File) error) (string, error) {
	dumps.mu.Lock()
	defer dumps.mu.Unlock()
	now := time.Now()
	if l := dumps.limits.MinInterval; l > 0 && !dumps.last.IsZero() && now.Sub(dumps.last) < l {
		stats.dumpsSkipped.Add(1)
		return "", fmt.Errorf("%w: less than %v since the last dump (DumpLimits.MinInterval)", ErrDumpSkipped, l)
	}
	d, err := openDumpDir(dir)
	if err != nil {
		stats.dumpsSkipped.Add(1)
		return "", fmt.Errorf("guard: crash dump not written: %w", err)
	}
	defer d.close()
	dumps.seq++
	name := fmt.Sprintf("%s%d-%s-%d-%d%s", dumpPrefix, os.Getpid(),
		now.UTC().Format("20060102T150405.000000000"), tid, dumps.seq, dumpSuffix)
	path := filepath.Join(dir, name)
	var tmp *os.File
	var tmpName string
	for i := 0; ; i++ {
		tmpName = fmt.Sprintf(".cgoguard-dump-%d-%d", os.Getpid(), rand.Uint64())
		if tmp, err = d.create(tmpName); err == nil || !errors.Is(err, os.ErrExist) || i == 9 {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("guard: crash dump: %w", err)
	}
	err = write(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.publish(tmpName, name)
	}
	if err != nil {
		d.remove(tmpName)
		return "", fmt.Errorf("guard: crash dump: %w", err)
	}
	dumps.last = now
	stats.dumpsWritten.Add(1)
	pruneDumps(dir, path, dumps.limits)
	return path, nil
}

const (
	dumpPrefix = "cgoguard-"
	dumpSuffix = ".dmp"
)

// pruneDumps removes the oldest of cgoguard's dumps in dir until the limits
// hold; keep (the dump just written) is never removed. Names sort by time
// within one process; across processes, modification times decide.
func pruneDumps(dir, keep string, l DumpLimits) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type dump struct {
		path string
		size int64
		mod  time.Time
	}
	var all []dump
	var total int64
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, dumpPrefix) || !strings.HasSuffix(name, dumpSuffix) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		all = append(all, dump{filepath.Join(dir, name), info.Size(), info.ModTime()})
		total += info.Size()
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].mod.Equal(all[j].mod) {
			return all[i].mod.Before(all[j].mod)
		}
		return all[i].path < all[j].path
	})
	n := len(all)
	for _, d := range all {
		if n <= l.MaxFiles && total <= l.MaxBytes {
			break
		}
		if d.path == keep {
			continue
		}
		if os.Remove(d.path) == nil {
			n--
			total -= d.size
		}
	}
}
