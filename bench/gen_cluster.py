#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generates a big, realistic KubeVirt cluster for benchmarking `godwit check`.

    gen_cluster.py [--nodes 10000] [--vmis 100000] [--policies 50] [--seed 1]
                   [--out cluster.json | --out-dir DIR]

One kubectl-style JSON `List` (--out, default stdout) or one List per kind
(--out-dir: nodes.json, namespaces.json, vmis.json, pods.json, policies.json,
kubevirt.json). Deterministic for a given seed and sizes. Sizes and the time
taken are printed on stderr as one JSON line.

What it makes:
- nodes in six CPU generations (four Intel, two AMD) with the labels the
  KubeVirt node labeller writes (cpu-model.*, cpu-model-migration.*,
  host-model-cpu.*, host-model-required-features.*, cpu-feature.*,
  cpu-vendor.*, machine-type.*), kubevirt.io/schedulable, zones and racks,
  allocatable cpu/memory; some nodes miss a feature (BIOS/microcode), some
  are cordoned, tainted or not schedulable;
- namespaces with team/env labels;
- VMIs running on nodes: host-model, named models usable on their node, or
  the cluster default model; launcher pods with remembered selectors for a
  fraction of host-model VMIs (those migrated once); volumes (RWX PVCs, some
  RWO, CD-ROMs, container disks, cloud-init); masquerade interfaces, some
  pod-network bridges, some secondary networks; labels for policies;
