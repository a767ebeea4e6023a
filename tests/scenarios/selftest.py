#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Self-test of the scenario checker's fact evaluator (run.py): every
operator on a report shaped like docs/report.md, with facts that must hold
and facts that must fail, so a checker that accepts everything is caught.
Also checks that every expect.json parses and uses only known operators.
Prints TAP."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

REPORT = {
    "rules": "godwit",
    "vms": [
        {"namespace": "default", "name": "vm1", "node": "node-a", "migratable": True, "blockers": [],
         "targetSelector": {"cpu-feature.node.kubevirt.io/fpu": "true", "kubevirt.io/schedulable": "true"},
         "targetAffinity": [[{"key": "node-labeller.kubevirt.io/obsolete-host-model", "operator": "DoesNotExist",
                              "values": []}],
                            [{"key": "zone", "operator": "In", "values": ["b"]},
                             {"key": "node-labeller.kubevirt.io/obsolete-host-model", "operator": "DoesNotExist",
                              "values": []}]],
         "eligibleTargets": {"count": 1, "nodes": ["node-c"]},
         "rejected": [{"reason": "NodeSelectorMismatch", "subject": "cpu-feature.node.kubevirt.io/fpu",
                       "nodes": ["node-b"]},
                      {"reason": "SourceNode", "subject": None, "nodes": ["node-a"]}],
         "settings": {"policy": None, "completionTimeoutPerGiB": 800}},
        {"namespace": "prod", "name": "vm1", "node": "node-b", "migratable": False,
         "blockers": [{"reason": "InterfaceNotLiveMigratable", "subject": "default", "message": "x"},
                      {"reason": "DisksNotLiveMigratable", "subject": "data", "message": "PVC data is not shared"}]},
    ],
    "cluster": {"vmsWithoutTarget": [], "drainStrands": {"node-b": ["prod/vm1"]}},
    "findings": [{"where": "vmis.yaml: document 3", "message": "node \"node-z\" does not exist"}],
}

