// The cancellation-token race of csrc/deadline.c: a request that reads a
// token's slot, then (after the token was re-armed on another thread) its
// generation, must not pair the old slot with the new generation.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>

#include "../../../csrc/internal.h"

extern void (*cg_test_cancel_hook)(cgoguard_cancel *);

static struct cg_slot *pl_race_b;
static uint64_t pl_race_gen_b;
static pthread_mutex_t pl_race_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pl_race_cv = PTHREAD_COND_INITIALIZER;
static int pl_race_state; // 1: B has its slot; 2: B may exit

static void *pl_race_thread(void *arg) {
	(void)arg;
	if (cg_call_deadline_slow() != CGOGUARD_OK)
		return NULL;
	pthread_mutex_lock(&pl_race_mu);
	pl_race_b = cg_thread.slot;
	pl_race_state = 1;
	pthread_cond_broadcast(&pl_race_cv);
	while (pl_race_state != 2)
		pthread_cond_wait(&pl_race_cv, &pl_race_mu);
	pthread_mutex_unlock(&pl_race_mu);
	return NULL;
}

// The token's first call ended on thread A; it is re-armed for a call on
// thread B: what the disarm and the next arm store.
static void pl_race_rearm(cgoguard_cancel *c) {
	__atomic_store_n(&c->gen, 0, __ATOMIC_SEQ_CST);
	(void)cg_arm_cancel(pl_race_b, pl_race_gen_b, c);
}

// 0 when the request cancelled B's call and left A alone; 1 when it paired
// A's slot with B's generation; 2 when it cancelled neither; negative when
// the set-up failed.
int pl_cancel_race(void) {
	pthread_t th;
	if (cg_call_deadline_slow() != CGOGUARD_OK)
		return -1;
	struct cg_slot *a = cg_thread.slot;
	pl_race_state = 0;
	if (pthread_create(&th, NULL, pl_race_thread, NULL) != 0)
		return -2;
	pthread_mutex_lock(&pl_race_mu);
	while (pl_race_state != 1)
		pthread_cond_wait(&pl_race_cv, &pl_race_mu);
	pthread_mutex_unlock(&pl_race_mu);

	cgoguard_cancel tok;
	cgoguard_cancel_init(&tok);
	uint64_t gen_a = (__atomic_load_n(&a->gen, __ATOMIC_RELAXED) + 1000) & CG_TAG_GEN_MASK;
	pl_race_gen_b = gen_a + 1;
	uint64_t a_before = __atomic_load_n(&a->cancel_gen, __ATOMIC_SEQ_CST);
	uint64_t b_before = __atomic_load_n(&pl_race_b->cancel_gen, __ATOMIC_SEQ_CST);
	(void)cg_arm_cancel(a, gen_a, &tok);
	cg_test_cancel_hook = pl_race_rearm;
	cgoguard_cancel_request(&tok);
	cg_test_cancel_hook = NULL;
	uint64_t a_after = __atomic_load_n(&a->cancel_gen, __ATOMIC_SEQ_CST);
	uint64_t b_after = __atomic_load_n(&pl_race_b->cancel_gen, __ATOMIC_SEQ_CST);
	// Put the slots back as they were (no call is armed on either).
	__atomic_store_n(&a->cancel_gen, a_before, __ATOMIC_SEQ_CST);
	__atomic_store_n(&pl_race_b->cancel_gen, b_before, __ATOMIC_SEQ_CST);

	pthread_mutex_lock(&pl_race_mu);
	pl_race_state = 2;
	pthread_cond_broadcast(&pl_race_cv);
	pthread_mutex_unlock(&pl_race_mu);
	pthread_join(th, NULL);

	if (a_after == pl_race_gen_b)
		return 1;
	if (b_after != pl_race_gen_b)
		return 2;
	return 0;
}
