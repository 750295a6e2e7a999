//go:build linux && amd64

package minidump

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"
	"unicode/utf16"
)

// A crash dump in the Minidump format (the format of Microsoft's
// minidumpapiset.h, with the Linux streams that Breakpad and Crashpad
// added), so that a standard debugger (LLDB, or any Breakpad/Crashpad
// processor) can open what a recovered fault left behind.
//
// The file holds the faulting thread only: its registers, the copy of its
// stack that the signal handler took, the modules of the process (with their
// ELF build ids, which a debugger needs to trust its copy of each file), and
// the process's /proc texts. Everything is built in memory and written with
// one Write: a dump is some tens of KiB besides the stack copy.
//
// Layout: the 32-byte header, then every blob and stream each at an 8-byte
// aligned offset (RVA), then the stream directory, whose offset the header
// holds.

// Input is what a dump needs, captured at the fault.
type Input struct {
	Signal   int    // signal number (si_signo)
	Code     int    // si_code
	Addr     uint64 // si_addr
	ThreadID int    // kernel thread id (gettid) of the faulting thread
	Time     time.Time

	// Regs are the general registers in glibc's gregs order
	// (sys/ucontext.h: REG_R8 ... REG_R15, REG_RDI, REG_RSI, REG_RBP, REG_RBX,
	// REG_RDX, REG_RAX, REG_RCX, REG_RSP, REG_RIP, REG_EFL, REG_CSGSFS,
	// REG_ERR, REG_TRAPNO, REG_OLDMASK, REG_CR2).
	Regs [23]uint64
	// FPRegs is the 512-byte fxsave image (struct _libc_fpstate, what
	// uc_mcontext.fpregs points to); nil or short: no floating point state.
	FPRegs []byte

	// Stack is a copy of the faulting thread's stack, from at or below RSP
	// upward; StackStart is the address of Stack[0].
	StackStart uint64
	Stack      []byte

	// CodeBytes, optional, are the bytes around the faulting instruction;
	// CodeStart is the address of CodeBytes[0]. Dropped if they overlap Stack.
	CodeStart uint64
	CodeBytes []byte

	// Requested marks the dump of a thread that did not fault (a call
	// interrupted at its deadline): the exception stream then has Breakpad's
	// "dump requested" code, 0xFFFFFFFF, with the signal that stopped the
	// thread and its si_code as the first two parameters. A real-time
	// signal as the exception code would make LLDB treat the dump as a
	// process to resume (it hangs), and would claim a crash that was none.
	Requested bool

	// Maps is the text of /proc/self/maps; nil: read when the dump is written.
	// The module list is built from it.
	Maps []byte
}

// Indices into Input.Regs (glibc's REG_* constants).
const (
	gregR8 = iota
	gregR9
	gregR10
	gregR11
	gregR12
	gregR13
	gregR14
	gregR15
	gregRDI
	gregRSI
	gregRBP
	gregRBX
	gregRDX
	gregRAX
	gregRCX
	gregRSP
	gregRIP
	gregEFL
	gregCSGSFS
	gregERR
	gregTRAPNO
	gregOLDMASK
	gregCR2
)

// Format constants.
const (
	mdSignature = 0x504d444d // "MDMP"
	mdVersion   = 0xa793

	// Stream types.
	mdThreadListStream  = 3
	mdModuleListStream  = 4
	mdMemoryListStream  = 5
	mdExceptionStream   = 6
	mdDumpRequested     = 0xFFFFFFFF // Breakpad's exception code of a dump taken without a crash
	mdSystemInfoStream  = 7
	mdMiscInfoStream    = 15
	mdLinuxCPUInfo      = 0x47670003 // /proc/cpuinfo
	mdLinuxProcStatus   = 0x47670004 // /proc/self/status
	mdLinuxCmdLine      = 0x47670006 // /proc/self/cmdline
	mdLinuxAuxv         = 0x47670008 // /proc/self/auxv
	mdLinuxMaps         = 0x47670009 // /proc/self/maps
	mdProcessorAMD64    = 9          // SystemInfo.ProcessorArchitecture
	mdPlatformLinux     = 0x8201     // SystemInfo.PlatformId (Breakpad's value)
	mdMiscProcessID     = 0x1        // MiscInfo.Flags1: ProcessId is valid
	mdCvSignatureELF    = 0x4270454c // "BpEL": CodeView record holding an ELF build id
	mdContextAMD64      = 0x00100000
	mdContextControl    = mdContextAMD64 | 0x1 // rip, rsp, cs, ss, eflags
	mdContextInteger    = mdContextAMD64 | 0x2
	mdContextSegments   = mdContextAMD64 | 0x4
	mdContextFloatPoint = mdContextAMD64 | 0x8 // mxcsr and the fxsave area
	mdContextAMD64Size  = 1232
	mdVSFixedSignature  = 0xfeef04bd

	// Linux amd64 user-mode segment selectors, for when the capture has none.
	linuxUserCS = 0x33
	linuxUserSS = 0x2b
)

