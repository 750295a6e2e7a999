/* Offsets into struct cg_guard (internal.h) shared with the assembly;
 * internal.h checks them with static assertions. */
#ifndef CGOGUARD_LAYOUT_H
#define CGOGUARD_LAYOUT_H

#define CG_OFF_CANARY 64
#define CG_CANARY_VALUE 0x6367677561726421

#endif
