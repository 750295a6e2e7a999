#include "textflag.h"

// func Range() (start, end uintptr)
TEXT ·Range(SB), NOSPLIT, $0-16
	LEAQ	runtime·text(SB), AX
	MOVQ	AX, start+0(FP)
	LEAQ	runtime·etext(SB), AX
	MOVQ	AX, end+8(FP)
	RET
