package guard

import "fmt"

// Registers are the general registers of a thread at a fault (amd64).
type Registers struct {
	R8, R9, R10, R11, R12, R13, R14, R15 uint64
	RDI, RSI, RBP, RBX, RDX, RAX, RCX    uint64
	RSP, RIP, EFLAGS                     uint64
	CSGSFS, Err, TrapNo, OldMask, CR2    uint64
}

// registersFrom maps glibc's gregs order (sys/ucontext.h REG_R8 ... REG_CR2).
func registersFrom(g *[23]uint64) Registers {
	return Registers{
		R8: g[0], R9: g[1], R10: g[2], R11: g[3], R12: g[4], R13: g[5], R14: g[6], R15: g[7],
		RDI: g[8], RSI: g[9], RBP: g[10], RBX: g[11], RDX: g[12], RAX: g[13], RCX: g[14],
		RSP: g[15], RIP: g[16], EFLAGS: g[17], CSGSFS: g[18], Err: g[19], TrapNo: g[20],
		OldMask: g[21], CR2: g[22],
	}
}

// String prints the registers four to a line.
func (r Registers) String() string {
	return fmt.Sprintf("rax %#016x rbx %#016x rcx %#016x rdx %#016x\n"+
		"rdi %#016x rsi %#016x rbp %#016x rsp %#016x\n"+
		"r8  %#016x r9  %#016x r10 %#016x r11 %#016x\n"+
		"r12 %#016x r13 %#016x r14 %#016x r15 %#016x\n"+
		"rip %#016x rflags %#016x err %#x trapno %d",
		r.RAX, r.RBX, r.RCX, r.RDX, r.RDI, r.RSI, r.RBP, r.RSP,
		r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15,
		r.RIP, r.EFLAGS, r.Err, r.TrapNo)
}
