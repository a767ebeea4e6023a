#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Scenario checker: runs `godwit check|explain|plan ... -o json` on each
scenario's manifests and checks the facts of its expect.json. Prints TAP.

    run.py GODWIT_BINARY [--dir SCENARIO_ROOT] [FILTER ...]

FILTER keeps the scenarios whose name contains it. Standard library only.
The format of expect.json and the path syntax are described in README.md
next to this file; this docstring only repeats the path syntax:

    vms[name=vm1].eligibleTargets.nodes        object keys and filters
    vms[namespace=db,name=pg].blockers[0]      several conditions (AND), an index
    vms[name=vm1].targetSelector["cpu-feature.node.kubevirt.io/fpu"]
    vms[name=vm1].rejected[subject~=fpu]       `~=` substring, `!=` not equal
    findings[*].message                        every element of a list
"""

import json
import os
import re
import subprocess
import sys

TIMEOUT_S = 120


# ---- paths ---------------------------------------------------------------

class PathError(Exception):
    pass


def parse_path(path):
    """Returns a list of steps: ('key', k) | ('all',) | ('index', i) |
    ('filter', [(field, op, value), ...])."""
    steps = []
    i, n = 0, len(path)
    while i < n:
        c = path[i]
        if c == '.':
            i += 1
            continue
        if c == '[':
            j = i + 1
            if j < n and path[j] == '"':
                k = path.index('"', j + 1)
                if path[k + 1:k + 2] != ']':
                    raise PathError('expected ] after quoted key in %r' % path)
                steps.append(('key', path[j + 1:k]))
                i = k + 2
                continue
            k = path.find(']', j)
            if k < 0:
                raise PathError('unclosed [ in %r' % path)
            inner = path[j:k]
            i = k + 1
            if inner == '*':
                steps.append(('all',))
            elif re.fullmatch(r'-?\d+', inner):
                steps.append(('index', int(inner)))
            else:
                conds = []
                for part in inner.split(','):
                    m = re.fullmatch(r'\s*([^=!~]+?)\s*(~=|!=|=)\s*(.*?)\s*', part)
                    if not m:
                        raise PathError('bad filter %r in %r' % (part, path))
                    conds.append((m.group(1), m.group(2), m.group(3)))
                steps.append(('filter', conds))
            continue
        j = i
        while j < n and path[j] not in '.[':
            j += 1
        steps.append(('key', path[i:j]))
        i = j
    return steps


def scalar_text(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if v is None:
        return 'null'
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def cond_ok(elem, conds):
    if not isinstance(elem, dict):
        return False
    for field, op, value in conds:
        if field not in elem:
            return False
        text = scalar_text(elem[field])
        if op == '=' and text != value:
            return False
        if op == '!=' and text == value:
            return False
        if op == '~=' and value not in text:
            return False
    return True


def select(doc, path):
    """Returns (values, multi): the selected values, and whether the path
    ends in a filter or [*] (then `count` counts the values)."""
    sel = [doc]
    multi = False
    for step in parse_path(path):
        out = []
        kind = step[0]
        for v in sel:
            if kind == 'key':
                if isinstance(v, dict) and step[1] in v:
                    out.append(v[step[1]])
            elif kind == 'all':
                if isinstance(v, list):
                    out.extend(v)
                elif isinstance(v, dict):
                    out.extend(v.values())
            elif kind == 'index':
                if isinstance(v, list) and -len(v) <= step[1] < len(v):
                    out.append(v[step[1]])
            else:
                if isinstance(v, list):
                    out.extend(e for e in v if cond_ok(e, step[1]))
                elif cond_ok(v, step[1]):
                    out.append(v)
        sel = out
        multi = kind in ('all', 'filter')
    return sel, multi


# ---- facts -----------------------------------------------------------------

OPS = ('equals', 'same-set', 'contains', 'not-contains', 'count', 'min-count', 'exists', 'matches',
       'none-match')


def canon(v):
    return json.dumps(v, sort_keys=True)


def pool_of(values):
    """Items of the selected values: list items, object keys, strings whole."""
    items = []
    for v in values:
        if isinstance(v, list):
            items.extend(v)
        elif isinstance(v, dict):
            items.extend(v.keys())
        else:
            items.append(v)
    return items


def merged_objects(values):
    obj = {}
    for v in values:
        if isinstance(v, dict):
            obj.update(v)
    return obj


def show(values):
    text = canon(values[0] if len(values) == 1 else values)
    return text if len(text) < 600 else text[:600] + '...'


def check_fact(doc, fact):
    """Returns None when the fact holds, else a message."""
    ops = [k for k in fact if k in OPS]
    if len(ops) != 1:
        return 'fact must have exactly one of %s' % ', '.join(OPS)
    op = ops[0]
    want = fact[op]
    try:
        values, multi = select(doc, fact['path'])
    except PathError as e:
        return str(e)
    if op == 'exists':
        return None if bool(values) == bool(want) else (
            'expected %s to %s; got %s' % (fact['path'], 'exist' if want else 'be absent',
                                           show(values) if values else 'nothing'))
    if not values:
        if op == 'equals' and want is None:
            return None     # null and absent are the same (writers differ on omitting nulls)
        return 'nothing at %s' % fact['path']
    if op in ('count', 'min-count'):
        if multi:
            got = len(values)
        elif len(values) == 1 and isinstance(values[0], (list, dict)):
            got = len(values[0])
        else:
            return '%s is not a list: %s' % (fact['path'], show(values))
        ok = got == want if op == 'count' else got >= want
        return None if ok else 'count %d, expected %s%d; value: %s' % (
            got, '' if op == 'count' else 'at least ', want, show(values))
    if op == 'equals':
        if len(values) != 1:
            return '%d values selected, expected one: %s' % (len(values), show(values))
        return None if canon(values[0]) == canon(want) else 'got %s, expected %s' % (show(values), canon(want))
    if op == 'same-set':
        if len(values) != 1 or not isinstance(values[0], list):
            return 'expected one list, got %s' % show(values)
        got = sorted(canon(x) for x in values[0])
        exp = sorted(canon(x) for x in want)
        return None if got == exp else 'got %s, expected (any order) %s' % (show(values), canon(want))
    if op in ('contains', 'not-contains'):
        if isinstance(want, dict):
            obj = merged_objects(values)
            present = [k for k, v in want.items() if k in obj and canon(obj[k]) == canon(v)]
            missing = [k for k in want if k not in present]
            if op == 'contains':
                return None if not missing else 'missing %s in %s' % (
                    canon({k: want[k] for k in missing}), show(values))
            return None if not present else 'unexpected %s in %s' % (
                canon({k: want[k] for k in present}), show(values))
        wants = want if isinstance(want, list) else [want]
        if all(isinstance(v, str) for v in values) and all(isinstance(w, str) for w in wants):
            # strings: substring test
            present = [w for w in wants if any(w in v for v in values)]
        else:
            items = [canon(x) for x in pool_of(values)]
            present = [w for w in wants if canon(w) in items]
        if op == 'contains':
            missing = [w for w in wants if w not in present]
            return None if not missing else 'missing %s in %s' % (canon(missing), show(values))
        return None if not present else 'unexpected %s in %s' % (canon(present), show(values))
    if op in ('matches', 'none-match'):
        rx = re.compile(want)
        items = [x for x in pool_of(values) if isinstance(x, str)]
        hit = [x for x in items if rx.search(x)]
        if op == 'matches':
            return None if hit else 'nothing matches /%s/ in %s' % (want, show(values))
        return None if not hit else 'unexpected match of /%s/: %s' % (want, canon(hit))
    return 'unknown operator'


# ---- running ---------------------------------------------------------------

def run(argv):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, '', 'timed out after %d s' % TIMEOUT_S
    return (p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace'))


def command_missing(godwit, words):
    """`godwit WORDS --help` exits 2 with "unknown command" while the command
    does not exist yet."""
    rc, out, err = run([godwit] + words + ['--help'])
    return rc == 2 and 'unknown command' in (out + err)


def find_scenarios(root, filters):
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if 'expect.json' in filenames:
            name = os.path.relpath(dirpath, root)
            if not filters or any(f in name for f in filters):
                found.append((name, dirpath))
    return sorted(found)


class Tap:
    def __init__(self):
        self.lines = []
        self.failed = 0

    def add(self, ok, desc, diag=None, skip=None):
        n = len(self.lines) + 1
        desc = desc.replace('#', '\\#')
        line = '%s %d - %s' % ('ok' if ok else 'not ok', n, desc)
        if skip:
            line += ' # SKIP ' + skip
        if diag:
            line += '\n' + '\n'.join('# ' + d for d in diag.splitlines())
        if not ok:
            self.failed += 1
        self.lines.append(line)

    def emit(self):
        print('1..%d' % len(self.lines))
        for line in self.lines:
            print(line)
        sys.stdout.flush()


def run_case(tap, godwit, name, sdir, spec, case, missing_cache):
    command = case.get('command', ['check'])
    rules_list = case.get('rules', [None])
    input_path = os.path.join(sdir, case.get('input', spec.get('input', 'manifests')))
    facts = case.get('facts', [])
    want_exit = case.get('exit', 0)
    verb = command[:2] if command[:1] == ['plan'] else command[:1]
    key = ' '.join(verb)
    if key not in missing_cache:
        missing_cache[key] = command_missing(godwit, verb)
    for rules in rules_list:
        label = '%s%s' % (name, ' [%s]' % rules if rules else '')
        if case.get('name'):
            label += ' ' + case['name']
        n_tests = 1 + len(facts)
        if missing_cache[key]:
            for _ in range(n_tests):
                tap.add(True, label, skip='`godwit %s` not built yet' % key)
            continue
        argv = [godwit] + command + ['-f', input_path, '-o', 'json']
        if rules:
            argv += ['--rules', rules]
        rc, out, err = run(argv)
        shown = ' '.join(argv[1:])
        problems = []
        if rc is None:
            problems.append(err)
        elif rc < 0:
            problems.append('killed by signal %d' % -rc)
        elif rc != want_exit:
            problems.append('exit code %d, expected %d' % (rc, want_exit))
        for frag in case.get('stderr', []):
            if frag not in err:
                problems.append('stderr lacks %r' % frag)
        for frag in case.get('stderr-absent', []):
            if frag in err:
                problems.append('stderr has %r' % frag)
        for frag in case.get('stdout', []):
            if frag not in out:
                problems.append('stdout lacks %r' % frag)
        doc = None
        if facts or case.get('json'):
            try:
                doc = json.loads(out)
            except ValueError as e:
                problems.append('stdout is not JSON: %s' % e)
        diag = None
        if problems:
            diag = 'godwit %s\n%s\nstderr: %s' % (shown, '\n'.join(problems), err.strip()[:2000])
        what = 'exit %d' % want_exit
        if case.get('stderr'):
            what += ', message names ' + ', '.join(case['stderr'])
        if case.get('stdout'):
            what += ', output names ' + ', '.join(case['stdout'])
        if case.get('json') and not facts:
            what += ', JSON output'
        tap.add(not problems, '%s: %s' % (label, what), diag)
        for fact in facts:
            desc = '%s: %s' % (label, fact.get('what', fact.get('path')))
            if doc is None:
                tap.add(False, desc, 'no report (see the exit test above)')
                continue
            msg = check_fact(doc, fact)
            tap.add(msg is None, desc, None if msg is None else
                    'godwit %s\npath: %s\n%s' % (shown, fact['path'], msg))


def main():
    args = sys.argv[1:]
    if not args or args[0] in ('-h', '--help'):
        print(__doc__)
        return 0 if args else 2
    godwit = os.path.abspath(args[0])
    root = os.path.dirname(os.path.abspath(__file__))
    filters = []
    rest = args[1:]
    while rest:
        a = rest.pop(0)
        if a == '--dir':
            root = rest.pop(0)
        else:
            filters.append(a)
    if not os.access(godwit, os.X_OK):
        print('1..0 # SKIP godwit binary %s not found' % godwit)
        return 0
    if command_missing(godwit, ['check']):
        print('1..0 # SKIP `godwit check` not built yet (`godwit check --help`: unknown command)')
        return 0
    tap = Tap()
    missing_cache = {}
    for name, sdir in find_scenarios(root, filters):
        try:
            with open(os.path.join(sdir, 'expect.json')) as f:
                spec = json.load(f)
        except (OSError, ValueError) as e:
            tap.add(False, '%s: expect.json readable' % name, str(e))
            continue
        for case in spec.get('cases', []):
            run_case(tap, godwit, name, sdir, spec, case, missing_cache)
    tap.emit()
    return 1 if tap.failed else 0


if __name__ == '__main__':
    sys.exit(main())
