//go:build linux && amd64

package minidump

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// The tests read dumps back with offsets taken from the format's
// definition, not from the writer's structures, so that a wrong structure
// cannot check itself.

var le = binary.LittleEndian

// mdFile is a dump read back.
type mdFile struct {
	t       *testing.T
	data    []byte
	streams map[uint32][2]uint32 // type: size, rva
}

func readDump(t *testing.T, data []byte) *mdFile {
	t.Helper()
	if len(data) < 32 {
		t.Fatalf("dump of %d bytes", len(data))
	}
	if sig, ver := le.Uint32(data), le.Uint32(data[4:]); sig != 0x504d444d || ver&0xffff != 0xa793 {
		t.Fatalf("header: signature %#x version %#x", sig, ver)
	}
	f := &mdFile{t: t, data: data, streams: map[uint32][2]uint32{}}
	n, dir := le.Uint32(data[8:]), le.Uint32(data[12:])
	if uint64(dir)+12*uint64(n) > uint64(len(data)) {
		t.Fatalf("directory of %d streams at %#x past the end (%d bytes)", n, dir, len(data))
	}
	for i := range n {
		e := data[dir+12*i:]
		typ, size, rva := le.Uint32(e), le.Uint32(e[4:]), le.Uint32(e[8:])
		if _, dup := f.streams[typ]; dup {
			t.Errorf("stream %#x twice", typ)
		}
		if rva%8 != 0 || uint64(rva)+uint64(size) > uint64(len(data)) {
			t.Errorf("stream %#x: %d bytes at %#x (file %d bytes)", typ, size, rva, len(data))
		}
		f.streams[typ] = [2]uint32{size, rva}
	}
	return f
}

// stream returns the stream's bytes and fails the test if it is missing or
// not of the given size (0: any).
func (f *mdFile) stream(typ uint32, size int) []byte {
	f.t.Helper()
	s, ok := f.streams[typ]
	if !ok {
		f.t.Fatalf("no stream %#x", typ)
	}
	if size > 0 && int(s[0]) != size {
		f.t.Fatalf("stream %#x: %d bytes, want %d", typ, s[0], size)
	}
	return f.data[s[1] : s[1]+s[0]]
}

// at returns the bytes of a location descriptor at b.
func (f *mdFile) at(b []byte) []byte {
	size, rva := le.Uint32(b), le.Uint32(b[4:])
	if uint64(rva)+uint64(size) > uint64(len(f.data)) {
		f.t.Fatalf("location %d bytes at %#x past the end", size, rva)
	}
	return f.data[rva : rva+size]
}

// str decodes the MINIDUMP_STRING at rva.
func (f *mdFile) str(rva uint32) string {
	n := le.Uint32(f.data[rva:])
	u := make([]uint16, n/2)
	for i := range u {
		u[i] = le.Uint16(f.data[rva+4+2*uint32(i):])
	}
	if le.Uint16(f.data[rva+4+n:]) != 0 {
		f.t.Errorf("string at %#x: no terminator", rva)
	}
	return string(utf16.Decode(u))
}

// module is one MINIDUMP_MODULE read back.
type module struct {
	base uint64
	size uint32
	name string
	cv   []byte
}

func (f *mdFile) modules() []module {
	s := f.stream(4, 0)
	n := le.Uint32(s)
	if len(s) != 4+108*int(n) {
		f.t.Fatalf("module list: %d bytes for %d modules", len(s), n)
	}
	var mods []module
	for i := range int(n) {
		m := s[4+108*i:]
		mods = append(mods, module{base: le.Uint64(m), size: le.Uint32(m[8:]), name: f.str(le.Uint32(m[20:])), cv: f.at(m[76:])})
	}
	return mods
}

// testBuildID reads the GNU build id of an ELF file from its
// .note.gnu.build-id section (nil if it has none).
func testBuildID(t *testing.T, path string) []byte {
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Section(".note.gnu.build-id")
	if s == nil {
		return nil
	}
	d, err := s.Data()
	if err != nil {
		t.Fatal(err)
	}
	namesz, descsz := le.Uint32(d), le.Uint32(d[4:])
	off := 12 + (namesz+3)&^3
	return d[off : off+descsz]
}

