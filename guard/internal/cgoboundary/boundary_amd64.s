#include "textflag.h"

// func G() uintptr
TEXT ·G(SB), NOSPLIT, $0-8
	MOVQ	TLS, CX
	MOVQ	0(CX)(TLS*1), AX
	MOVQ	AX, ret+0(FP)
	RET

// func asmcgocallCode() (fn, landingpad uintptr)
TEXT ·asmcgocallCode(SB), NOSPLIT, $0-16
	LEAQ	runtime·asmcgocall(SB), AX
	MOVQ	AX, fn+0(FP)
	LEAQ	runtime·asmcgocall_landingpad(SB), AX
	MOVQ	AX, landingpad+8(FP)
	RET

// func gPointer() unsafe.Pointer
TEXT ·gPointer(SB), NOSPLIT, $0-8
	MOVQ	TLS, CX
	MOVQ	0(CX)(TLS*1), AX
	MOVQ	AX, ret+0(FP)
	RET