// The on-disk structures, little-endian. The format's structures are packed
// (no padding but where they name it), and encoding/binary writes fields
// back to back: the encoding of each is its layout (the tests check the
// sizes and the offsets).

type mdHeader struct {
	Signature       uint32
	Version         uint32
	NumberOfStreams uint32
	DirectoryRVA    uint32
	CheckSum        uint32
	TimeDateStamp   uint32
	Flags           uint64
}

type mdLocation struct {
	DataSize uint32
	RVA      uint32
}

type mdDirectory struct {
	StreamType uint32
	Location   mdLocation
}

type mdMemoryDescriptor struct {
	StartOfMemoryRange uint64
	Memory             mdLocation
}

type mdThread struct {
	ThreadID      uint32
	SuspendCount  uint32
	PriorityClass uint32
	Priority      uint32
	Teb           uint64
	Stack         mdMemoryDescriptor
	ThreadContext mdLocation
}

type mdModule struct {
	BaseOfImage   uint64
	SizeOfImage   uint32
	CheckSum      uint32
	TimeDateStamp uint32
	ModuleNameRVA uint32
	VersionInfo   [13]uint32 // VS_FIXEDFILEINFO
	CvRecord      mdLocation
	MiscRecord    mdLocation
	Reserved0     uint64
	Reserved1     uint64
}

type mdSystemInfo struct {
	ProcessorArchitecture uint16
	ProcessorLevel        uint16
	ProcessorRevision     uint16
	NumberOfProcessors    uint8
	ProductType           uint8
	MajorVersion          uint32
	MinorVersion          uint32
	BuildNumber           uint32
	PlatformID            uint32
	CSDVersionRVA         uint32
	SuiteMask             uint16
	Reserved2             uint16
	// CPU_INFORMATION, its x86 form.
	VendorID               [3]uint32
	VersionInformation     uint32
	FeatureInformation     uint32
	AMDExtendedCPUFeatures uint32
}

type mdException struct {
	ThreadID             uint32
	_                    uint32
	ExceptionCode        uint32
	ExceptionFlags       uint32
	ExceptionRecord      uint64
	ExceptionAddress     uint64
	NumberParameters     uint32
	_                    uint32
	ExceptionInformation [15]uint64
	ThreadContext        mdLocation
}

type mdMiscInfo struct {
	SizeOfInfo        uint32
	Flags1            uint32
	ProcessID         uint32
	ProcessCreateTime uint32
	ProcessUserTime   uint32
	ProcessKernelTime uint32
}

// mdContext is MINIDUMP_CONTEXT_AMD64 (the Windows CONTEXT of amd64).
type mdContext struct {
	PHome        [6]uint64
	ContextFlags uint32
	MxCsr        uint32
	SegCs        uint16
	SegDs        uint16
	SegEs        uint16
	SegFs        uint16
	SegGs        uint16
	SegSs        uint16
	EFlags       uint32
	Dr0          uint64
	Dr1          uint64
	Dr2          uint64
	Dr3          uint64
	Dr6          uint64
	Dr7          uint64
	Rax          uint64
	Rcx          uint64
	Rdx          uint64
	Rbx          uint64
	Rsp          uint64
	Rbp          uint64
	Rsi          uint64
	Rdi          uint64
	R8           uint64
	R9           uint64
	R10          uint64
	R11          uint64
	R12          uint64
	R13          uint64
	R14          uint64
	R15          uint64
	Rip          uint64
	FltSave      [512]byte // XMM_SAVE_AREA32: the fxsave image
	VectorReg    [26][16]byte
	VectorCtl    uint64
	DebugCtl     uint64
	LastBrTo     uint64
	LastBrFrom   uint64
	LastExcTo    uint64
	LastExcFrom  uint64
}