V1 = 'vms[namespace=default,name=vm1]'
HOLD = [
    {"path": V1 + ".eligibleTargets.nodes", "equals": ["node-c"]},
    {"path": V1 + ".eligibleTargets.count", "equals": 1},
    {"path": V1 + ".migratable", "equals": True},
    {"path": V1 + ".rejected[subject=cpu-feature.node.kubevirt.io/fpu].nodes", "contains": "node-b"},
    {"path": V1 + ".rejected[subject~=fpu].reason", "matches": "^NodeSelector"},
    {"path": V1 + ".rejected[*].nodes", "contains": ["node-a", "node-b"]},
    {"path": V1 + ".targetSelector", "contains": {"cpu-feature.node.kubevirt.io/fpu": "true"}},
    {"path": V1 + ".targetSelector", "contains": "kubevirt.io/schedulable"},
    {"path": V1 + ".targetSelector", "not-contains": "cpu-feature.node.kubevirt.io/vme"},
    {"path": V1 + ".targetSelector", "none-match": "^cpu-model"},
    {"path": V1 + '.targetSelector["cpu-feature.node.kubevirt.io/fpu"]', "equals": "true"},
    {"path": V1 + ".targetAffinity[*][key=node-labeller.kubevirt.io/obsolete-host-model]", "count": 2},
    {"path": V1 + ".targetAffinity", "count": 2},
    {"path": V1 + ".blockers", "count": 0},
    {"path": "vms[name=vm1]", "count": 2},
    {"path": "vms[name=vm1,namespace!=default].blockers[0].reason", "equals": "InterfaceNotLiveMigratable"},
    {"path": "vms[namespace=prod].blockers[*].reason", "contains":
     ["DisksNotLiveMigratable", "InterfaceNotLiveMigratable"]},
    {"path": "vms[namespace=prod].blockers", "min-count": 2},
    {"path": "vms[namespace=prod].blockers[subject=data].message", "contains": "is not shared"},
    {"path": "cluster.drainStrands.node-b", "same-set": ["prod/vm1"]},
    {"path": "cluster.drainStrands.node-a", "exists": False},
    {"path": "findings[*].message", "matches": "node-z"},
    {"path": "findings", "count": 1},
    {"path": V1 + ".settings.policy", "equals": None},
    {"path": V1 + ".settings.absentKey", "equals": None},
]
FAIL = [
    {"path": V1 + ".eligibleTargets.nodes", "equals": ["node-b"]},
    {"path": V1 + ".eligibleTargets.nodes", "equals": ["node-c", "node-b"]},
    {"path": "vms[name=vm1].migratable", "equals": True},            # two VMs selected
    {"path": "vms[name=vm9].eligibleTargets.nodes", "not-contains": "node-b"},  # nothing selected
    {"path": "vms[name=vm9].eligibleTargets.nodes", "equals": []},
    {"path": V1 + ".rejected[subject=cpu-feature.node.kubevirt.io/fpu].nodes", "contains": "node-c"},
    {"path": V1 + ".rejected[subject=cpu-feature.node.kubevirt.io/fpu].nodes", "not-contains": "node-b"},
    {"path": V1 + ".targetSelector", "contains": {"cpu-feature.node.kubevirt.io/fpu": "false"}},
    {"path": V1 + ".targetSelector", "not-contains": {"kubevirt.io/schedulable": "true"}},
    {"path": V1 + ".targetSelector", "none-match": "^cpu-feature"},
    {"path": V1 + ".targetAffinity[*][key=node-labeller.kubevirt.io/obsolete-host-model]", "count": 1},
    {"path": "vms[namespace=prod].blockers", "count": 5},
    {"path": "vms[namespace=prod].blockers", "min-count": 3},
    {"path": "vms[namespace=prod].blockers[*].reason", "matches": "CDROM"},
    {"path": "cluster.drainStrands.node-b", "same-set": ["prod/vm1", "default/vm1"]},
    {"path": "cluster.drainStrands.node-b", "exists": False},
    {"path": "findings[*].message", "matches": "node-q"},
    {"path": V1 + ".settings.completionTimeoutPerGiB", "equals": 150},
    {"path": V1 + ".settings.completionTimeoutPerGiB", "equals": "800"},
    {"path": V1 + ".migratable", "equals": 1},
    {"path": V1 + ".settings.completionTimeoutPerGiB", "equals": None},
]


def main():
    tap = run.Tap()
    for fact in HOLD:
        msg = run.check_fact(REPORT, fact)
        tap.add(msg is None, 'holds: %s %s' % (fact['path'], json.dumps({k: v for k, v in fact.items()
                                                                         if k != 'path'})), msg)
    for fact in FAIL:
        msg = run.check_fact(REPORT, fact)
        tap.add(msg is not None, 'fails: %s %s' % (fact['path'], json.dumps({k: v for k, v in fact.items()
                                                                             if k != 'path'})))
    root = os.path.dirname(os.path.abspath(__file__))
    for name, sdir in run.find_scenarios(root, []):
        problems = []
        try:
            with open(os.path.join(sdir, 'expect.json')) as f:
                spec = json.load(f)
            for case in spec['cases']:
                inp = os.path.join(sdir, case.get('input', spec.get('input', 'manifests')))
                if not os.path.exists(inp):
                    problems.append('input %s missing' % inp)
                for r in case.get('rules', [None]):
                    if r not in (None, 'godwit', 'kubevirt'):
                        problems.append('unknown rule set %r' % r)
                for fact in case.get('facts', []):
                    ops = [k for k in fact if k in run.OPS]
                    if len(ops) != 1 or 'path' not in fact or 'what' not in fact:
                        problems.append('bad fact %s' % json.dumps(fact))
                    else:
                        run.parse_path(fact['path'])
        except (OSError, ValueError, KeyError, run.PathError) as e:
            problems.append(str(e))
        tap.add(not problems, 'expect.json well-formed: %s' % name, '\n'.join(problems) or None)
    tap.emit()
    return 1 if tap.failed else 0


if __name__ == '__main__':
    sys.exit(main())
