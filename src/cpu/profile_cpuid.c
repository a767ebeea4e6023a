/* SPDX-License-Identifier: Apache-2.0 */
/* CPUID: raw register decoding, `cpuid -1 -r` dumps, and this host.
 * gw_cpu_profile_from_host is the one reader here that touches the live
 * machine (the CPUID instruction, /dev/cpu/0/msr, /dev/kvm). */
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "godwit/cpu.h"

/* A dump of a real host holds ~100 leaves; anything near this is hostile. */
#define CPUID_MAX_ENTRIES 4096
#define CPUID_DUMP_MAX_LINE 512

struct cpuid_entry {
	uint32_t leaf, subleaf;
	uint32_t regs[4]; /* eax, ebx, ecx, edx */
};

struct cpuid_data {
	struct cpuid_entry *v;
	size_t n, cap;
};

static void cpuid_data_add(struct cpuid_data *d, uint32_t leaf, uint32_t subleaf, const uint32_t regs[4])
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->v = gw_realloc(d->v, d->cap * sizeof(*d->v));
	}
	struct cpuid_entry *e = &d->v[d->n++];
	e->leaf = leaf;
	e->subleaf = subleaf;
	memcpy(e->regs, regs, sizeof(e->regs));
}

static const struct cpuid_entry *cpuid_data_find(const struct cpuid_data *d, uint32_t leaf, uint32_t subleaf)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].leaf == leaf && d->v[i].subleaf == subleaf)
			return &d->v[i];
	return NULL;
}

void gw_cpu_decode_cpuid(uint32_t leaf, uint32_t subleaf, const uint32_t regs[4], struct gw_featset *out)
{
	size_t n = gw_cpu_feature_count();
	for (unsigned i = 0; i < n; i++) {
		const struct gw_cpu_feature *f = gw_cpu_feature_get(i);
		if (f->is_msr || f->leaf != leaf || f->subleaf != subleaf)
			continue;
		if ((regs[f->reg] >> f->bit) & 1)
			gw_featset_set(out, i);
	}
}

/* The VMX control MSRs report allowed-1 settings in bits 63:32; the feature
 * table stores those 32 bits in the low word, as QEMU's VMX feature words do
 * (cpu-models.md a.3). 0x48b is the secondary processor-based controls,
 * 0x48d-0x490 the TRUE pin/processor/exit/entry controls. */
static bool msr_is_vmx_control(uint32_t index)
{
	return index == 0x48b || (index >= 0x48d && index <= 0x490);
}

void gw_cpu_decode_msr(uint32_t index, uint64_t value, struct gw_featset *out)
{
	uint64_t bits = msr_is_vmx_control(index) ? value >> 32 : value;
	size_t n = gw_cpu_feature_count();
	for (unsigned i = 0; i < n; i++) {
		const struct gw_cpu_feature *f = gw_cpu_feature_get(i);
		if (!f->is_msr || f->leaf != index || f->bit > 63)
			continue;
		if ((bits >> f->bit) & 1)
			gw_featset_set(out, i);
	}
}

/* The distinct MSR indices the feature table refers to, ascending. */
static size_t feature_msr_indices(uint32_t *out, size_t max)
{
	size_t n = 0, count = gw_cpu_feature_count();
	for (unsigned i = 0; i < count; i++) {
		const struct gw_cpu_feature *f = gw_cpu_feature_get(i);
		if (!f->is_msr)
			continue;
		bool seen = false;
		for (size_t k = 0; k < n; k++)
			seen |= out[k] == f->leaf;
		if (!seen && n < max)
			out[n++] = f->leaf;
	}
	return n;
}

/* Vendor, signature and features of a set of CPUID leaves. Leaves beyond
 * the maximum that leaf 0 / 0x80000000 report are ignored, as a CPU
 * returns garbage (the highest basic leaf) for them; so are subleaves
 * beyond the count a leaf reports. */