// contextFrom fills the amd64 context from glibc's gregs and the fxsave image.
func contextFrom(g *[23]uint64, fx []byte) mdContext {
	c := mdContext{
		ContextFlags: mdContextControl | mdContextInteger | mdContextSegments,
		Rax:          g[gregRAX], Rcx: g[gregRCX], Rdx: g[gregRDX], Rbx: g[gregRBX],
		Rsp: g[gregRSP], Rbp: g[gregRBP], Rsi: g[gregRSI], Rdi: g[gregRDI],
		R8: g[gregR8], R9: g[gregR9], R10: g[gregR10], R11: g[gregR11],
		R12: g[gregR12], R13: g[gregR13], R14: g[gregR14], R15: g[gregR15],
		Rip:    g[gregRIP],
		EFlags: uint32(g[gregEFL]),
	}
	// The kernel packs cs, gs, fs and (since Linux 4.8) ss into one word.
	sel := g[gregCSGSFS]
	c.SegCs, c.SegGs, c.SegFs, c.SegSs = uint16(sel), uint16(sel>>16), uint16(sel>>32), uint16(sel>>48)
	if c.SegCs == 0 {
		c.SegCs = linuxUserCS
	}
	if c.SegSs == 0 {
		c.SegSs = linuxUserSS
	}
	if len(fx) >= 512 {
		c.ContextFlags |= mdContextFloatPoint
		copy(c.FltSave[:], fx[:512])
		c.MxCsr = binary.LittleEndian.Uint32(fx[24:28])
	}
	return c
}

// mdBuilder lays out the file in memory.
type mdBuilder struct {
	buf []byte
	dir []mdDirectory
	err error
}

// put appends data at the next 8-byte boundary and says where it went.
func (b *mdBuilder) put(data []byte) mdLocation {
	for len(b.buf)%8 != 0 {
		b.buf = append(b.buf, 0)
	}
	rva := len(b.buf)
	b.buf = append(b.buf, data...)
	if len(b.buf) > math.MaxUint32 || len(data) > math.MaxUint32 {
		b.err = errors.New("minidump: over 4 GiB")
		return mdLocation{}
	}
	return mdLocation{DataSize: uint32(len(data)), RVA: uint32(rva)}
}

// putStruct appends the encoding of v (a fixed-size structure or a slice of them).
func (b *mdBuilder) putStruct(v ...any) mdLocation {
	var data []byte
	for _, x := range v {
		var err error
		if data, err = binary.Append(data, binary.LittleEndian, x); err != nil {
			b.err = fmt.Errorf("minidump: %w", err)
		}
	}
	return b.put(data)
}

// putString appends a MINIDUMP_STRING: the byte length (without the
// terminator), then UTF-16LE, then a 16-bit 0.
func (b *mdBuilder) putString(s string) uint32 {
	u := utf16.Encode([]rune(s))
	data := binary.LittleEndian.AppendUint32(nil, uint32(2*len(u)))
	for _, c := range u {
		data = binary.LittleEndian.AppendUint16(data, c)
	}
	data = append(data, 0, 0)
	return b.put(data).RVA
}

func (b *mdBuilder) stream(typ uint32, loc mdLocation) {
	b.dir = append(b.dir, mdDirectory{StreamType: typ, Location: loc})
}

// rawStream adds a stream of text or bytes as it is; empty ones are left out.
func (b *mdBuilder) rawStream(typ uint32, data []byte) {
	if len(data) > 0 {
		b.stream(typ, b.put(data))
	}
}

