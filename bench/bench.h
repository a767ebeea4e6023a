/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the benchmarks: timing, medians, a seeded PRNG. */
#ifndef GODWIT_BENCH_H
#define GODWIT_BENCH_H

#include <stdint.h>
#include <stdlib.h>

#include "godwit/util.h"

static inline double bench_ms_since(uint64_t start_ns)
{
	return (double)(gw_now_ns() - start_ns) / 1e6;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts v in place and returns its median. */
static inline double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* xorshift64*: small, seeded, the same sequence on every machine. */
static inline uint64_t bench_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

#endif
