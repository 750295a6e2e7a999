//go:build linux && amd64

package minidump

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"strconv"
	"strings"
)

// The module list of a minidump: the ELF files mapped into the process, read
// from /proc/self/maps, each with its GNU build id. A debugger loads its own
// copy of a module's file only if the build id in the dump matches the
// file's, and names no frame in it otherwise.

// ntGNUBuildID is the note type of a GNU build id (owner "GNU").
const ntGNUBuildID = 3

// dumpModule is one ELF file loaded at Base.
type dumpModule struct {
	Base    uint64 // start of its mapping at file offset 0
	Size    uint64 // to the end of its last mapping
	Path    string
	BuildID []byte // nil if the file has none or cannot be read
}

// mapsLine is one line of /proc/self/maps.
type mapsLine struct {
	start, end, offset uint64
	perms, dev, path   string
	inode              uint64
}

func parseMapsLine(s string) (mapsLine, bool) {
	// start-end perms offset dev inode [path]; the path may hold spaces.
	var m mapsLine
	f := strings.Fields(s)
	if len(f) < 5 {
		return m, false
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return m, false
	}
	var err [4]error
	m.start, err[0] = strconv.ParseUint(lo, 16, 64)
	m.end, err[1] = strconv.ParseUint(hi, 16, 64)
	m.offset, err[2] = strconv.ParseUint(f[2], 16, 64)
	m.inode, err[3] = strconv.ParseUint(f[4], 10, 64)
	for _, e := range err {
		if e != nil {
			return m, false
		}
	}
	m.perms, m.dev = f[1], f[3]
	// The path is everything after the fifth field, as the kernel wrote it.
	rest := s
	for range 5 {
		rest = strings.TrimLeft(rest, " ")
		if i := strings.IndexByte(rest, ' '); i >= 0 {
			rest = rest[i:]
		} else {
			rest = ""
		}
	}
	m.path = strings.TrimSpace(rest)
	return m, true
}

// dumpModules lists the ELF files of the maps text. A module starts at a
// mapping of a file at offset 0 and takes in the later mappings of the same
// file (its other segments); a file mapped again at offset 0 is a second
// module. Files that are not ELF (fonts, locale archives, ...) are left out.
func dumpModules(maps []byte) []dumpModule {
	type key struct {
		dev   string
		inode uint64
	}
	var mods []dumpModule
	last := map[key]int{} // the latest module of each file
	elfFile := map[key]bool{}
	sc := bufio.NewScanner(bytes.NewReader(maps))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		m, ok := parseMapsLine(sc.Text())
		if !ok || m.inode == 0 || !strings.HasPrefix(m.path, "/") {
			continue
		}
		k := key{m.dev, m.inode}
		if m.offset == 0 {
			isELF, seen := elfFile[k]
			if !seen {
				isELF = looksLikeELF(m.path)
				elfFile[k] = isELF
			}
			if !isELF {
				continue
			}
			last[k] = len(mods)
			mods = append(mods, dumpModule{Base: m.start, Size: m.end - m.start, Path: m.path})
			continue
		}
		if i, ok := last[k]; ok && m.end > mods[i].Base {
			mods[i].Size = max(mods[i].Size, m.end-mods[i].Base)
		}
	}
	ids := map[string][]byte{}
	for i := range mods {
		p := mods[i].Path
		id, ok := ids[p]
		if !ok {
			id = elfBuildID(p)
			ids[p] = id
		}
		mods[i].BuildID = id
	}
	return mods
}

// looksLikeELF reports whether the file starts with the ELF magic. A file
// that cannot be read (deleted since, or not readable) counts as ELF: it is
// listed by name, without a build id.
func looksLikeELF(path string) bool {
	f, err := os.Open(strings.TrimSuffix(path, " (deleted)"))
	if err != nil {
		return true
	}
	defer f.Close()
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil {
		return false
	}
	return string(magic[:]) == elf.ELFMAG
}

// elfBuildID returns the file's GNU build id (the NT_GNU_BUILD_ID note),
// nil if it has none.
func elfBuildID(path string) []byte {
	f, err := elf.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		if id := gnuBuildIDNote(p.Open(), f.ByteOrder, p.Filesz, p.Align); id != nil {
			return id
		}
	}
	if s := f.Section(".note.gnu.build-id"); s != nil && s.Type != elf.SHT_NOBITS {
		return gnuBuildIDNote(s.Open(), f.ByteOrder, s.Size, s.Addralign)
	}
	return nil
}

// gnuBuildIDNote scans the notes of one note segment or section: each is a
// 12-byte header (namesz, descsz, type), the name, and the descriptor, the
// name and the descriptor each starting at the next multiple of the
// alignment (4, or 8 for 8-aligned note segments) from the note's start.
func gnuBuildIDNote(r io.Reader, bo binary.ByteOrder, size, align uint64) []byte {
	if size > 1<<20 {
		return nil
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil
	}
	if align != 8 {
		align = 4
	}
	pad := func(n uint64) uint64 { return (n + align - 1) &^ (align - 1) }
	for len(data) >= 12 {
		namesz, descsz, typ := uint64(bo.Uint32(data)), uint64(bo.Uint32(data[4:])), bo.Uint32(data[8:])
		descAt := pad(12 + namesz)
		end := descAt + descsz
		if namesz > 1<<16 || descsz > 1<<20 || end > uint64(len(data)) {
			return nil
		}
		if typ == ntGNUBuildID && string(data[12:12+namesz]) == "GNU\x00" && descsz > 0 && descsz <= 64 {
			return bytes.Clone(data[descAt:end])
		}
		data = data[min(pad(end), uint64(len(data))):]
	}
	return nil
}