// Write writes the dump of in to w. Besides in, it reads the process's
// /proc files and the ELF files mapped into it (for their build ids): call
// it in the faulting process, after the fault was recovered.
func Write(w io.Writer, in *Input) error {
	data, err := buildMinidump(in)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// buildMinidump returns the whole file.
func buildMinidump(in *Input) ([]byte, error) {
	if in == nil {
		return nil, errors.New("minidump: nil input")
	}
	b := &mdBuilder{}
	b.putStruct(mdHeader{}) // filled in last

	// Memory: the stack, and the code bytes unless they overlap it.
	stack := mdMemoryDescriptor{StartOfMemoryRange: in.StackStart}
	if len(in.Stack) > 0 {
		stack.Memory = b.put(in.Stack)
	} else {
		stack.StartOfMemoryRange = in.Regs[gregRSP]
	}
	memory := []mdMemoryDescriptor{}
	if len(in.Stack) > 0 {
		memory = append(memory, stack)
	}
	if n := uint64(len(in.CodeBytes)); n > 0 {
		lo, hi := in.StackStart, in.StackStart+uint64(len(in.Stack))
		if len(in.Stack) == 0 || in.CodeStart+n <= lo || in.CodeStart >= hi {
			memory = append(memory, mdMemoryDescriptor{StartOfMemoryRange: in.CodeStart, Memory: b.put(in.CodeBytes)})
		}
	}

	context := b.putStruct(contextFrom(&in.Regs, in.FPRegs))
	tid := uint32(in.ThreadID)

	// Thread list: the faulting thread.
	b.stream(mdThreadListStream, b.putStruct(uint32(1), mdThread{ThreadID: tid, Stack: stack, ThreadContext: context}))

	// Module list, from the maps text.
	maps := in.Maps
	if maps == nil {
		maps = readProcFile("/proc/self/maps")
	}
	var modules []mdModule
	for _, m := range dumpModules(maps) {
		mod := mdModule{BaseOfImage: m.Base, SizeOfImage: uint32(min(m.Size, math.MaxUint32))}
		mod.VersionInfo[0] = mdVSFixedSignature
		mod.VersionInfo[1] = 0x10000 // structure version 1.0
		mod.ModuleNameRVA = b.putString(m.Path)
		if len(m.BuildID) > 0 {
			cv := binary.LittleEndian.AppendUint32(nil, mdCvSignatureELF)
			mod.CvRecord = b.put(append(cv, m.BuildID...))
		}
		modules = append(modules, mod)
	}
	b.stream(mdModuleListStream, b.putStruct(uint32(len(modules)), modules))

	// Memory list.
	b.stream(mdMemoryListStream, b.putStruct(uint32(len(memory)), memory))

	// Exception: the signal, as Breakpad and Crashpad record it on Linux.
	exc := mdException{
		ThreadID:         tid,
		ExceptionCode:    uint32(in.Signal),
		ExceptionFlags:   uint32(in.Code),
		ExceptionAddress: in.Addr,
		ThreadContext:    context,
	}
	if in.Requested {
		exc.ExceptionCode, exc.ExceptionFlags, exc.ExceptionAddress = mdDumpRequested, 0, 0
		exc.NumberParameters = 2
		exc.ExceptionInformation[0] = uint64(in.Signal)
		exc.ExceptionInformation[1] = uint64(uint32(in.Code))
	}
	b.stream(mdExceptionStream, b.putStruct(exc))

	// System and process.
	si := systemInfo()
	si.CSDVersionRVA = b.putString(csdVersion())
	b.stream(mdSystemInfoStream, b.putStruct(si))
	b.stream(mdMiscInfoStream, b.putStruct(mdMiscInfo{SizeOfInfo: 24, Flags1: mdMiscProcessID, ProcessID: uint32(os.Getpid())}))
	b.rawStream(mdLinuxMaps, maps)
	b.rawStream(mdLinuxProcStatus, readProcFile("/proc/self/status"))
	b.rawStream(mdLinuxCmdLine, readProcFile("/proc/self/cmdline"))
	b.rawStream(mdLinuxAuxv, readProcFile("/proc/self/auxv"))
	b.rawStream(mdLinuxCPUInfo, readProcFile("/proc/cpuinfo"))

	// The directory, then the header that points at it.
	dir := b.putStruct(b.dir)
	hdr, _ := binary.Append(nil, binary.LittleEndian, mdHeader{
		Signature:       mdSignature,
		Version:         mdVersion,
		NumberOfStreams: uint32(len(b.dir)),
		DirectoryRVA:    dir.RVA,
		TimeDateStamp:   uint32(max(in.Time.Unix(), 0)),
	})
	if b.err != nil {
		return nil, b.err
	}
	copy(b.buf, hdr)
	return b.buf, nil
}

// readProcFile returns the file's content, nil if it cannot be read.
func readProcFile(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return data
}
