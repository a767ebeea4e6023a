#!/usr/bin/env python3
"""Build data/cpu/features.tsv (Godwit's feature table) from a libvirt-style
feature list: name, source, leaf/msr, subleaf, register, bit.

Adds what Godwit needs beyond the bit: the group a lost feature is reported
under, whether it is migratable, and the QEMU / Linux spellings as aliases.
Run once when the feature list changes; the output is committed."""
import re
import sys

# Spellings that differ by more than '-', '_' or '.' (those are matched
# loosely by the engine itself).  Sources: libvirt x86_features.xml aliases,
# QEMU property names, Linux /proc/cpuinfo flag names.
ALIASES = {
    "pni": ["sse3"],
    "pclmuldq": ["pclmulqdq"],
    "nx": ["xd"],
    "lm": ["i64"],
    "fxsr_opt": ["ffxsr"],
    "cmt": ["cqm"],
    "tsc-deadline": ["tsc_deadline_timer"],
    "ds_cpl": ["ds-cpl"],
    "svm-lock": ["svm_lock"],
    "nrip-save": ["nrip_save", "nrips"],
    "tsc-scale": ["tsc_scale"],
    "vmcb-clean": ["vmcb_clean"],
    "pause-filter": ["pause_filter"],
    "vmx-invvpid-single-context-noglobals": ["vmx-invept-single-context-noglobals"],
    "md-clear": ["md_clear"],
    "arch-capabilities": ["arch_capabilities"],
    "avx512-vpopcntdq": ["avx512_vpopcntdq"],
    "avx512vbmi": ["avx512_vbmi", "avx512vbmi1"],
    "avx512vbmi2": ["avx512_vbmi2"],
    "avx512vnni": ["avx512_vnni"],
    "avx512bitalg": ["avx512_bitalg"],
    "avx512-bf16": ["avx512_bf16"],
    "avx512-fp16": ["avx512_fp16"],
    "avx512-4vnniw": ["avx512_4vnniw"],
    "avx512-4fmaps": ["avx512_4fmaps"],
    "avx512-vp2intersect": ["avx512_vp2intersect"],
    "sha-ni": ["sha_ni"],
    "flush-l1d": ["flush_l1d"],
    "spec-ctrl": ["ibrs-ibpb-ctrl"],
    "amd-stibp": ["stibp-amd"],
    "perfctr_core": ["perfctr-core"],
    "nodeid_msr": ["nodeid-msr"],
    "lahf_lm": ["lahf-lm"],
    "cmp_legacy": ["cmp-legacy"],
    "tsc_adjust": ["tsc-adjust"],
    "invtsc": ["nonstop_tsc"],
    "fdp-excptn-only": ["fdp_excptn_only"],
    "zero-fcs-fds": ["zero_fcs_fds"],
    "split-lock-detect": ["split_lock_detect"],
    "bus-lock-detect": ["bus_lock_detect"],
    "ssbd": ["spec_ctrl_ssbd"],
    "amd-ssbd": ["amd_ssbd"],
    "virt-ssbd": ["virt_ssbd"],
    "amd-no-ssb": ["amd_no_ssb", "ssb_no_amd"],
}

SIMD = re.compile(r"^(mmx|mmxext|3dnow|3dnowext|3dnowprefetch|sse|sse2|pni|ssse3|sse4\.1|sse4\.2|sse4a|misalignsse|"
                  r"avx.*|fma|fma4|f16c|xop|amx-.*|gfni|cvt16|fzrm|fsrs|fsrc|fsrm|erms|movdiri|movdir64b|"
                  r"cmpccxadd|prefetchiti|serialize|popcnt|abm|bmi1|bmi2|adx|tbm|movbe|clzero|wbnoinvd|"
                  r"xsave|xsaveopt|xsavec|xgetbv1|xsaves|xfd|clflushopt|clwb|osxsave)$")
CRYPTO = re.compile(r"^(aes|vaes|pclmuldq|vpclmulqdq|sha-ni|sha512|sm3|sm4|rdrand|rdseed)$")
SECURITY = re.compile(r"^(spec-ctrl|stibp|ssbd|ibpb|ibrs|amd-stibp|stibp-always-on|amd-ssbd|virt-ssbd|amd-no-ssb|"
                      r"amd-psfd|md-clear|flush-l1d|arch-capabilities|core-capability|split-lock-detect|"
                      r"bus-lock-detect|pku|ospke|pks|smap|smep|umip|sgx.*|pconfig|intel-psfd|ipred-ctrl|"
                      r"rrsba-ctrl|ddpd-u|bhi-ctrl|mcdt-no|auto-ibrs|eraps|sbpb|ibpb-brtype|srso-no|"
                      r"srso-user-kernel-no|lfence-always-serializing|null-sel-clr-base|nx|lam|fred|lkgs|"
                      r"rdctl-no|ibrs-all|rsba|skip-l1dfl-vmentry|ssb-no|mds-no|pschange-mc-no|tsx-ctrl|"
                      r"taa-no|sbdr-ssdp-no|fbsdp-no|psdp-no|fb-clear|pbrsb-no|gds-no|rfds-no|rfds-clear)$")
VIRT = re.compile(r"^(vmx|svm|vmx-.*|npt|lbrv|svm-lock|nrip-save|tsc-scale|vmcb-clean|flushbyasid|decodeassists|"
                  r"pause-filter|pfthreshold|avic|v-vmsave-vmload|vgif|vnmi|svme-addr-chk|hypervisor|"
                  r"no-nested-data-bp|tsc_adjust|invtsc)$")


def group(name):
    for label, rx in (("virtualisation", VIRT), ("security", SECURITY),
                      ("crypto", CRYPTO), ("simd", SIMD)):
        if rx.match(name):
            return label
    return "other"


def main(src, dst):
    rows = []
    with open(src) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, source, where, subleaf, reg, bit = line.rstrip("\n").split("\t")
            migratable = "yes"
            if name.endswith("(non-migratable)"):
                name = name[: -len("(non-migratable)")]
                migratable = "no"
            rows.append((name, source, where, subleaf, reg, bit, migratable,
                         group(name), ",".join(ALIASES.get(name, [])) or "-"))
    known = {r[0] for r in rows}
    for name in ALIASES:
        if name not in known:
            sys.exit(f"alias target {name} is not a feature")
    with open(dst, "w") as out:
        out.write("# Godwit x86 CPU feature table: one CPUID or MSR bit per feature.\n")
        out.write("# name\tsource\tleaf_or_msr\tsubleaf\tregister\tbit\tmigratable\tgroup\taliases\n")
        for r in rows:
            out.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
