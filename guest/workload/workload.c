/* SPDX-License-Identifier: Apache-2.0 */
/* The workload guest: fills its RAM with a pattern derived from (page,
 * generation), dirties pages at a set rate and keeps verifying every page
 * against the generation it last wrote, reporting on COM1. All of its
 * state (the generation table, the counters, the clock) lives in guest RAM,
 * so a live migration carries it and a page lost or damaged on the way is
 * found by the next verification pass. The serial protocol is in
 * docs/guests.md. */
#include <stdbool.h>
#include <stdint.h>

#include "hw.h"

#define PAGE_SIZE 4096u
#define PAGE_WORDS (PAGE_SIZE / 4)
#define MAX_REGIONS 32
#define MAX_CORRUPT_LINES 16
#define MB_BOOTLOADER_MAGIC 0x2BADB002u
#define MB_INFO_MEMORY (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MMAP (1u << 6)
/* Without a rate the dirtier rewrites this many pages per page verified. */
#define UNLIMITED_DIRTY_PER_STEP 4u
/* At most this many pages are dirtied between two looks at the clock and
 * the serial port, so neither is starved. */
#define MAX_DIRTY_PER_STEP 16u

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
};

struct mb_mmap_entry {
	uint32_t size; /* of the rest of the entry */
	uint64_t base, length;
	uint32_t type; /* 1: usable RAM */
} __attribute__((packed));

enum pattern {
	PATTERN_HASH,   /* every word of the page from (page, generation) */
	PATTERN_SPARSE, /* the first word from (page, generation), the rest zero */
};

struct config {
	uint64_t mem_bytes; /* 0: all usable RAM */
	uint32_t rate;      /* pages/s; 0: as fast as possible */
	bool dirty;         /* false: rate=none, verify only */
	enum pattern pattern;
};

/* Usable RAM under test: [first_page, first_page + pages) in page frames. */
struct region {
	uint32_t first_pfn, pages;
};

extern char _image_end[];

static struct config config = {.rate = 1000, .dirty = true, .pattern = PATTERN_HASH};
static char cmdline[512];
static struct region regions[MAX_REGIONS];
static uint32_t n_regions;
static uint32_t n_pages;
static uint32_t *generation; /* one per page under test, in guest RAM too */

static struct {
	uint64_t passes, dirtied, checked, corrupt;
	uint32_t cursor;     /* next page to verify */
	uint32_t dirty_rng;  /* xorshift state choosing pages to dirty */
	uint64_t credit;     /* rate * PIT ticks not yet turned into pages */
	uint32_t owed;       /* pages due to be dirtied */
	uint32_t corrupt_lines;
	uint32_t injected;
} st;

static const char *const pattern_names[] = {"hash", "sparse"};

/* A decimal number with an optional K/M/G suffix (powers of 1024). */
static bool parse_size(const char *s, uint32_t len, uint64_t *out)
{
	uint64_t v = 0;
	uint32_t i = 0;
	if (len == 0)
		return false;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (uint32_t)(s[i] - '0');
		if (v > 0xffffffffull)
			return false;
	}
	if (i == 0)
		return false;
	if (i < len) {
		uint32_t shift;
		switch (s[i]) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		default: return false;
		}
		if (i + 1 != len)
			return false;
		v <<= shift;
	}
	*out = v;
	return true;
}

/* Whether word[0..len) is exactly the NUL-terminated key. */
static bool word_is(const char *word, uint32_t len, const char *key)
{
	for (uint32_t i = 0; i < len; i++)
		if (key[i] != word[i]) /* also stops at the key's NUL */
			return false;
	return key[len] == '\0';
}

static bool parse_option(const char *key, uint32_t key_len, const char *val, uint32_t val_len)
{
	uint64_t v;
	if (word_is(key, key_len, "mem"))
		return parse_size(val, val_len, &config.mem_bytes);
	if (word_is(key, key_len, "rate")) {
		config.dirty = !word_is(val, val_len, "none");
		if (!config.dirty) {
			config.rate = 0;
			return true;
		}
		if (!parse_size(val, val_len, &v) || v > 0xffffffffull)
			return false;
		config.rate = (uint32_t)v;
		return true;
	}
	if (word_is(key, key_len, "pattern")) {
		for (uint32_t p = 0; p < sizeof(pattern_names) / sizeof(pattern_names[0]); p++)
			if (word_is(val, val_len, pattern_names[p])) {
				config.pattern = (enum pattern)p;
				return true;
			}
		return false;
	}
	return false;
}

/* QEMU passes "<kernel path> <-append text>": words without '=' (the
 * path) are skipped, the rest are key=value options. A bad option is
 * reported and ignored. */
static void parse_cmdline(const char *s)
{
	while (*s) {
		while (*s == ' ')
			s++;
		const char *word = s;
		while (*s && *s != ' ')
			s++;
		uint32_t len = (uint32_t)(s - word);
		uint32_t key_len = 0;
		while (key_len < len && word[key_len] != '=')
			key_len++;
		if (key_len == len)
			continue;
		if (!parse_option(word, key_len, word + key_len + 1, len - key_len - 1)) {
			kprintf("godwit-workload: warning: ignored option '");
			for (uint32_t i = 0; i < len; i++)
				serial_putc(word[i]);
			kprintf("'\n");
		}
	}
}