static int profile_from_cpuid_data(const struct cpuid_data *d, const char *origin, struct gw_cpu_profile *p,
				   struct gw_err **err)
{
	const struct cpuid_entry *l0 = cpuid_data_find(d, 0, 0);
	if (!l0)
		return gw_err_set(err, -EINVAL, "%s: no leaf 0x00000000 (vendor and maximum leaf)", origin);
	const struct cpuid_entry *l1 = cpuid_data_find(d, 1, 0);
	if (!l1 || l0->regs[0] < 1)
		return gw_err_set(err, -EINVAL, "%s: no leaf 0x00000001 (signature and basic features)", origin);
	const struct cpuid_entry *ext = cpuid_data_find(d, 0x80000000u, 0);
	uint32_t max_basic = l0->regs[0];
	uint32_t max_ext = ext && ext->regs[0] >= 0x80000000u ? ext->regs[0] : 0;

	/* The vendor string is EBX, EDX, ECX, four little-endian bytes each. */
	char id[12];
	uint32_t order[3] = {l0->regs[GW_CPU_REG_EBX], l0->regs[GW_CPU_REG_EDX], l0->regs[GW_CPU_REG_ECX]};
	for (int r = 0; r < 3; r++)
		for (int b = 0; b < 4; b++)
			id[r * 4 + b] = (char)((order[r] >> (8 * b)) & 0xff);
	const char *vendor = gw_cpu_vendor_from_cpuid(id);
	free(p->vendor);
	p->vendor = vendor ? gw_strdup(vendor) : NULL;

	/* Signature as libvirt decodes it (leaf 1 EAX masked 0x0fff3fff):
	 * family = base + extended, model = extended << 4 | base. */
	uint32_t eax = l1->regs[GW_CPU_REG_EAX];
	p->stepping = (int)(eax & 0xf);
	p->model = (int)((((eax >> 16) & 0xf) << 4) | ((eax >> 4) & 0xf));
	p->family = (int)(((eax >> 8) & 0xf) + ((eax >> 20) & 0xff));

	for (size_t i = 0; i < d->n; i++) {
		const struct cpuid_entry *e = &d->v[i];
		bool in_range = e->leaf < 0x80000000u ? e->leaf <= max_basic
						      : e->leaf <= 0x8fffffffu && max_ext && e->leaf <= max_ext;
		/* leaves 7 and 0x14 count their subleaves in subleaf 0's EAX */
		if (in_range && (e->leaf == 7 || e->leaf == 0x14) && e->subleaf > 0) {
			const struct cpuid_entry *sub0 = cpuid_data_find(d, e->leaf, 0);
			in_range = sub0 && e->subleaf <= sub0->regs[GW_CPU_REG_EAX];
		}
		if (in_range)
			gw_cpu_decode_cpuid(e->leaf, e->subleaf, e->regs, &p->features);
	}
	return 0;
}

/* ---- `cpuid -1 -r` dumps -------------------------------------------------
 * The Debian `cpuid` tool prints a "CPU:" (or "CPU n:") header and lines
 *    0x00000007 0x00: eax=0x00000001 ebx=0xf1bb03a9 ecx=0x18005f42 edx=0x00000110
 * Without -1 it prints every CPU; the first one is used. */