- MigrationPolicies over namespace and VMI labels; a KubeVirt CR.
Standard library only.
"""

import argparse
import hashlib
import json
import os
import random
import sys
import time

# Features every generation has (labeller: the hypervisor baseline of the host, expanded).
BASE = ['3dnowprefetch', 'abm', 'adx', 'aes', 'apic', 'arat', 'avx', 'avx2', 'bmi1', 'bmi2', 'clflush',
        'clflushopt', 'cmov', 'cx16', 'cx8', 'de', 'erms', 'f16c', 'fma', 'fpu', 'fsgsbase', 'fxsr', 'hypervisor',
        'invpcid', 'invtsc', 'lahf_lm', 'lm', 'mca', 'mce', 'mmx', 'movbe', 'msr', 'mtrr', 'nx', 'pae', 'pat',
        'pclmulqdq', 'pdpe1gb', 'pge', 'pni', 'popcnt', 'pse', 'pse36', 'rdrand', 'rdseed', 'rdtscp', 'sep',
        'sha-ni', 'smap', 'smep', 'sse', 'sse2', 'sse4.1', 'sse4.2', 'ssse3', 'syscall', 'tsc', 'tsc-deadline',
        'tsc_adjust', 'umip', 'x2apic', 'xgetbv1', 'xsave', 'xsavec', 'xsaveopt', 'xsaves']
INTEL = ['arch-capabilities', 'ibrs-all', 'md-clear', 'pcid', 'pdcm', 'spec-ctrl', 'ss', 'ssbd', 'stibp', 'tsc_adjust',
         'vme', 'vmx', 'vmx-apicv-register', 'vmx-apicv-vid', 'vmx-ept', 'vmx-flexpriority', 'vmx-invpcid-exit',
         'vmx-unrestricted-guest', 'vmx-vpid']
AMD = ['amd-psfd', 'amd-ssbd', 'amd-stibp', 'clwb', 'clzero', 'cr8legacy', 'ibpb', 'misalignsse', 'mmxext',
       'npt', 'nrip-save', 'osvw', 'perfctr_core', 'rdpid', 'sse4a', 'svm', 'topoext', 'vgif', 'virt-ssbd', 'wbnoinvd',
       'xsaveerptr']
AVX512 = ['avx512bw', 'avx512cd', 'avx512dq', 'avx512f', 'avx512vl']

GENERATIONS = [
    # name, vendor, share of nodes, host model, usable models, extra known models, extra features
    ('skylake', 'Intel', 0.15, 'Skylake-Server-IBRS',
     ['Nehalem', 'Westmere', 'SandyBridge', 'IvyBridge', 'Haswell-noTSX', 'Broadwell-noTSX', 'Skylake-Client-noTSX-IBRS',
      'Skylake-Server-noTSX-IBRS', 'Skylake-Server-IBRS'],
     ['Cascadelake-Server', 'Icelake-Server'], INTEL + AVX512 + ['clwb', 'pku']),
    ('cascadelake', 'Intel', 0.25, 'Cascadelake-Server',
     ['Nehalem', 'Westmere', 'SandyBridge', 'IvyBridge', 'Haswell-noTSX', 'Broadwell-noTSX', 'Skylake-Client-noTSX-IBRS',
      'Skylake-Server-noTSX-IBRS', 'Skylake-Server-IBRS', 'Cascadelake-Server-noTSX', 'Cascadelake-Server'],
     ['Icelake-Server', 'Cooperlake'], INTEL + AVX512 + ['clwb', 'pku', 'avx512vnni']),
    ('icelake', 'Intel', 0.25, 'Icelake-Server',
     ['Nehalem', 'Westmere', 'SandyBridge', 'IvyBridge', 'Haswell-noTSX', 'Broadwell-noTSX', 'Skylake-Client-noTSX-IBRS',
      'Skylake-Server-noTSX-IBRS', 'Cascadelake-Server-noTSX', 'Icelake-Server-noTSX', 'Icelake-Server'],
     ['SapphireRapids', 'Cooperlake'], INTEL + AVX512 + ['clwb', 'pku', 'avx512vnni', 'avx512vbmi', 'avx512vbmi2',
                                                         'gfni', 'vaes', 'vpclmulqdq', 'rdpid', 'wbnoinvd', 'fsrm']),
    ('sapphirerapids', 'Intel', 0.15, 'SapphireRapids',
     ['Nehalem', 'Westmere', 'SandyBridge', 'IvyBridge', 'Haswell-noTSX', 'Broadwell-noTSX', 'Skylake-Server-noTSX-IBRS',
      'Cascadelake-Server-noTSX', 'Icelake-Server-noTSX', 'Icelake-Server', 'SapphireRapids'],
     ['GraniteRapids'], INTEL + AVX512 + ['clwb', 'pku', 'avx512vnni', 'avx512vbmi', 'avx512vbmi2', 'gfni', 'vaes',
                                          'vpclmulqdq', 'rdpid', 'wbnoinvd', 'fsrm', 'amx-bf16', 'amx-int8',
                                          'amx-tile', 'avx512-bf16', 'avx512-fp16', 'serialize', 'tsx-ldtrk',
                                          'waitpkg']),
    ('rome', 'AMD', 0.12, 'EPYC-Rome',
     ['Nehalem', 'Westmere', 'SandyBridge', 'IvyBridge', 'EPYC', 'EPYC-IBPB', 'EPYC-Rome'],
     ['EPYC-Milan'], AMD),
    ('milan', 'AMD', 0.08, 'EPYC-Milan',
     ['Nehalem', 'Westmere', 'SandyBridge', 'IvyBridge', 'EPYC', 'EPYC-IBPB', 'EPYC-Rome', 'EPYC-Milan'],
     ['EPYC-Genoa'], AMD + ['fsrm', 'pku', 'vaes', 'vpclmulqdq', 'invlpgb', 'pcid', 'erms']),
]
MACHINES = ['q35', 'pc-q35-rhel9.6.0', 'pc-q35-rhel9.4.0', 'pc-q35-rhel8.6.0']
ZONES = ['zone-a', 'zone-b', 'zone-c']
TEAMS = ['payments', 'search', 'ml', 'web', 'data', 'infra', 'ops', 'research']
ENVS = ['production', 'staging', 'dev']
TIERS = ['web', 'api', 'db', 'cache', 'batch', 'hpc']
CLUSTER_MODEL = 'IvyBridge'   # usable on every generation


def uid(*parts):
    h = hashlib.sha1('/'.join(parts).encode()).hexdigest()
    return '%s-%s-%s-%s-%s' % (h[:8], h[8:12], h[12:16], h[16:20], h[20:32])


def make_nodes(rng, n):
    nodes, gens = [], []
    weights = [g[2] for g in GENERATIONS]
    for i in range(n):
        g = rng.choices(GENERATIONS, weights)[0]
        gname, vendor, _, host_model, usable, known, extra = g
        name = 'node-%05d' % i
        feats = set(BASE) | set(extra)
        required = set(feats)               # libvirt with --expand-cpu-features: all of them
        if rng.random() < 0.05:             # BIOS / microcode drift: one feature missing
            lost = rng.choice(sorted(set(extra)))
            feats.discard(lost)
            required.discard(lost)
        zone = ZONES[i % len(ZONES)]
        labels = {
            'beta.kubernetes.io/arch': 'amd64', 'beta.kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64', 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux',
            'topology.kubernetes.io/zone': zone, 'topology.kubernetes.io/rack': '%s-r%02d' % (zone, (i // 40) % 50),
            'node.example.com/generation': gname,
            'kubevirt.io/schedulable': 'false' if rng.random() < 0.01 else 'true',
            'cpu-vendor.node.kubevirt.io/' + vendor: 'true',
            'host-model-cpu.node.kubevirt.io/' + host_model: 'true',
        }
        for f in sorted(feats):
            labels['cpu-feature.node.kubevirt.io/' + f] = 'true'
        for f in sorted(required):
            labels['host-model-required-features.node.kubevirt.io/' + f] = 'true'
        for m in usable:
            labels['cpu-model.node.kubevirt.io/' + m] = 'true'
        for m in usable + known:
            labels['cpu-model-migration.node.kubevirt.io/' + m] = 'true'
        for m in MACHINES:
            labels['machine-type.node.kubevirt.io/' + m] = 'true'
        labels['cpu-timer.node.kubevirt.io/tsc-frequency'] = str(rng.choice([2100000000, 2400000000, 2900000000]))
        labels['cpu-timer.node.kubevirt.io/tsc-scalable'] = 'true'
        cpu = rng.choice([64, 96, 128, 192])
        mem_gi = rng.choice([512, 768, 1024, 1536])
        node = {'apiVersion': 'v1', 'kind': 'Node',
                'metadata': {'name': name, 'uid': uid('node', name), 'labels': labels,
                             'annotations': {'kubevirt.io/heartbeat': '2026-11-23T09:58:41Z'}},
                'spec': {},
                'status': {'allocatable': {'cpu': '%d' % (cpu - 2), 'memory': '%dGi' % (mem_gi - 8), 'pods': '250'},
                           'capacity': {'cpu': '%d' % cpu, 'memory': '%dGi' % mem_gi, 'pods': '250'}}}
        r = rng.random()
        if r < 0.02:
            node['spec']['unschedulable'] = True
            node['spec']['taints'] = [{'key': 'node.kubernetes.io/unschedulable', 'effect': 'NoSchedule'}]
        elif r < 0.05:
            node['spec']['taints'] = [{'key': 'dedicated', 'value': 'gpu', 'effect': 'NoSchedule'}]
        nodes.append(node)
        gens.append((g, feats, required))
    return nodes, gens


def make_namespaces(rng, n):
    out = []
    for i in range(n):
        name = '%s-%s-%03d' % (TEAMS[i % len(TEAMS)], ENVS[i % len(ENVS)], i)
        labels = {'kubernetes.io/metadata.name': name, 'team': TEAMS[i % len(TEAMS)], 'env': ENVS[i % len(ENVS)]}
        if TEAMS[i % len(TEAMS)] in ('ml', 'research'):
            labels['hpc-workloads'] = 'True'
        out.append({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': name, 'uid': uid('ns', name),
                                                                         'labels': labels}})
    return out


def make_vmis(rng, m, nodes, gens, namespaces):
    vmis, pods = [], []
    counts = {'host-model': 0, 'named': 0, 'cluster-default': 0, 'remembered': 0, 'rwo': 0, 'cdrom': 0,
              'containerdisk': 0, 'bridge': 0, 'hostdevice': 0}
    n_nodes = len(nodes)
    for i in range(m):
        ni = rng.randrange(n_nodes)
        node = nodes[ni]
        (gname, vendor, _, host_model, usable, known, extra), feats, required = gens[ni]
        ns = namespaces[rng.randrange(len(namespaces))]['metadata']['name']
        name = 'vm-%06d' % i
        vuid = uid('vmi', ns, name)
        r = rng.random()
        cpu = {'cores': rng.choice([1, 2, 4, 8]), 'sockets': 1, 'threads': 1}
        kind = 'host-model' if r < 0.60 else ('named' if r < 0.85 else 'cluster-default')
        counts[kind] += 1
        if kind == 'host-model':
            cpu['model'] = 'host-model'
        elif kind == 'named':
            cpu['model'] = rng.choice(usable)
            if rng.random() < 0.2:
                cpu['features'] = [{'name': rng.choice(sorted(feats & set(BASE))), 'policy': 'require'}]
        mem_gi = rng.choice([2, 4, 4, 8, 8, 16, 32])
        labels = {'kubevirt.io/domain': name, 'kubevirt.io/nodeName': node['metadata']['name'],
                  'vm.kubevirt.io/name': name, 'app': 'app-%03d' % rng.randrange(300),
                  'tier': rng.choice(TIERS), 'kubevirt.io/environment': rng.choice(ENVS)}
        if rng.random() < 0.3:
            labels['os'] = rng.choice(['linux', 'windows'])
        disks = [{'name': 'rootdisk', 'disk': {'bus': 'virtio'}, 'bootOrder': 1}]
        volumes = [{'name': 'rootdisk', 'persistentVolumeClaim': {'claimName': name + '-rootdisk'}}]
        vstatus = [{'name': 'rootdisk', 'target': 'vda',
                    'persistentVolumeClaimInfo': {'claimName': name + '-rootdisk', 'accessModes': ['ReadWriteMany'],
                                                  'volumeMode': 'Block', 'capacity': {'storage': '40Gi'}}}]
        if rng.random() < 0.05:
            counts['rwo'] += 1
            disks.append({'name': 'data', 'disk': {'bus': 'virtio'}})
            volumes.append({'name': 'data', 'persistentVolumeClaim': {'claimName': name + '-data'}})
            vstatus.append({'name': 'data', 'target': 'vdb',
                            'persistentVolumeClaimInfo': {'claimName': name + '-data', 'accessModes': ['ReadWriteOnce'],
                                                          'volumeMode': 'Filesystem', 'capacity': {'storage': '100Gi'}}})
        if rng.random() < 0.03:
            counts['cdrom'] += 1
            disks.append({'name': 'installer', 'cdrom': {'bus': 'sata', 'readonly': True}})
            volumes.append({'name': 'installer', 'persistentVolumeClaim': {'claimName': 'image-iso-%02d' % rng.randrange(20)}})
        if rng.random() < 0.04:
            counts['containerdisk'] += 1
            disks.append({'name': 'tools', 'disk': {'bus': 'virtio'}})
            volumes.append({'name': 'tools', 'containerDisk': {'image': 'registry.example/tools/virtio-win:1.%d' % rng.randrange(5)}})
        if rng.random() < 0.5:
            disks.append({'name': 'cloudinitdisk', 'disk': {'bus': 'virtio'}})
            volumes.append({'name': 'cloudinitdisk', 'cloudInitNoCloud': {'userData': '#cloud-config\nhostname: %s\n' % name}})
        interfaces = [{'name': 'default', 'masquerade': {}}]
        networks = [{'name': 'default', 'pod': {}}]
        if rng.random() < 0.05:
            counts['bridge'] += 1
            interfaces = [{'name': 'default', 'bridge': {}}]
        if rng.random() < 0.10:
            interfaces.append({'name': 'storage', 'bridge': {}})
            networks.append({'name': 'storage', 'multus': {'networkName': 'storage-vlan%d' % rng.randrange(10, 20)}})
        devices = {'disks': disks, 'interfaces': interfaces}
        if rng.random() < 0.01:
            counts['hostdevice'] += 1
            devices['hostDevices'] = [{'name': 'vf0', 'deviceName': 'intel.com/82599_ETHERNET_CONTROLLER_VIRTUAL_FUNCTION'}]
        spec = {'architecture': 'amd64',
                'domain': {'cpu': cpu, 'devices': devices, 'machine': {'type': 'q35'},
                           'resources': {'requests': {'memory': '%dGi' % mem_gi, 'cpu': '%dm' % (cpu['cores'] * 500)}}},
                'evictionStrategy': 'LiveMigrate', 'networks': networks, 'volumes': volumes}
        if rng.random() < 0.05:
            spec['nodeSelector'] = {'topology.kubernetes.io/zone': node['metadata']['labels']['topology.kubernetes.io/zone']}
        vmi = {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachineInstance',
               'metadata': {'name': name, 'namespace': ns, 'uid': vuid, 'labels': labels},
               'spec': spec,
               'status': {'phase': 'Running', 'nodeName': node['metadata']['name'],
                          'machine': {'type': 'pc-q35-rhel9.6.0'}, 'volumeStatus': vstatus}}
        vmis.append(vmi)
        if kind == 'host-model' and rng.random() < 0.3:
            counts['remembered'] += 1
            # migrated once: the selectors of the node it booted on (same generation, maybe a drifted one)
            sel = {'kubevirt.io/schedulable': 'true', 'kubernetes.io/arch': 'amd64',
                   'machine-type.node.kubevirt.io/pc-q35-rhel9.6.0': 'true',
                   'cpu-model-migration.node.kubevirt.io/' + host_model: 'true',
                   'cpu-vendor.node.kubevirt.io/' + vendor: 'true'}
            boot_required = set(BASE) | set(extra)
            if rng.random() < 0.5:
                boot_required = required
            for f in sorted(boot_required):
                sel['cpu-feature.node.kubevirt.io/' + f] = 'true'
            pods.append({'apiVersion': 'v1', 'kind': 'Pod',
                         'metadata': {'name': 'virt-launcher-%s-%05x' % (name, rng.randrange(1 << 20)), 'namespace': ns,
                                      'uid': uid('pod', ns, name),
                                      'labels': {'kubevirt.io': 'virt-launcher', 'kubevirt.io/created-by': vuid,
                                                 'vm.kubevirt.io/name': name}},
                         'spec': {'nodeName': node['metadata']['name'], 'nodeSelector': sel,
                                  'containers': [{'name': 'compute',
                                                  'image': 'registry.example/kubevirt/virt-launcher:v1.9.0'}]},
                         'status': {'phase': 'Running'}})
    return vmis, pods, counts


def make_policies(rng, p):
    out = []
    for i in range(p):
        sel = {}
        r = rng.random()
        if r < 0.4:
            sel['virtualMachineInstanceSelector'] = {'tier': rng.choice(TIERS)}
        elif r < 0.6:
            sel['namespaceSelector'] = {'team': rng.choice(TEAMS)}
        elif r < 0.8:
            sel['virtualMachineInstanceSelector'] = {'tier': rng.choice(TIERS),
                                                     'kubevirt.io/environment': rng.choice(ENVS)}
            sel['namespaceSelector'] = {'env': rng.choice(ENVS)}
        else:
            sel['namespaceSelector'] = {'hpc-workloads': 'True'}
            sel['virtualMachineInstanceSelector'] = {'app': 'app-%03d' % rng.randrange(300)}
        spec = {'selectors': sel}
        if rng.random() < 0.5:
            spec['allowAutoConverge'] = True
        if rng.random() < 0.3:
            spec['allowPostCopy'] = True
        if rng.random() < 0.5:
            spec['bandwidthPerMigration'] = rng.choice(['64Mi', '256Mi', '1Gi', '0'])
        if rng.random() < 0.5:
            spec['completionTimeoutPerGiB'] = rng.choice([20, 50, 150, 300])
        out.append({'apiVersion': 'migrations.kubevirt.io/v1alpha1', 'kind': 'MigrationPolicy',
                    'metadata': {'name': 'policy-%03d' % i, 'uid': uid('policy', str(i))}, 'spec': spec})
    return out


def kubevirt_cr():
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'KubeVirt',
            'metadata': {'name': 'kubevirt', 'namespace': 'kubevirt'},
            'spec': {'configuration': {
                'cpuModel': CLUSTER_MODEL,
                'evictionStrategy': 'LiveMigrate',
                'migrations': {'parallelMigrationsPerCluster': 10, 'parallelOutboundMigrationsPerNode': 2,
                               'bandwidthPerMigration': '512Mi', 'completionTimeoutPerGiB': 150,
                               'progressTimeout': 150},
                'developerConfiguration': {'featureGates': ['LiveMigration']}}}}


def as_list(items):
    return {'apiVersion': 'v1', 'kind': 'List', 'metadata': {'resourceVersion': ''}, 'items': items}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--nodes', type=int, default=10000)
    ap.add_argument('--vmis', type=int, default=100000)
    ap.add_argument('--policies', type=int, default=50)
    ap.add_argument('--namespaces', type=int, default=0, help='default: nodes / 50, at least 8')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--out', help='one List file (default: stdout)')
    ap.add_argument('--out-dir', help='one List file per kind')
    a = ap.parse_args()
    if a.nodes < 1 or a.vmis < 0 or a.policies < 0:
        ap.error('sizes must be positive')
    t0 = time.monotonic()
    rng = random.Random(a.seed)
    nodes, gens = make_nodes(rng, a.nodes)
    namespaces = make_namespaces(rng, a.namespaces or max(8, a.nodes // 50))
    vmis, pods, counts = make_vmis(rng, a.vmis, nodes, gens, namespaces)
    policies = make_policies(rng, a.policies)
    kinds = [('kubevirt.json', [kubevirt_cr()]), ('namespaces.json', namespaces), ('nodes.json', nodes),
             ('policies.json', policies), ('vmis.json', vmis), ('pods.json', pods)]
    total_bytes = 0
    if a.out_dir:
        os.makedirs(a.out_dir, exist_ok=True)
        for fname, items in kinds:
            with open(os.path.join(a.out_dir, fname), 'w') as f:
                text = json.dumps(as_list(items), separators=(',', ':'))
                f.write(text + '\n')
                total_bytes += len(text) + 1
    else:
        items = [x for _, xs in kinds for x in xs]
        text = json.dumps(as_list(items), separators=(',', ':'))
        total_bytes = len(text) + 1
        if a.out:
            with open(a.out, 'w') as f:
                f.write(text + '\n')
        else:
            sys.stdout.write(text + '\n')
    info = {'bench': 'gen_cluster', 'seed': a.seed, 'nodes': len(nodes), 'namespaces': len(namespaces),
            'vmis': len(vmis), 'launcher_pods': len(pods), 'policies': len(policies), 'bytes': total_bytes,
            'node_labels_avg': round(sum(len(n['metadata']['labels']) for n in nodes) / len(nodes), 1),
            'seconds': round(time.monotonic() - t0, 2)}
    info.update({'vmis_' + k.replace('-', '_'): v for k, v in counts.items()})
    print(json.dumps(info), file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
