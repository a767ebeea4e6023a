/* SPDX-License-Identifier: Apache-2.0 */
#include "hw.h"

#include <stdarg.h>

#define COM1 0x3f8
#define PIT_CH0 0x40
#define PIT_CMD 0x43

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

void serial_init(void)
{
	outb(COM1 + 1, 0x00); /* no interrupts: the guest polls */
	outb(COM1 + 3, 0x80); /* DLAB: divisor follows */
	outb(COM1 + 0, 0x01); /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	outb(COM1 + 2, 0xc7); /* FIFOs on, cleared */
	outb(COM1 + 4, 0x03); /* DTR, RTS */
}

void serial_putc(char c)
{
	/* Bounded: a UART that never drains must not hang the checker. */
	for (uint32_t spins = 0; !(inb(COM1 + 5) & 0x20) && spins < 1000000; spins++)
		;
	outb(COM1, (uint8_t)c);
}

void serial_puts(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			serial_putc('\r');
		serial_putc(*s);
	}
}

int serial_getc(void)
{
	if (!(inb(COM1 + 5) & 0x01))
		return -1;
	return inb(COM1);
}

uint64_t udiv64(uint64_t n, uint32_t d, uint32_t *rem)
{
	uint32_t hi = (uint32_t)(n >> 32), lo = (uint32_t)n;
	uint32_t q_hi = hi / d, r = hi % d, q_lo;
	/* r < d, so the 64/32 divide cannot overflow. */
	__asm__("divl %4" : "=a"(q_lo), "=d"(r) : "a"(lo), "d"(r), "rm"(d));
	if (rem)
		*rem = r;
	return ((uint64_t)q_hi << 32) | q_lo;
}

static void put_u64(uint64_t v, uint32_t base)
{
	char buf[24];
	int n = 0;
	do {
		uint32_t digit;
		v = udiv64(v, base, &digit);
		buf[n++] = (char)(digit < 10 ? '0' + digit : 'a' + digit - 10);
	} while (v);
	while (n)
		serial_putc(buf[--n]);
}

void kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			if (*p == '\n')
				serial_putc('\r');
			serial_putc(*p);
			continue;
		}
		bool wide = false;
		if (p[1] == 'l' && p[2] == 'l') {
			wide = true;
			p += 2;
		}
		switch (*++p) {
		case 's':
			serial_puts(va_arg(ap, const char *));
			break;
		case 'c':
			serial_putc((char)va_arg(ap, int));
			break;
		case 'u':
		case 'x':
			put_u64(wide ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned int),
				*p == 'u' ? 10 : 16);
			break;
		case '%':
			serial_putc('%');
			break;
		case '\0':
			p--;
			break;
		default:
			serial_putc('%');
			serial_putc(*p);
		}
	}
	va_end(ap);
}

static uint64_t ticks_total;
static uint16_t ticks_last;

static uint16_t pit_read(void)
{
	outb(PIT_CMD, 0x00); /* latch channel 0 */
	uint8_t lo = inb(PIT_CH0);
	uint8_t hi = inb(PIT_CH0);
	return (uint16_t)(lo | hi << 8);
}

void clock_init(void)
{
	outb(PIT_CMD, 0x34); /* channel 0, lo/hi byte, mode 2, binary */
	outb(PIT_CH0, 0x00);
	outb(PIT_CH0, 0x00); /* count 0 = 65536 */
	ticks_last = pit_read();
}

uint64_t clock_ticks(void)
{
	uint16_t now = pit_read();
	/* The counter counts down and wraps modulo 65536. */
	ticks_total += (uint16_t)(ticks_last - now);
	ticks_last = now;
	return ticks_total;
}

void *memset(void *dst, int c, size_t n)
{
	uint8_t *d = dst;
	while (n--)
		*d++ = (uint8_t)c;
	return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	while (n--)
		*d++ = *s++;
	return dst;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}
