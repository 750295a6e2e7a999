#ifndef BENCH_CFUNCS_H
#define BENCH_CFUNCS_H

typedef void (*bf_fn)(void *);

void bf_empty(void *);
void bf_null_write(void *);
int bf_pipe_setup(void);
void bf_read_pipe(void *);
int bf_seed_call(bf_fn fn, void *arg, long timeout_us);

#endif
