#!/usr/bin/env python
"""Benchmark: the cost of one sovereign.cmk module task against the emulator.

Prints, for a read-only task (azure_cmk_key in check mode on a key that is already as specified):
- the module process alone, from process start to exit (what Ansible pays per host per task on the
  target side): median and spread of N runs, peak resident memory, and the HTTP requests it sent;
- the same task through `ansible localhost -m ...` (controller start, AnsiballZ packaging, module run),
  for context;
- the import cost of the module's code paths (python -X importtime).

Usage: python benchmarks/module_task.py [--runs N]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'emulator'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'harness'))

from harness_lib import COLLECTIONS_PATH, ansible_env, safe_environment  # noqa: E402

import azemu  # noqa: E402

MODULE = 'ansible_collections.sovereign.cmk.plugins.modules.azure_cmk_key'
SUB = '5a0e0e5e-0000-4000-8000-000000000001'
TENANT = '72f988bf-0000-4000-8000-00000000c0de'
VAULT_ID = '/subscriptions/%s/resourceGroups/rg-bench/providers/Microsoft.KeyVault/vaults/kv-bench' % SUB
SEED = {
    'role_assignments': [{'principal_id': '0a11ce00-0000-4000-8000-00000000b001', 'role': 'Key Vault Crypto Officer',
                          'scope': VAULT_ID}],
    'resources': [
        {'id': '/subscriptions/%s/resourceGroups/rg-bench' % SUB, 'body': {'location': 'eastus'}},
        {'id': VAULT_ID, 'body': {'location': 'eastus', 'properties': {
            'tenantId': TENANT, 'sku': {'family': 'A', 'name': 'premium'}, 'enablePurgeProtection': True,
            'enableRbacAuthorization': True}}},
    ],
}
KEY_ARGS = {'vault': VAULT_ID, 'name': 'cmk-bench', 'key_type': 'RSA-HSM', 'key_size': 3072}


def admin(emu, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(emu.url + path, data=data, method=method, headers={'Content-Type': 'application/json'})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=30) as resp:
        return json.loads(resp.read().decode() or 'null')


def run_module(env, args, check_mode):
    """Run the module as its own process; returns (seconds, peak RSS in MiB of that child, result)."""
    payload = dict(args, _ansible_check_mode=check_mode, _ansible_diff=False)
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': payload}, handle)
    wrapper = ('import resource, runpy, sys; sys.argv = ["m", %r]\n'
               'try:\n    runpy.run_module(%r, run_name="__main__")\n'
               'finally:\n    sys.stderr.write("MAXRSS=%%d\\n" %% resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n'
               % (handle.name, MODULE))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, '-c', wrapper], env=dict(env, PYTHONPATH=COLLECTIONS_PATH),
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    os.unlink(handle.name)
    rss = [int(line.split('=')[1]) for line in proc.stderr.splitlines() if line.startswith('MAXRSS=')]
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise SystemExit('module run failed:\n%s\n%s' % (proc.stdout, proc.stderr))
    return elapsed, (rss[0] / 1024.0 if rss else float('nan')), result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--runs', type=int, default=7)
    options = parser.parse_args()
    emu = azemu.Emulator(state_dir=tempfile.mkdtemp(prefix='azemu-bench-'))
    emu.start()
    try:
        env = safe_environment(emu.env())
        admin(emu, 'POST', '/_emulator/seed', SEED)
        _t, _m, created = run_module(env, KEY_ARGS, check_mode=False)
        assert created.get('changed') is True, created
        times, peaks, requests = [], [], []
        for _i in range(options.runs):
            admin(emu, 'DELETE', '/_emulator/requests')
            seconds, peak, result = run_module(env, KEY_ARGS, check_mode=True)
            assert result.get('changed') is False, result
            log = admin(emu, 'GET', '/_emulator/requests')
            assert not [e for e in log if e.get('write')], 'a read-only task sent a write'
            times.append(seconds)
            peaks.append(peak)
            requests.append(len(log))
        adhoc = []
        for _i in range(3):
            start = time.perf_counter()
            cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible'), 'localhost', '-c', 'local', '--check',
                   '-m', 'sovereign.cmk.azure_cmk_key', '-a', json.dumps(KEY_ARGS)]
            proc = subprocess.run(cmd, env=ansible_env(env), capture_output=True, text=True, check=False)
            adhoc.append(time.perf_counter() - start)
            if proc.returncode:
                raise SystemExit(proc.stdout + proc.stderr)
        imports = subprocess.run([sys.executable, '-X', 'importtime', '-c', 'import %s' % MODULE],
                                 env=dict(env, PYTHONPATH=COLLECTIONS_PATH), capture_output=True, text=True, check=False)
        import_us = sum(int(line.split('|')[1]) for line in imports.stderr.splitlines()
                        if line.startswith('import time:') and line.split('|')[1].strip().isdigit()
                        and not line.split('|')[2].startswith('  '))
    finally:
        emu.stop()
    print('benchmark: sovereign.cmk.azure_cmk_key, read-only (check mode, key already compliant), %d runs' % options.runs)
    print('  module process, start to exit: median %.3f s (min %.3f, max %.3f)'
          % (statistics.median(times), min(times), max(times)))
    print('  module process peak memory (max RSS): median %.1f MiB (max %.1f)' % (statistics.median(peaks), max(peaks)))
    print('  HTTP requests per task (token, ARM, data plane): %s' % sorted(set(requests)))
    print('  module import (top-level, -X importtime): %.3f s' % (import_us / 1e6))
    print('  through `ansible localhost -m` (controller + module): median %.3f s' % statistics.median(adhoc))
    target_ok = statistics.median(times) <= 1.0 and max(peaks) <= 100
    print('  aim (<= 1.0 s and <= 100 MiB for a read-only task): %s' % ('met' if target_ok else 'NOT met'))


if __name__ == '__main__':
    main()
