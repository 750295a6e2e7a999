#include "textflag.h"

// func gPointer() unsafe.Pointer
TEXT ·gPointer(SB), NOSPLIT, $0-8
	MOVQ	TLS, CX
	MOVQ	0(CX)(TLS*1), AX
	MOVQ	AX, ret+0(FP)
	RET

// func ThreadPointer() uintptr
TEXT ·ThreadPointer(SB), NOSPLIT, $0-8
	// MOVQ %fs:0, AX: the C library's thread pointer (glibc keeps the
	// thread control block's own address there).
	BYTE	$0x64; BYTE $0x48; BYTE $0x8b; BYTE $0x04; BYTE $0x25
	LONG	$0
	MOVQ	AX, ret+0(FP)
	RET

// func ReadTSC() uint64
TEXT ·ReadTSC(SB), NOSPLIT, $0-8
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET

// func gPointerPC() uintptr
TEXT ·gPointerPC(SB), NOSPLIT, $0-8
	LEAQ	·gPointer(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
