/*
 * Which PCs are Go's machine code: a fault or frame there is the Go
 * runtime's, never cgoguard's. The main module's text range comes from the
 * Go package (runtime.text to runtime.etext; empty in a C program).
 *
 * Go's machine code outside the main module: a program that loads Go
 * plugins (-buildmode=plugin) or is built from shared Go libraries has one
 * text range per module, and a fault or frame in any of them is Go's.
 *
 * The runtime lists its modules (struct moduledata) from the first, through
 * their next fields, to *runtime.lastmoduledatap, and never removes one
 * (plugins are not unloaded). The Go package (gotext.Modules) checks the
 * layout of this runtime's moduledata and hands over the first module and
 * the offsets of text, etext and next; the walk below reads only that
 * static data, so the handler may do it. Where the layout is unknown, the
 * Go package hands over the address of lastmoduledatap alone, and its value
 * at start-up: once it no longer points there, a module of unknown extent is loaded, and
 * every PC counts as Go's (every fault goes to the Go runtime, as without
 * cgoguard) rather than risk unwinding over Go frames taken for C.
 */
#if defined(__x86_64__) && defined(__linux__)
#include "internal.h"

static uintptr_t cg_go_text_start, cg_go_text_end;

void cg_set_go_text(uintptr_t start, uintptr_t end) {
	cg_go_text_start = start;
	cg_go_text_end = end;
}

int cg_pc_in_go(uintptr_t pc) {
	return (pc >= cg_go_text_start && pc < cg_go_text_end) || cg_pc_in_go_module(pc);
}

/* Modules walked at most (a longer list is taken to be broken). */
#define CG_GOMOD_MAX 1024

static struct {
	uintptr_t first;                 /* the first module's moduledata; 0: no walk */
	uintptr_t off_text, off_etext, off_next;
	uintptr_t *lastp;                /* &runtime.lastmoduledatap, when first is 0 */
	uintptr_t last;                  /* its value then */
} cg_gomod;

void cg_set_go_modules(uintptr_t first, uintptr_t off_text, uintptr_t off_etext,
                       uintptr_t off_next, uintptr_t lastp, uintptr_t last) {
	cg_gomod.off_text = off_text;
	cg_gomod.off_etext = off_etext;
	cg_gomod.off_next = off_next;
	cg_gomod.lastp = (uintptr_t *)lastp;
	cg_gomod.last = last;
	__atomic_store_n(&cg_gomod.first, first, __ATOMIC_RELEASE);
}

/* Whether pc lies in the text of a Go module other than the main one's
 * range (cg_pc_in_go checks that first). Async-signal-safe. */
int cg_pc_in_go_module(uintptr_t pc) {
	uintptr_t md = __atomic_load_n(&cg_gomod.first, __ATOMIC_ACQUIRE);
	if (md == 0) {
		uintptr_t *lastp = cg_gomod.lastp;
		return lastp != NULL && __atomic_load_n(lastp, __ATOMIC_ACQUIRE) != cg_gomod.last;
	}
	for (int i = 0; md != 0 && i < CG_GOMOD_MAX; i++) {
		uintptr_t text = *(const uintptr_t *)(md + cg_gomod.off_text);
		uintptr_t etext = *(const uintptr_t *)(md + cg_gomod.off_etext);
		if (pc >= text && pc < etext)
			return 1;
		md = __atomic_load_n((const uintptr_t *)(md + cg_gomod.off_next), __ATOMIC_ACQUIRE);
	}
	return 0;
}

#endif /* x86-64 Linux */