static const char *skip_blanks(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

/* "0x" followed by 1-8 hex digits. */
static const char *parse_hex32(const char *s, const char *end, uint32_t *out)
{
	if (end - s < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return NULL;
	s += 2;
	uint32_t v = 0;
	int digits = 0;
	for (; s < end; s++, digits++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (digits == 8)
			return NULL;
		v = v << 4 | (uint32_t)d;
	}
	if (digits == 0)
		return NULL;
	*out = v;
	return s;
}

static const char *expect_str(const char *s, const char *end, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(end - s) < n || memcmp(s, lit, n) != 0)
		return NULL;
	return s + n;
}

/* One register line; NULL-free parse of [s, end). Returns false on any
 * deviation from the format. */
static bool parse_dump_line(const char *s, const char *end, uint32_t *leaf, uint32_t *subleaf, uint32_t regs[4])
{
	static const char *const names[4] = {"eax=", "ebx=", "ecx=", "edx="};
	s = skip_blanks(s, end);
	if (!(s = parse_hex32(s, end, leaf)))
		return false;
	s = skip_blanks(s, end);
	if (!(s = parse_hex32(s, end, subleaf)) || !(s = expect_str(s, end, ":")))
		return false;
	for (int r = 0; r < 4; r++) {
		const char *next = skip_blanks(s, end);
		if (next == s || !(s = expect_str(next, end, names[r])) || !(s = parse_hex32(s, end, &regs[r])))
			return false;
	}
	s = skip_blanks(s, end);
	return s == end;
}

/* "CPU:" or "CPU <n>:" */
static bool is_cpu_header(const char *s, const char *end)
{
	s = skip_blanks(s, end);
	if (!(s = expect_str(s, end, "CPU")))
		return false;
	s = skip_blanks(s, end);
	while (s < end && *s >= '0' && *s <= '9')
		s++;
	if (!(s = expect_str(s, end, ":")))
		return false;
	return skip_blanks(s, end) == end;
}

/* "dir/host-a.cpuid" -> "host-a" */
static char *name_from_origin(const char *origin)
{
	const char *base = strrchr(origin, '/');
	base = base ? base + 1 : origin;
	const char *dot = strrchr(base, '.');
	size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
	return n ? gw_strndup(base, n) : gw_strdup("host");
}

int gw_cpu_profile_from_cpuid_dump(const char *text, const char *origin, struct gw_cpu_profile **out,
				   struct gw_err **err)
{
	*out = NULL;
	if (!origin)
		origin = "cpuid dump";
	if (!text)
		return gw_err_set(err, -EINVAL, "%s: no input", origin);
	struct cpuid_data d = {0};
	int r = 0;
	size_t lineno = 0;
	int headers = 0;
	for (const char *line = text; *line && r == 0;) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		const char *next = nl ? nl + 1 : end;
		lineno++;
		if (end > line && end[-1] == '\r')
			end--;
		if ((size_t)(end - line) > CPUID_DUMP_MAX_LINE) {
			r = gw_err_set(err, -EINVAL, "%s: line %zu: longer than %d characters", origin, lineno,
				       CPUID_DUMP_MAX_LINE);
			break;
		}
		uint32_t leaf, subleaf, regs[4];
		if (skip_blanks(line, end) == end) {
			/* blank */
		} else if (is_cpu_header(line, end)) {
			if (++headers > 1)
				break; /* the first CPU speaks for the host */
		} else if (parse_dump_line(line, end, &leaf, &subleaf, regs)) {
			if (cpuid_data_find(&d, leaf, subleaf))
				r = gw_err_set(err, -EINVAL, "%s: line %zu: leaf 0x%08x subleaf 0x%02x appears twice",
					       origin, lineno, leaf, subleaf);
			else if (d.n >= CPUID_MAX_ENTRIES)
				r = gw_err_set(err, -E2BIG, "%s: line %zu: more than %d leaves", origin, lineno,
					       CPUID_MAX_ENTRIES);
			else
				cpuid_data_add(&d, leaf, subleaf, regs);
		} else {
			r = gw_err_set(err, -EINVAL,
				       "%s: line %zu: \"%.*s\": expected \"0xLEAF 0xSUB: eax=0x... ebx=0x... "
				       "ecx=0x... edx=0x...\" (`cpuid -1 -r` output)",
				       origin, lineno, (int)(end - line > 60 ? 60 : end - line), line);
		}
		line = next;
	}
	if (r == 0 && d.n == 0)
		r = gw_err_set(err, -EINVAL, "%s: no CPUID leaves (expected `cpuid -1 -r` output)", origin);
	struct gw_cpu_profile *p = NULL;
	if (r == 0) {
		_cleanup_free_ char *name = name_from_origin(origin);
		p = gw_cpu_profile_new(GW_CPU_PROFILE_CPUID_DUMP, name, origin);
		r = profile_from_cpuid_data(&d, origin, p, err);
	}
	free(d.v);
	if (r < 0) {
		gw_cpu_profile_free(p);
		return r;
	}
	*out = p;
	return 0;
}

/* ---- this host -------------------------------------------------------- */

#if defined(__x86_64__) || defined(__i386__)
static void cpuid_insn(uint32_t leaf, uint32_t subleaf, uint32_t regs[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(regs[0]), "=b"(regs[1]), "=c"(regs[2]), "=d"(regs[3])
			 : "a"(leaf), "c"(subleaf));
}