static void add_region(uint64_t base, uint64_t length, uint64_t floor)
{
	uint64_t end = base + length;
	/* 32-bit protected mode without paging reaches the first 4 GiB only. */
	if (end > 0x100000000ull)
		end = 0x100000000ull;
	if (base < floor)
		base = floor;
	base = (base + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
	end &= ~(uint64_t)(PAGE_SIZE - 1);
	if (end <= base || n_regions == MAX_REGIONS)
		return;
	regions[n_regions].first_pfn = (uint32_t)(base >> 12);
	regions[n_regions].pages = (uint32_t)((end - base) >> 12);
	n_regions++;
}

/* Usable RAM above the image from the Multiboot memory map (or, failing
 * that, mem_upper). The cmdline was copied out first: QEMU puts the
 * Multiboot information just above the image, where the test pages go. */
static int discover_memory(const struct mb_info *mbi)
{
	uint64_t floor = (uint32_t)_image_end;
	if (mbi->flags & MB_INFO_MMAP) {
		uint32_t off = 0;
		while (off + sizeof(struct mb_mmap_entry) <= mbi->mmap_length) {
			const struct mb_mmap_entry *e =
				(const struct mb_mmap_entry *)(mbi->mmap_addr + off);
			if (e->type == 1)
				add_region(e->base, e->length, floor);
			off += e->size + 4;
		}
	} else if (mbi->flags & MB_INFO_MEMORY) {
		add_region(0x100000, (uint64_t)mbi->mem_upper * 1024, floor);
	}
	if (n_regions == 0)
		return -1;

	/* The generation table takes the first pages of the first region. */
	uint64_t total = 0;
	for (uint32_t r = 0; r < n_regions; r++)
		total += regions[r].pages;
	uint32_t table_pages = (uint32_t)((total * 4 + PAGE_SIZE - 1) / PAGE_SIZE);
	if (regions[0].pages <= table_pages)
		return -1;
	generation = (uint32_t *)(regions[0].first_pfn << 12);
	regions[0].first_pfn += table_pages;
	regions[0].pages -= table_pages;

	uint64_t limit = config.mem_bytes ? config.mem_bytes / PAGE_SIZE : ~0ull;
	for (uint32_t r = 0; r < n_regions; r++) {
		if (n_pages + (uint64_t)regions[r].pages > limit)
			regions[r].pages = (uint32_t)(limit - n_pages);
		n_pages += regions[r].pages;
	}
	return n_pages ? 0 : -1;
}

static uint32_t page_pfn(uint32_t index)
{
	for (uint32_t r = 0; r < n_regions; r++) {
		if (index < regions[r].pages)
			return regions[r].first_pfn + index;
		index -= regions[r].pages;
	}
	return 0; /* not reached: index < n_pages */
}

static uint32_t *page_words(uint32_t pfn)
{
	return (uint32_t *)(pfn << 12);
}

/* A well-mixed 32-bit seed for (page frame, generation): neighbouring
 * pages and generations give unrelated contents, never all zero. */
static uint32_t page_seed(uint32_t pfn, uint32_t gen)
{
	uint32_t x = pfn * 0x9e3779b1u ^ (gen + 0x7f4a7c15u) * 0x85ebca77u;
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x ? x : 0x2545f491u;
}

static inline uint32_t xorshift32(uint32_t x)
{
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

static void write_page(uint32_t pfn, uint32_t gen)
{
	uint32_t *w = page_words(pfn);
	uint32_t x = page_seed(pfn, gen);
	if (config.pattern == PATTERN_SPARSE) {
		w[0] = x;
		for (uint32_t i = 1; i < PAGE_WORDS; i++)
			w[i] = 0;
		return;
	}
	for (uint32_t i = 0; i < PAGE_WORDS; i++) {
		x = xorshift32(x);
		w[i] = x;
	}
}

/* The first word that differs from what (pfn, gen) gives, or -1. */
static int check_page(uint32_t pfn, uint32_t gen, uint32_t *expected, uint32_t *found)
{
	const volatile uint32_t *w = page_words(pfn);
	uint32_t x = page_seed(pfn, gen);
	for (uint32_t i = 0; i < PAGE_WORDS; i++) {
		uint32_t want;
		if (config.pattern == PATTERN_SPARSE) {
			want = i == 0 ? x : 0;
		} else {
			x = xorshift32(x);
			want = x;
		}
		uint32_t have = w[i];
		if (have != want) {
			*expected = want;
			*found = have;
			return (int)i;
		}
	}
	return -1;
}

static void verify_one(void)
{
	uint32_t index = st.cursor;
	uint32_t pfn = page_pfn(index);
	uint32_t expected, found;
	int word = check_page(pfn, generation[index], &expected, &found);
	st.checked++;
	if (word >= 0) {
		st.corrupt++;
		if (st.corrupt_lines < MAX_CORRUPT_LINES) {
			st.corrupt_lines++;
			kprintf("godwit-workload: CORRUPT page=%u addr=0x%x offset=%u gen=%u "
				"expected=0x%x found=0x%x\n",
				pfn, pfn << 12, (uint32_t)word * 4, generation[index], expected,
				found);
		}
		/* Rewritten so that one fault is counted once, and later faults in
		 * the same page are still seen. */
		write_page(pfn, generation[index]);
	}
	if (++st.cursor == n_pages) {
		st.cursor = 0;
		st.passes++;
	}
}

static void dirty_one(void)
{
	st.dirty_rng = xorshift32(st.dirty_rng);
	uint32_t index = st.dirty_rng % n_pages;
	generation[index]++;
	write_page(page_pfn(index), generation[index]);
	st.dirtied++;
}

/* 'c': flips one byte of the page the checker looks at next, without
 * telling it, so a test can see that a damaged page is reported. */
static void inject_fault(void)
{
	uint32_t pfn = page_pfn(st.cursor);
	uint32_t offset = (st.injected * 1237u + 100u) % PAGE_SIZE;
	volatile uint8_t *p = (volatile uint8_t *)(pfn << 12);
	p[offset] ^= 0x5a;
	st.injected++;
	kprintf("godwit-workload: injected page=%u addr=0x%x offset=%u\n", pfn, pfn << 12, offset);
}

static void print_status(uint64_t seconds, uint32_t rate_now)
{
	kprintf("godwit-workload: t=%llu pass=%llu checked=%llu dirtied=%llu rate=%u corrupt=%llu\n",
		seconds, st.passes, st.checked, st.dirtied, rate_now, st.corrupt);
}

static void poll_serial(void)
{
	int c;
	while ((c = serial_getc()) >= 0) {
		if (c == 'c')
			inject_fault();
	}
}

void workload_main(uint32_t magic, const struct mb_info *mbi);

void workload_main(uint32_t magic, const struct mb_info *mbi)
{
	serial_init();
	if (magic != MB_BOOTLOADER_MAGIC) {
		kprintf("godwit-workload: error: not started by a Multiboot loader (eax=0x%x)\n",
			magic);
		return;
	}
	if (mbi->flags & MB_INFO_CMDLINE) {
		const char *s = (const char *)mbi->cmdline;
		uint32_t n = 0;
		while (s[n] && n < sizeof(cmdline) - 1) {
			cmdline[n] = s[n];
			n++;
		}
		cmdline[n] = '\0';
	}
	parse_cmdline(cmdline);
	if (discover_memory(mbi) < 0) {
		kprintf("godwit-workload: error: no usable RAM above the image\n");
		return;
	}
	kprintf("godwit-workload: start pages=%u test_kib=%u rate=", n_pages, n_pages * 4);
	if (config.dirty)
		kprintf("%u", config.rate);
	else
		kprintf("none");
	kprintf(" pattern=%s table=0x%x\n", pattern_names[config.pattern], (uint32_t)generation);

	clock_init();
	uint64_t t0 = clock_ticks();
	for (uint32_t i = 0; i < n_pages; i++) {
		generation[i] = 0;
		write_page(page_pfn(i), 0);
		if ((i & 63) == 0)
			clock_ticks();
	}
	uint64_t fill_ticks = clock_ticks() - t0;
	kprintf("godwit-workload: ready pages=%u fill_ms=%llu\n", n_pages,
		udiv64(fill_ticks * 1000, PIT_HZ, 0));

	st.dirty_rng = 0x12345678u;
	uint64_t now = clock_ticks(), last = now, next_status = now + PIT_HZ;
	uint64_t seconds = 0, dirtied_at_status = 0;
	for (;;) {
		poll_serial();
		verify_one();

		now = clock_ticks();
		uint32_t budget;
		if (!config.dirty) {
			budget = 0;
		} else if (config.rate == 0) {
			budget = UNLIMITED_DIRTY_PER_STEP;
		} else {
			st.credit += (now - last) * config.rate;
			uint32_t more;
			uint64_t whole = udiv64(st.credit, PIT_HZ, &more);
			st.credit = more;
			/* A guest that cannot keep up does not build a backlog larger
			 * than one second's worth. */
			uint64_t owed = st.owed + whole;
			st.owed = owed > config.rate ? config.rate : (uint32_t)owed;
			budget = st.owed < MAX_DIRTY_PER_STEP ? st.owed : MAX_DIRTY_PER_STEP;
			st.owed -= budget;
		}
		last = now;
		for (uint32_t i = 0; i < budget; i++)
			dirty_one();

		if (now >= next_status) {
			seconds++;
			next_status += PIT_HZ;
			/* After a long pause (a migration's downtime does not count:
			 * the PIT stops with the VM) do not print a burst of lines. */
			if (next_status <= now)
				next_status = now + PIT_HZ;
			print_status(seconds, (uint32_t)(st.dirtied - dirtied_at_status));
			dirtied_at_status = st.dirtied;
		}
	}
}
