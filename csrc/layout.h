/* Layouts of struct cg_guard and struct cg_thread (internal.h) shared with
 * the assembly;
 * internal.h checks it with static assertions. */
#ifndef CGOGUARD_LAYOUT_H
#define CGOGUARD_LAYOUT_H

#define CG_OFF_CANARY 48
#define CG_OFF_OUT 56
#define CG_OFF_DEPTH 64 /* int32 depth, then int32 max_frames */
#define CG_FRAME 72     /* sizeof(struct cg_guard); 8 mod 16 */
#define CG_CANARY_VALUE 0x6367677561726421

/* Offsets in struct cg_thread (internal.h), the per-thread record. */
#define CG_THR_NDEPTH 0  /* int32 */
#define CG_THR_PROBE 8   /* struct cg_probe * */
#define CG_THR_GUARDS 24 /* struct cg_guard *[CGOGUARD_MAX_DEPTH] */

#endif
