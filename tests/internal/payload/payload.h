#ifndef PAYLOAD_H
#define PAYLOAD_H

struct pl_result {
	long in;
	long out;
	long inner;  // nesting: inner guard's result
	long after;  // nesting: set when the outer function carried on
	long tid;
	int stop;
	int depth_reached;
};

typedef void (*pl_fn)(void *);

void pl_empty(void *);
void pl_healthy(void *);
void pl_null_write(void *);
void pl_wild_read(void *);
void pl_rodata_write(void *);
void pl_jump_nx(void *);
void pl_div_zero(void *);
void pl_trap(void *);
void pl_abort(void *);
void pl_assert(void *);
void pl_bad_free(void *);
void pl_strlen_null(void *);
void pl_zlib_bad(void *);
int pl_bus_setup(void);
void pl_sigbus(void *);
void pl_stack_overflow(void *);
void pl_raise_segv(void *);
void pl_sleep_until(void *);
void pl_set_stop(struct pl_result *);
long pl_get_tid(struct pl_result *);
long pl_sum6(long, long, long, long, long, long);
long pl_div6(long, long);
void pl_quiet_stderr(int);
void pl_deep_outer(void *);
void pl_inlined_null_write(void *);
void pl_block_then_fault(void *);
int pl_sig_blocked(int sig);

void pl_call_go(void *);
int pl_replace_handler(int sig, int how);
long pl_replacement_seen(int sig);
void pl_nested_outer(void *);
void pl_nest_deep(void *);
int pl_guard_in_c_thread(pl_fn fn, long *sig, int *depth_after);
int pl_seed_call(pl_fn fn, void *arg, long timeout_us);



int pl_blocking_setup(void);
long pl_sleep_seconds(long);
void pl_block_read_pipe(void *);
void pl_block_recv_socket(void *);
void pl_block_poll(void *);
void pl_block_select(void *);
void pl_block_nanosleep(void *);
void pl_block_mutex(void *);
void pl_block_sem(void *);
void pl_block_cond(void *);
void pl_spin(void *);
void pl_malloc_loop(void *);
void pl_malloc_spin(void *);
void pl_sleep_us(void *);
void pl_spin_us(void *);
void pl_spin_then_block(void *);
void pl_poll_once(void *);
#endif
