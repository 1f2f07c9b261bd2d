#!/usr/bin/env python
"""Benchmark: does enforce converge whatever fails? (figures, not a timed test)

Over the demo estate (examples/inventory) on the emulator:

1. enforce with 10% and 25% mixed faults on every Azure request (429, 500, 503, dropped connections, in equal parts),
   then a drift check without faults;
2. N kill -9 trials: enforce is killed (the whole process group) at a random point, then enforce runs again without
   faults, then a drift check.

After each run it reads the emulator's state and prints: faults injected, task failures, whether the estate converged
(the drift check finds no drift and no failure), duplicated role assignments or access-policy entries, and resources
lost (present before, absent after). The figures to reach: 0 failures at 25% mixed faults, every trial converged,
0 duplicates, 0 lost.

Usage: python benchmarks/reliability.py [--trials N] [--seed S]
"""

import argparse
import collections
import importlib
import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load('sovereign_run', os.path.join(ROOT, 'scripts', 'run.py'))
harness = _load('harness_lib', os.path.join(ROOT, 'tests', 'harness', 'harness_lib.py'))
demo = _load('demo_estate', os.path.join(ROOT, 'scripts', 'demo_estate.py'))
azemu = importlib.import_module('azemu')   # on the path harness_lib sets (emulator/)


def admin(emu, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(emu.url + path, data=data, method=method, headers={'Content-Type': 'application/json'})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=30) as resp:
        return json.loads(resp.read().decode() or 'null')


def mixed_faults(emu, rate):
    """429, 500, 503 and dropped connections, each at rate/4, on every Resource Manager and Key Vault request."""
    admin(emu, 'DELETE', '/_emulator/faults?seed=7')
    for host in ('management.azure.com', '*.vault.azure.net', '*.managedhsm.azure.net'):
        for kind, status in (('throttle', 429), ('error', 500), ('error', 503), ('drop', None)):
            rule = {'kind': kind, 'rate': rate / 4.0, 'retry_after': 0.2, 'match': {'host': host}}
            if status:
                rule['status'] = status
            admin(emu, 'POST', '/_emulator/faults', rule)


def faults_injected(emu):
    return sum(rule.get('hits') or 0 for rule in admin(emu, 'GET', '/_emulator/faults'))


def state(emu):
    """(resource ids, duplicated role assignments, duplicated access-policy entries) of the emulator."""
    dump = admin(emu, 'GET', '/_emulator/resources')
    resources = set(rid.lower() for rid in (dump.get('resources') or {}))
    grants = collections.Counter()
    for item in dump.get('role_assignments') or []:
        grants[(str(item.get('principal_id')).lower(), str(item.get('role')).lower(),
                str(item.get('scope')).lower().rstrip('/'))] += 1
    policies = 0
    for rid, body in (dump.get('resources') or {}).items():
        if '/vaults/' in rid.lower() and rid.lower().count('/') == 8:
            ids = [p.get('objectId') for p in ((body.get('properties') or {}).get('accessPolicies') or [])]
            policies += len(ids) - len(set(ids))
    return resources, sum(n - 1 for n in grants.values() if n > 1), policies


def playbook(env, name, workdir, tag):
    summary, seconds, _log = run.playbook(env, name, run.EXAMPLE_INVENTORY, os.path.join(workdir, '%s-%s.json' % (tag, name)))
    return summary, seconds


def converged(env, workdir, tag):
    after, _seconds = playbook(env, 'drift', workdir, tag)
    return after['totals']['drift'] == 0 and after['totals']['failed'] == 0, after


def start_enforce(env, workdir, tag):
    cmd = [os.path.join(run.BIN, 'ansible-playbook'), 'sovereign.cmk.enforce', '-i', run.EXAMPLE_INVENTORY, '-f', '8',
           '-e', json.dumps({'cmk_summary_file': os.path.join(workdir, '%s-killed.json' % tag),
                             'cmk_fail_on_failure': False})]
    log = open(os.path.join(workdir, '%s-killed.log' % tag), 'w', encoding='utf-8')   # pylint: disable=consider-using-with
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                            start_new_session=True), log


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--trials', type=int, default=3, help='kill -9 trials (default 3)')
    parser.add_argument('--seed', type=int, default=1, help='random seed of the kill points')
    args = parser.parse_args()
    rng = random.Random(args.seed)
    workdir = tempfile.mkdtemp(prefix='sovereign-cmk-reliability-')
    base = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=run.collections_path(), ANSIBLE_NOCOLOR='1',
                ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING='0',
                SOVEREIGN_CMK_JOURNAL_DIR=os.path.join(workdir, 'journal'),
                PATH=run.BIN + os.pathsep + os.environ.get('PATH', ''))
    emu = azemu.Emulator(state_dir=os.path.join(workdir, 'azemu')).start()
    rows = []
    try:
        env = harness.safe_environment(emu.env(), base=base)
        print('benchmark: enforce under faults and kill -9, demo estate on the emulator (logs in %s)' % workdir)
        enforce_seconds = 30.0
        for rate in (0.10, 0.25):
            admin(emu, 'POST', '/_emulator/reset')
            demo.load(emu)
            before, _dup, _pol = state(emu)
            mixed_faults(emu, rate)
            summary, enforce_seconds = playbook(env, 'enforce', workdir, 'faults-%d' % int(rate * 100))
            injected = faults_injected(emu)
            admin(emu, 'DELETE', '/_emulator/faults')
            ok, _after = converged(env, workdir, 'faults-%d' % int(rate * 100))
            after, duplicates, policies = state(emu)
            rows.append(('%d%% mixed faults' % int(rate * 100), injected, summary['totals']['failed'], ok,
                         duplicates + policies, len(before - after)))
        for trial in range(1, args.trials + 1):
            admin(emu, 'POST', '/_emulator/reset')
            demo.load(emu)
            before, _dup, _pol = state(emu)
            process, log = start_enforce(env, workdir, 'trial-%d' % trial)
            delay = rng.uniform(1.0, max(enforce_seconds, 2.0))
            time.sleep(delay)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            log.close()
            summary, _seconds = playbook(env, 'enforce', workdir, 'trial-%d' % trial)
            ok, _after = converged(env, workdir, 'trial-%d' % trial)
            after, duplicates, policies = state(emu)
            rows.append(('kill -9 at %.1f s (trial %d)' % (delay, trial), 0, summary['totals']['failed'], ok,
                         duplicates + policies, len(before - after)))
    finally:
        emu.stop()
    print('\n   %-32s %8s %14s %10s %11s %6s' % ('run', 'faults', 'task failures', 'converged', 'duplicates', 'lost'))
    for name, injected, failures, ok, duplicates, lost in rows:
        print('   %-32s %8d %14d %10s %11d %6d' % (name, injected, failures, 'yes' if ok else 'NO', duplicates, lost))
    bad = [r for r in rows if r[2] or not r[3] or r[4] or r[5]]
    print('\n%s' % ('every run converged with no failure, no duplicate and nothing lost' if not bad
                    else '%d run(s) fell short of the target' % len(bad)))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