static void host_add(struct cpuid_data *d, uint32_t leaf, uint32_t subleaf, uint32_t regs[4])
{
	cpuid_insn(leaf, subleaf, regs);
	if (d->n < CPUID_MAX_ENTRIES)
		cpuid_data_add(d, leaf, subleaf, regs);
}

/* The leaves and subleaves libvirt reads for a host CPU (cpu-models.md e.2);
 * loop bounds are capped because a hypervisor may report anything. */
static void host_read_range(struct cpuid_data *d, uint32_t first)
{
	uint32_t regs[4], sub0[4], sub1[4];
	cpuid_insn(first, 0, regs);
	uint32_t max = regs[0];
	if (first == 0x80000000u && (max < first || max > first + 0xff))
		max = max < first ? first - 1 : first + 0xff;
	if (first == 0 && max > 0xff)
		max = 0xff;
	for (uint32_t leaf = first; leaf <= max && leaf >= first; leaf++) {
		host_add(d, leaf, 0, sub0);
		switch (leaf) {
		case 0x4:
			for (uint32_t s = 1; s < 64 && (sub0[0] & 0x1f); s++)
				host_add(d, leaf, s, sub0);
			break;
		case 0x7:
		case 0x14:
			for (uint32_t s = 1; s <= sub0[0] && s < 64; s++)
				host_add(d, leaf, s, regs);
			break;
		case 0xb:
			for (uint32_t s = 1; s < 64 && (sub0[2] & 0xff00); s++)
				host_add(d, leaf, s, sub0);
			break;
		case 0xd:
			host_add(d, leaf, 1, sub1);
			for (uint32_t s = 2; s < 64; s++) {
				bool set = s < 32 ? ((sub0[0] | sub1[2]) >> s) & 1 : ((sub0[3] | sub1[3]) >> (s - 32)) & 1;
				if (set)
					host_add(d, leaf, s, regs);
			}
			break;
		case 0xf:
		case 0x10: {
			uint32_t mask = leaf == 0xf ? sub0[3] : sub0[1];
			for (uint32_t s = 1; s < 32; s++)
				if ((mask >> s) & 1)
					host_add(d, leaf, s, regs);
			break;
		}
		case 0x12: {
			uint32_t l7[4];
			cpuid_insn(7, 0, l7);
			if (!((l7[1] >> 2) & 1))
				break;
			host_add(d, leaf, 1, regs);
			for (uint32_t s = 2; s < 64; s++) {
				host_add(d, leaf, s, regs);
				if (!(regs[0] & 0xf))
					break;
			}
			break;
		}
		case 0x17:
			for (uint32_t s = 1; sub0[0] >= 3 && s <= sub0[0] && s < 64; s++)
				host_add(d, leaf, s, regs);
			break;
		default:
			break;
		}
	}
}
#endif

/* Reads MSRs through the msr driver (root and the msr module needed).
 * Returns false when the driver cannot be opened; an MSR the CPU lacks
 * (a read error) is simply absent. */
static bool msrs_read_dev(const uint32_t *indices, size_t n, struct gw_featset *out)
{
	_cleanup_close_ int fd = open("/dev/cpu/0/msr", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint64_t value;
		if (pread(fd, &value, sizeof(value), indices[i]) == (ssize_t)sizeof(value))
			gw_cpu_decode_msr(indices[i], value, out);
	}
	return true;
}

/* KVM's feature MSRs (KVM_GET_MSR_FEATURE_INDEX_LIST, then KVM_GET_MSRS on
 * the system fd), decoded into `out`. Returns how many were read. */
static int kvm_feature_msrs(int kvm_fd, const uint32_t *wanted, size_t n_wanted, struct gw_featset *out)
{
	struct kvm_msr_list probe = {.nmsrs = 0};
	if (ioctl(kvm_fd, KVM_GET_MSR_FEATURE_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return -errno;
	if (probe.nmsrs == 0 || probe.nmsrs > 4096)
		return 0;
	_cleanup_free_ struct kvm_msr_list *list =
		gw_calloc(1, sizeof(*list) + probe.nmsrs * sizeof(list->indices[0]));
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_FEATURE_INDEX_LIST, list) < 0)
		return -errno;
	int read = 0;
	for (size_t w = 0; w < n_wanted; w++) {
		bool offered = false;
		for (uint32_t i = 0; i < list->nmsrs && i < probe.nmsrs; i++)
			offered |= list->indices[i] == wanted[w];
		if (!offered)
			continue;
		_cleanup_free_ struct kvm_msrs *msrs = gw_calloc(1, sizeof(*msrs) + sizeof(msrs->entries[0]));
		msrs->nmsrs = 1;
		msrs->entries[0].index = wanted[w];
		if (ioctl(kvm_fd, KVM_GET_MSRS, msrs) == 1) {
			gw_cpu_decode_msr(wanted[w], msrs->entries[0].data, out);
			read++;
		}
	}
	return read;
}