func testExecutable(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestMinidumpStructSizes(t *testing.T) {
	for _, c := range []struct {
		v    any
		size int
	}{
		{mdHeader{}, 32}, {mdDirectory{}, 12}, {mdLocation{}, 8}, {mdMemoryDescriptor{}, 16},
		{mdThread{}, 48}, {mdModule{}, 108}, {mdSystemInfo{}, 56}, {mdException{}, 168},
		{mdMiscInfo{}, 24}, {mdContext{}, mdContextAMD64Size},
	} {
		if got := binary.Size(c.v); got != c.size {
			t.Errorf("%T: %d bytes, want %d", c.v, got, c.size)
		}
	}
}

func testInput() *Input {
	in := &Input{
		Signal: 11, Code: 2, Addr: 0xdead0000, ThreadID: 4242,
		Time:       time.Unix(1700000000, 0),
		StackStart: 0x7ffc00001000,
		CodeStart:  0x401000,
		CodeBytes:  []byte{0x48, 0x8b, 0x07, 0xc3},
	}
	for i := range in.Regs {
		in.Regs[i] = 0x1111111100000000 | uint64(i+1)
	}
	in.Regs[gregRSP] = in.StackStart + 0x80
	in.Regs[gregRIP] = 0x401002
	in.Regs[gregEFL] = 0x10246
	in.Regs[gregCSGSFS] = 0x002b_0000_0000_0033 // ss 0x2b, fs 0, gs 0, cs 0x33
	in.Stack = make([]byte, 4096)
	for i := range in.Stack {
		in.Stack[i] = byte(i * 7)
	}
	in.FPRegs = make([]byte, 512)
	for i := range in.FPRegs {
		in.FPRegs[i] = byte(i)
	}
	le.PutUint32(in.FPRegs[24:], 0x1f80) // mxcsr
	return in
}

func TestMinidumpStructure(t *testing.T) {
	exe := testExecutable(t)
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	in := testInput()
	in.Maps = maps
	var buf bytes.Buffer
	if err := Write(&buf, in); err != nil {
		t.Fatal(err)
	}
	f := readDump(t, buf.Bytes())
	if got := le.Uint32(buf.Bytes()[20:]); got != 1700000000 {
		t.Errorf("header time %d", got)
	}

	// Thread list: one thread, its stack and its context.
	tl := f.stream(3, 4+48)
	if n, tid := le.Uint32(tl), le.Uint32(tl[4:]); n != 1 || tid != 4242 {
		t.Fatalf("thread list: %d threads, first id %d", n, tid)
	}
	th := tl[4:]
	if start := le.Uint64(th[24:]); start != in.StackStart {
		t.Errorf("thread stack starts at %#x, want %#x", start, in.StackStart)
	}
	if !bytes.Equal(f.at(th[32:]), in.Stack) {
		t.Error("thread stack bytes differ from the input")
	}
	ctx := f.at(th[40:])
	if len(ctx) != 1232 {
		t.Fatalf("context of %d bytes", len(ctx))
	}
	if fl := le.Uint32(ctx[0x30:]); fl != 0x0010000f {
		t.Errorf("context flags %#x", fl)
	}
	g := in.Regs
	for _, r := range []struct {
		name string
		off  int
		want uint64
	}{
		{"rax", 0x78, g[gregRAX]}, {"rcx", 0x80, g[gregRCX]}, {"rdx", 0x88, g[gregRDX]},
		{"rbx", 0x90, g[gregRBX]}, {"rsp", 0x98, g[gregRSP]}, {"rbp", 0xa0, g[gregRBP]},
		{"rsi", 0xa8, g[gregRSI]}, {"rdi", 0xb0, g[gregRDI]}, {"r8", 0xb8, g[gregR8]},
		{"r9", 0xc0, g[gregR9]}, {"r10", 0xc8, g[gregR10]}, {"r11", 0xd0, g[gregR11]},
		{"r12", 0xd8, g[gregR12]}, {"r13", 0xe0, g[gregR13]}, {"r14", 0xe8, g[gregR14]},
		{"r15", 0xf0, g[gregR15]}, {"rip", 0xf8, g[gregRIP]},
	} {
		if got := le.Uint64(ctx[r.off:]); got != r.want {
			t.Errorf("context %s = %#x, want %#x", r.name, got, r.want)
		}
	}
	if got := le.Uint32(ctx[0x44:]); got != 0x10246 {
		t.Errorf("eflags %#x", got)
	}
	if cs, ss := le.Uint16(ctx[0x38:]), le.Uint16(ctx[0x42:]); cs != 0x33 || ss != 0x2b {
		t.Errorf("cs %#x ss %#x", cs, ss)
	}
	if got := le.Uint32(ctx[0x34:]); got != 0x1f80 {
		t.Errorf("mxcsr %#x", got)
	}
	if !bytes.Equal(ctx[0x100:0x300], in.FPRegs) {
		t.Error("fxsave area differs from the input")
	}

	// Memory list: the stack (the very bytes the thread points at) and the code.
	ml := f.stream(5, 4+2*16)
	if n := le.Uint32(ml); n != 2 {
		t.Fatalf("memory list of %d ranges", n)
	}
	if le.Uint64(ml[4:]) != in.StackStart || !bytes.Equal(ml[12:20], th[32:40]) {
		t.Error("memory list's first range is not the thread's stack")
	}
	if le.Uint64(ml[20:]) != in.CodeStart || !bytes.Equal(f.at(ml[28:]), in.CodeBytes) {
		t.Error("memory list's second range is not the code bytes")
	}

	// Exception: the signal, and the same context as the thread's.
	ex := f.stream(6, 168)
	if tid, code, flags, addr := le.Uint32(ex), le.Uint32(ex[8:]), le.Uint32(ex[12:]), le.Uint64(ex[24:]); tid != 4242 || code != 11 || flags != 2 || addr != 0xdead0000 {
		t.Errorf("exception: thread %d code %d flags %d address %#x", tid, code, flags, addr)
	}
	if !bytes.Equal(ex[160:168], th[40:48]) {
		t.Error("exception context is not the thread's")
	}

	// System info.
	si := f.stream(7, 56)
	if arch, ncpu, platform := le.Uint16(si), si[6], le.Uint32(si[20:]); arch != 9 || ncpu == 0 || platform != 0x8201 {
		t.Errorf("system info: arch %d cpus %d platform %#x", arch, ncpu, platform)
	}
	if csd := f.str(le.Uint32(si[24:])); !strings.Contains(csd, "x86_64") {
		t.Errorf("CSD version %q", csd)
	}
	cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
	if vendor := string(si[32:44]); !bytes.Contains(cpuinfo, []byte("vendor_id\t: "+vendor)) {
		t.Errorf("vendor %q not in /proc/cpuinfo", vendor)
	}

	// Misc info and the Linux texts.
	if mi := f.stream(15, 24); le.Uint32(mi[4:])&1 == 0 || le.Uint32(mi[8:]) != uint32(os.Getpid()) {
		t.Errorf("misc info: flags %#x pid %d", le.Uint32(mi[4:]), le.Uint32(mi[8:]))
	}
	if !bytes.Equal(f.stream(0x47670009, 0), maps) {
		t.Error("LinuxMaps is not the maps text")
	}
	if st := f.stream(0x47670004, 0); !bytes.Contains(st, fmt.Appendf(nil, "\nPid:\t%d\n", os.Getpid())) {
		t.Errorf("LinuxProcStatus without this pid:\n%s", st)
	}
	for _, typ := range []uint32{0x47670003, 0x47670006, 0x47670008} {
		f.stream(typ, 0)
	}

	// Modules: the test binary, holding this function, with its build id.
	pc := uint64(reflect.ValueOf(TestMinidumpStructure).Pointer())
	var found bool
	for _, m := range f.modules() {
		if m.name != exe {
			continue
		}
		found = true
		if pc < m.base || pc >= m.base+uint64(m.size) {
			t.Errorf("module %s: [%#x, +%#x) does not hold %#x", m.name, m.base, m.size, pc)
		}
		id := testBuildID(t, exe)
		if id == nil {
			if len(m.cv) != 0 {
				t.Errorf("module %s has no build id, but a CodeView record %x", exe, m.cv)
			}
		} else if want := append(le.AppendUint32(nil, 0x4270454c), id...); !bytes.Equal(m.cv, want) {
			t.Errorf("module %s: CodeView %x, want %x", exe, m.cv, want)
		}
	}
	if !found {
		t.Errorf("no module %s", exe)
	}
}

func TestMinidumpCodeOverlappingStack(t *testing.T) {
	in := testInput()
	in.Maps = []byte{}
	in.CodeStart, in.CodeBytes = in.StackStart+100, make([]byte, 64)
	data, err := buildMinidump(in)
	if err != nil {
		t.Fatal(err)
	}
	f := readDump(t, data)
	if ml := f.stream(5, 4+16); le.Uint64(ml[4:]) != in.StackStart {
		t.Error("the one range left is not the stack")
	}
	if n := le.Uint32(f.stream(4, 0)); n != 0 {
		t.Errorf("%d modules from empty maps", n)
	}
	if _, ok := f.streams[0x47670009]; ok {
		t.Error("LinuxMaps stream from empty maps")
	}
}

func TestMinidumpNoStack(t *testing.T) {
	in := testInput()
	in.Stack, in.CodeBytes, in.FPRegs = nil, nil, nil
	data, err := buildMinidump(in)
	if err != nil {
		t.Fatal(err)
	}
	f := readDump(t, data)
	th := f.stream(3, 4+48)[4:]
	if start, size := le.Uint64(th[24:]), le.Uint32(th[32:]); start != in.Regs[gregRSP] || size != 0 {
		t.Errorf("stack descriptor %#x+%d", start, size)
	}
	if n := le.Uint32(f.stream(5, 4)); n != 0 {
		t.Errorf("%d memory ranges", n)
	}
	if fl := le.Uint32(f.at(th[40:])[0x30:]); fl != 0x00100007 {
		t.Errorf("context flags %#x without fxsave area", fl)
	}
}

func TestMinidumpModulesFromMaps(t *testing.T) {
	exe := testExecutable(t)
	notELF := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(notELF, []byte("not an ELF file"), 0o600); err != nil {
		t.Fatal(err)
	}
	gone := "/nonexistent dir/lib gone.so"
	maps := strings.Join([]string{
		"00400000-00402000 r--p 00000000 fe:00 11 " + exe,
		"00402000-00500000 r-xp 00002000 fe:00 11 " + exe,
		"00500000-00600000 rw-p 00000000 00:00 0 ",
		"00600000-00610000 rw-p 00100000 fe:00 11 " + exe,
		"01000000-01100000 rw-p 00000000 00:00 0                                  [heap]",
		"7f0000000000-7f0000001000 r--p 00000000 fe:00 22 " + notELF,
		"7f0000100000-7f0000101000 r--p 00000000 fe:00 11 " + exe, // mapped again
		"7f0000200000-7f0000201000 r-xp 00000000 fe:00 33 " + gone,
		"7f0000201000-7f0000208000 r-xp 00001000 fe:00 33 " + gone,
		"7fff00000000-7fff00021000 rw-p 00000000 00:00 0                          [stack]",
		"7fff00100000-7fff00102000 r-xp 00000000 00:00 0                          [vdso]",
		"garbage",
	}, "\n") + "\n"
	id := testBuildID(t, exe)
	want := []dumpModule{
		{Base: 0x400000, Size: 0x210000, Path: exe, BuildID: id},
		{Base: 0x7f0000100000, Size: 0x1000, Path: exe, BuildID: id},
		{Base: 0x7f0000200000, Size: 0x8000, Path: gone},
	}
	if got := dumpModules([]byte(maps)); !reflect.DeepEqual(got, want) {
		t.Errorf("modules:\n got %+v\nwant %+v", got, want)
	}
}

func TestGNUBuildIDNote(t *testing.T) {
	note := func(name string, typ uint32, desc []byte, align int) []byte {
		b := le.AppendUint32(nil, uint32(len(name)))
		b = le.AppendUint32(b, uint32(len(desc)))
		b = le.AppendUint32(b, typ)
		b = append(b, name...)
		for len(b)%align != 0 {
			b = append(b, 0)
		}
		b = append(b, desc...)
		for len(b)%align != 0 {
			b = append(b, 0)
		}
		return b
	}
	id := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	for _, align := range []int{4, 8} {
		data := append(note("GNU\x00", 5, make([]byte, 12), align), note("Go\x00\x00", 3, []byte("x"), align)...)
		data = append(data, note("GNU\x00", 3, id, align)...)
		if got := gnuBuildIDNote(bytes.NewReader(data), le, uint64(len(data)), uint64(align)); !bytes.Equal(got, id) {
			t.Errorf("align %d: build id %x", align, got)
		}
		if got := gnuBuildIDNote(bytes.NewReader(data[:len(data)-8]), le, uint64(len(data)-8), uint64(align)); got != nil {
			t.Errorf("align %d: build id %x from a cut note", align, got)
		}
	}
}

// A dump of a thread that did not fault (a forced interrupt) carries
// "dump requested" as its exception, with the real signal as a parameter.
func TestMinidumpRequested(t *testing.T) {
	in := testInput()
	in.Requested, in.Signal, in.Code = true, 37, -1
	data, err := buildMinidump(in)
	if err != nil {
		t.Fatal(err)
	}
	ex := readDump(t, data).stream(6, 168)
	code, flags, addr, nparams := le.Uint32(ex[8:]), le.Uint32(ex[12:]), le.Uint64(ex[24:]), le.Uint32(ex[32:])
	p0, p1 := le.Uint64(ex[40:]), le.Uint64(ex[48:])
	if code != 0xFFFFFFFF || flags != 0 || addr != 0 || nparams != 2 || p0 != 37 || p1 != 0xFFFFFFFF {
		t.Errorf("exception code %#x flags %d addr %#x params %d [%d %#x]", code, flags, addr, nparams, p0, p1)
	}
}
