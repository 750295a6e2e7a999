// C functions that block or spin forever, for deadline tests. Each takes a
// struct pl_result and sets r->out only if it ever returns.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "payload.h"

static int pl_pipe[2] = {-1, -1};
static int pl_sock[2] = {-1, -1};
static pthread_mutex_t pl_held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t pl_cond_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pl_cond = PTHREAD_COND_INITIALIZER;
static sem_t pl_sem;

static void *pl_hold_forever(void *unused) {
	(void)unused;
	pthread_mutex_lock(&pl_held);
	for (;;)
		pause();
	return NULL;
}

// Creates what the blocking payloads wait on; idempotent.
int pl_blocking_setup(void) {
	static int done;
	if (done)
		return 0;
	if (pipe(pl_pipe) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, pl_sock) != 0 ||
	    sem_init(&pl_sem, 0, 0) != 0)
		return -1;
	pthread_t t;
	if (pthread_create(&t, NULL, pl_hold_forever, NULL) != 0)
		return -1;
	pthread_detach(t);
	while (pthread_mutex_trylock(&pl_held) == 0) { // wait until the holder has it
		pthread_mutex_unlock(&pl_held);
		usleep(100);
	}
	done = 1;
	return 0;
}

void pl_block_read_pipe(void *arg) {
	struct pl_result *r = arg;
	char c;
	r->out = read(pl_pipe[0], &c, 1);
}

void pl_block_recv_socket(void *arg) {
	struct pl_result *r = arg;
	char c;
	r->out = recv(pl_sock[0], &c, 1, 0);
}

// poll and select return EINTR whenever any signal with a handler arrives
// (the Go runtime's SIGURG and SIGPROF included): retry, as C code running
// in a Go program must.
void pl_block_poll(void *arg) {
	struct pl_result *r = arg;
	struct pollfd p = {.fd = pl_pipe[0], .events = POLLIN};
	while ((r->out = poll(&p, 1, -1)) < 0 && errno == EINTR)
		;
}

void pl_block_select(void *arg) {
	struct pl_result *r = arg;
	fd_set rd;
	do {
		FD_ZERO(&rd);
		FD_SET(pl_pipe[0], &rd);
	} while ((r->out = select(pl_pipe[0] + 1, &rd, NULL, NULL, NULL)) < 0 && errno == EINTR);
}

// nanosleep in the loop a careful C library writes: retry on EINTR.
void pl_block_nanosleep(void *arg) {
	struct pl_result *r = arg;
	struct timespec ts = {3600, 0}, rem;
	while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
		ts = rem;
	r->out = 1;
}

void pl_block_mutex(void *arg) {
	struct pl_result *r = arg;
	pthread_mutex_lock(&pl_held);
	pthread_mutex_unlock(&pl_held);
	r->out = 1;
}

void pl_block_sem(void *arg) {
	struct pl_result *r = arg;
	while (sem_wait(&pl_sem) != 0 && errno == EINTR)
		;
	r->out = 1;
}

void pl_block_cond(void *arg) {
	struct pl_result *r = arg;
	pthread_mutex_lock(&pl_cond_mu);
	for (;;)
		pthread_cond_wait(&pl_cond, &pl_cond_mu); // never signalled
	r->out = 1;
}

void pl_spin(void *arg) {
	struct pl_result *r = arg;
	volatile unsigned long n = 0;
	for (;;)
		n++;
	r->out = (long)n;
}

// malloc, free, and one short blocking system call, forever: interrupted
// anywhere but in the system call, the allocator's lock could stay held.
void pl_malloc_loop(void *arg) {
	struct pl_result *r = arg;
	for (;;) {
		void *p = malloc(64 + (size_t)(r->in & 1023));
		void *q = malloc(4096);
		free(p);
		free(q);
		struct timespec ts = {0, 20000};
		nanosleep(&ts, NULL);
	}
}

// Allocates and frees forever, with no system call: forced at its deadline,
// the thread is stopped inside malloc or free nearly every time.
void pl_malloc_spin(void *arg) {
	struct pl_result *r = arg;
	void *keep[64] = {0};
	for (unsigned long i = 0;; i++) {
		unsigned k = (unsigned)(i * 2654435761u) % 64;
		free(keep[k]);
		keep[k] = malloc(16 + (size_t)((i * 40503u + (unsigned long)r->in) % 2000));
	}
}

// Sleeps r->in microseconds, then returns.
void pl_sleep_us(void *arg) {
	struct pl_result *r = arg;
	struct timespec ts = {r->in / 1000000, (r->in % 1000000) * 1000}, rem;
	while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
		ts = rem;
	r->out = r->in;
}

// Spins r->in microseconds in user code, then returns.
void pl_spin_us(void *arg) {
	struct pl_result *r = arg;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < r->in);
	r->out = r->in;
}

// Spins r->in microseconds in user code, then blocks reading an empty pipe.
void pl_spin_then_block(void *arg) {
	pl_spin_us(arg);
	pl_block_read_pipe(arg);
}

// One wait on an empty pipe for r->in milliseconds, no EINTR retry, during
// which only sig can interrupt it (ppoll's mask blocks every other signal,
// the Go runtime's included): r->out is 0 on timeout, -1 if sig cut it short.
void pl_poll_once(void *arg) {
	struct pl_result *r = arg;
	struct pollfd p = {.fd = pl_pipe[0], .events = POLLIN};
	struct timespec ts = {r->in / 1000, (r->in % 1000) * 1000000};
	sigset_t only;
	sigfillset(&only);
	sigdelset(&only, (int)r->inner);
	r->out = ppoll(&p, 1, &ts, &only);
}