static int open_kvm(int *fd)
{
	*fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	return *fd < 0 ? -errno : 0;
}

static int host_kvm(struct gw_cpu_profile *p, struct gw_err **err)
{
	_cleanup_close_ int fd = -1;
	int r = open_kvm(&fd);
	if (r == -ENOENT || r == -ENODEV || r == -ENXIO)
		return gw_err_set(err, -ENODEV, "/dev/kvm: not present: this host offers no KVM to guests "
						"(no kvm module, or the CPU lacks VMX/SVM)");
	if (r < 0)
		return gw_err_set(err, r, "/dev/kvm: %s", strerror(-r));
	/* KVM says E2BIG until the buffer holds every entry. */
	_cleanup_free_ struct kvm_cpuid2 *cpuid = NULL;
	uint32_t nent = 128;
	for (;;) {
		free(cpuid);
		cpuid = gw_calloc(1, sizeof(*cpuid) + nent * sizeof(cpuid->entries[0]));
		cpuid->nent = nent;
		if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			break;
		if (errno != E2BIG || nent >= 16384)
			return gw_err_set(err, -errno, "/dev/kvm: KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		nent *= 2;
	}
	struct cpuid_data d = {0};
	for (uint32_t i = 0; i < cpuid->nent && i < nent && d.n < CPUID_MAX_ENTRIES; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		uint32_t regs[4] = {e->eax, e->ebx, e->ecx, e->edx};
		cpuid_data_add(&d, e->function, e->index, regs);
	}
	r = profile_from_cpuid_data(&d, "/dev/kvm KVM_GET_SUPPORTED_CPUID", p, err);
	free(d.v);
	if (r < 0)
		return r;
	uint32_t msrs[32];
	size_t n_msrs = feature_msr_indices(msrs, GW_ARRAY_SIZE(msrs));
	(void)kvm_feature_msrs(fd, msrs, n_msrs, &p->features);
	return 0;
}

int gw_cpu_profile_from_host(bool kvm, struct gw_cpu_profile **out, struct gw_err **err)
{
	*out = NULL;
	char hostname[256] = "localhost";
	if (gethostname(hostname, sizeof(hostname) - 1) < 0)
		strcpy(hostname, "localhost");
	hostname[sizeof(hostname) - 1] = '\0';
	struct gw_cpu_profile *p =
		gw_cpu_profile_new(kvm ? GW_CPU_PROFILE_KVM : GW_CPU_PROFILE_CPUID, hostname, "this host");
	int r;
	if (kvm) {
		r = host_kvm(p, err);
	} else {
#if defined(__x86_64__) || defined(__i386__)
		struct cpuid_data d = {0};
		host_read_range(&d, 0);
		host_read_range(&d, 0x80000000u);
		r = profile_from_cpuid_data(&d, "this host's CPUID", p, err);
		free(d.v);
		if (r == 0) {
			/* libvirt's order: the msr driver, else KVM's feature MSRs,
			 * else none (unprivileged, no KVM): failures are not errors. */
			uint32_t msrs[32];
			size_t n_msrs = feature_msr_indices(msrs, GW_ARRAY_SIZE(msrs));
			bool via_dev = msrs_read_dev(msrs, n_msrs, &p->features);
			_cleanup_close_ int fd = -1;
			if (!via_dev && open_kvm(&fd) == 0)
				(void)kvm_feature_msrs(fd, msrs, n_msrs, &p->features);
		}
#else
		r = gw_err_set(err, -ENOTSUP, "this host's CPUID: not an x86 machine");
#endif
	}
	if (r < 0) {
		gw_cpu_profile_free(p);
		return r;
	}
	*out = p;
	return 0;
}
