/* SPDX-License-Identifier: Apache-2.0 */
/* The little hardware the workload guest drives, all by polling: COM1 for
 * its console and commands, the PIT as its clock. No libc: the few string
 * and number helpers it needs are here too. */
#ifndef GODWIT_GUEST_HW_H
#define GODWIT_GUEST_HW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The PIT's input clock (Hz). */
#define PIT_HZ 1193182u

void serial_init(void);
void serial_putc(char c);
void serial_puts(const char *s);
/* The next byte received on COM1, or -1 when none is waiting. */
int serial_getc(void);

/* Prints with a small printf subset: %s %c %u %x %llu %llx %%. */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Starts the PIT's channel 0 free running (mode 2, full 16-bit period). */
void clock_init(void);
/* PIT ticks since clock_init, as a 64-bit count. Must be called at least
 * once per PIT period (65536 ticks, about 55 ms of guest time) or time is
 * lost. Guest time stops while the VM is paused, as during a migration's
 * stop-and-copy, so a rate measured with it is the guest's own. */
uint64_t clock_ticks(void);

/* n / d (and n % d in *rem when not NULL) without libgcc's __udivdi3. */
uint64_t udiv64(uint64_t n, uint32_t d, uint32_t *rem);

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
size_t strlen(const char *s);

#endif
