/* Layout of struct cg_guard (internal.h) shared with the assembly;
 * internal.h checks it with static assertions. */
#ifndef CGOGUARD_LAYOUT_H
#define CGOGUARD_LAYOUT_H

#define CG_OFF_CANARY 48
#define CG_OFF_OUT 56
#define CG_OFF_DEPTH 64 /* int32 depth, then int32 max_frames */
#define CG_FRAME 72     /* sizeof(struct cg_guard); 8 mod 16 */
#define CG_CANARY_VALUE 0x6367677561726421

#endif
