#include "textflag.h"

// runtime.text and runtime.etext are symbols the linker defines, not the
// runtime's code: the linker's linkname check (Go 1.23 on, assembly
// references too from 1.27) lets any package refer to a linker-defined
// symbol.

// func Range() (start, end uintptr)
TEXT ·Range(SB), NOSPLIT, $0-16
	LEAQ	runtime·text(SB), AX
	MOVQ	AX, start+0(FP)
	LEAQ	runtime·etext(SB), AX
	MOVQ	AX, end+8(FP)
	RET
