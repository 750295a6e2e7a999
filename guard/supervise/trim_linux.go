package supervise

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// trimMappings drops this process's page table entries for the read-only,
// file-backed mappings (the executable's code and read-only data, the
// shared libraries') in which no page is a private copy: their pages stay
// in the page cache, shared with the workers, and fault back in when used.
// The master touches little of the executable after start-up, but the
// kernel maps pages around each fault, so without this its resident size
// is about the whole executable's.
func trimMappings() {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return
	}
	defer f.Close()
	type mapping struct {
		start, end uintptr
		ok         bool
	}
	var cur mapping
	var drop []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if a, b, found := strings.Cut(fields[0], "-"); found && len(fields) >= 5 && !strings.HasSuffix(fields[0], ":") {
			start, err1 := strconv.ParseUint(a, 16, 64)
			end, err2 := strconv.ParseUint(b, 16, 64)
			perms := fields[1]
			path := ""
			if len(fields) >= 6 {
				path = fields[5]
			}
			cur = mapping{start: uintptr(start), end: uintptr(end),
				ok: err1 == nil && err2 == nil && strings.HasPrefix(path, "/") &&
					perms[1] == '-' && perms[3] == 'p'}
			continue
		}
		// Anonymous: private copies (relocated or written pages);
		// VmFlags lk: locked. Either rules the mapping out.
		switch fields[0] {
		case "Anonymous:":
			if fields[1] != "0" {
				cur.ok = false
			}
		case "VmFlags:":
			for _, fl := range fields[1:] {
				if fl == "lk" || fl == "io" || fl == "pf" {
					cur.ok = false
				}
			}
			if cur.ok {
				drop = append(drop, cur)
			}
		}
	}
	for _, m := range drop {
		syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, syscall.MADV_DONTNEED)
	}
}
