/* SPDX-License-Identifier: Apache-2.0 */
/* CPUID: raw register decoding, `cpuid -1 -r` dumps, and this host. */
#include "godwit/cpu.h"

void gw_cpu_decode_cpuid(uint32_t leaf, uint32_t subleaf, const uint32_t regs[4], struct gw_featset *out)
{
	(void)leaf, (void)subleaf, (void)regs, (void)out;
}

void gw_cpu_decode_msr(uint32_t index, uint64_t value, struct gw_featset *out)
{
	(void)index, (void)value, (void)out;
}

int gw_cpu_profile_from_cpuid_dump(const char *text, const char *origin, struct gw_cpu_profile **out,
				   struct gw_err **err)
{
	(void)text, (void)out;
	return gw_err_set(err, -ENOSYS, "%s: cpuid dumps are not supported yet", origin);
}

int gw_cpu_profile_from_host(bool kvm, struct gw_cpu_profile **out, struct gw_err **err)
{
	(void)kvm, (void)out;
	return gw_err_set(err, -ENOSYS, "this host's CPUID is not supported yet");
}
