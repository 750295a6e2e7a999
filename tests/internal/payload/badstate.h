#ifndef PAYLOAD_BADSTATE_H
#define PAYLOAD_BADSTATE_H
#include <stdint.h>
void pl_bad_rsp(void *);
void pl_bad_rip_rsp(void *);
void pl_call_unmapped(void *);
void pl_spin_bad_rsp(void *);
int pl_probe_install(int how);
int pl_probe_read(uintptr_t addr);
long pl_probe_fault_count(void);
#endif
