#!/usr/bin/env python
"""Benchmark: drift detection of a whole estate - the scan, one task per resource, and a single-process floor.

For generated estates (emulator/azemu/generate.py: three subscriptions, every service, Key Vault and Managed HSM,
10% of the resources broken) of N resources, prints for each way of checking the estate:

- wall time, CPU seconds and peak resident memory of the whole process tree of the run (ansible-playbook and every
  process it starts; the emulator is measured apart, its CPU in its own column);
- API requests per resource (Resource Manager, Key Vault / Managed HSM data plane and Resource Graph, from the
  emulator's request log) and token requests (Entra ID token endpoint; its OpenID configuration reads are not
  counted) in all.

The ways:
- ``scan``: ``ansible-playbook sovereign.cmk.drift`` as shipped (one ``azure_cmk_scan`` task, Resource Graph rows,
  direct reads to confirm what is out of policy);
- ``per-host``: the same playbook with ``cmk_scan=false`` (one ``azure_cmk_target`` task per resource), only up to
  ``--per-host-max`` resources (default 100): it is the cost the scan removes;
- ``floor``: ``benchmarks/floor.py``, one Python process with the same SDKs doing only the reads the check needs
  (one Resource Graph query, each distinct key and role assignment scope once), no Ansible, no checks.

Usage: python benchmarks/estate_scan.py [--sizes 100,1000,10000] [--per-host-max 100]
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'emulator'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'harness'))

from harness_lib import ansible_env, safe_environment  # noqa: E402

from azemu.generate import generate_estate  # noqa: E402

PAGE = os.sysconf('SC_PAGE_SIZE')
TICKS = os.sysconf('SC_CLK_TCK')


def _children():
    """{pid: parent pid} of every process."""
    parents = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name, encoding='utf-8') as handle:
                fields = handle.read().rsplit(')', 1)[1].split()
            parents[int(name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    return parents


def tree_rss(root):
    """Resident memory (bytes) of ``root`` and all its descendants."""
    parents = _children()
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0
    for pid in tree:
        try:
            with open('/proc/%d/statm' % pid, encoding='utf-8') as handle:
                total += int(handle.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid, encoding='utf-8') as handle:
        fields = handle.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(TICKS)


def measured(cmd, env, cwd=ROOT):
    """Run ``cmd``; returns (rc, wall s, CPU s of the process tree, peak tree RSS MiB, output tail)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(proc.pid))
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.communicate()[0]
    done.set()
    sampler.join()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.returncode, wall, cpu, peak[0] / 1048576.0, output[-3000:]


class EmulatorProcess(object):
    """The emulator on the command line (its own process: its CPU and memory are not the run's)."""

    def __init__(self, seed_path, state_dir):
        self.state_dir = state_dir
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, 'emulator'))
        self.proc = subprocess.Popen([sys.executable, '-m', 'azemu', '--state-dir', state_dir, '--seed', seed_path],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        info_path = os.path.join(state_dir, 'emulator.json')
        deadline = time.monotonic() + 600
        while not os.path.exists(info_path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('the emulator did not start')
            time.sleep(0.2)
        time.sleep(0.2)
        with open(info_path, encoding='utf-8') as handle:
            self.info = json.load(handle)

    def admin(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.info['proxy_url'].rstrip('/') + path, data=data, method=method,
                                     headers={'Content-Type': 'application/json'})
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=120) as resp:
            return json.loads(resp.read().decode() or 'null')

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def requests_by_kind(log):
    counts = {'api': 0, 'token': 0, 'graph': 0, 'metadata': 0}
    for entry in log:
        host, path = entry['host'].lower(), entry['path'].lower().rstrip('/')
        if path.endswith('/token'):
            counts['token'] += 1
        elif host.startswith('login.'):
            counts['metadata'] += 1     # Entra ID's OpenID configuration (MSAL instance discovery), no token
        else:
            counts['api'] += 1
            if 'microsoft.resourcegraph' in entry['path'].lower():
                counts['graph'] += 1
    return counts


def run_way(emu, env, way, inventory, n):
    emu.admin('DELETE', '/_emulator/requests')
    emu_cpu = cpu_seconds(emu.proc.pid)
    summary = os.path.join(inventory, 'summary-%s.json' % way)
    extra = {'cmk_summary_file': summary, 'cmk_fail_on_failure': False}
    if way == 'per-host':
        extra['cmk_scan'] = False
    if way == 'floor':
        cmd = [sys.executable, os.path.join(ROOT, 'benchmarks', 'floor.py'), inventory]
    else:
        cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), 'sovereign.cmk.drift', '-i', inventory,
               '-f', '8', '-e', json.dumps(extra)]
    rc, wall, cpu, rss, tail = measured(cmd, env)
    counts = requests_by_kind(emu.admin('GET', '/_emulator/requests'))
    emu_cpu = cpu_seconds(emu.proc.pid) - emu_cpu
    if rc:
        print('  %s failed (rc %d):\n%s' % (way, rc, tail))
    return {'way': way, 'n': n, 'wall': wall, 'cpu': cpu, 'rss': rss, 'emu_cpu': emu_cpu, 'rc': rc,
            'api_per_resource': counts['api'] / float(n), 'api': counts['api'], 'graph': counts['graph'],
            'tokens': counts['token']}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--sizes', default='100,1000,10000')
    parser.add_argument('--per-host-max', type=int, default=100)
    parser.add_argument('--break-share', type=float, default=0.1)
    args = parser.parse_args()
    rows = []
    for n in [int(x) for x in args.sizes.split(',')]:
        work = tempfile.mkdtemp(prefix='estate-scan-%d-' % n)
        try:
            estate = generate_estate(n, subscriptions=3, break_share=args.break_share, seed=0)
            inventory = str(estate.inventory(os.path.join(work, 'inventory')))
            seed_path = os.path.join(work, 'seed.json')
            with open(seed_path, 'w', encoding='utf-8') as handle:
                json.dump(estate.seed, handle)
            started = time.monotonic()
            emu = EmulatorProcess(seed_path, os.path.join(work, 'emu'))
            print('N=%d: %d resources in the inventory, emulator seeded in %.1f s' % (
                n, len(estate.expected), time.monotonic() - started), flush=True)
            try:
                env = ansible_env(safe_environment(emu.info['env']))
                ways = ['scan', 'floor'] + (['per-host'] if n <= args.per_host_max else [])
                for way in ways:
                    row = run_way(emu, env, way, inventory, n)
                    rows.append(row)
                    print('  %-9s wall %7.1f s  cpu %7.1f s  peak %6.0f MiB  api/resource %6.3f  graph %3d  tokens %3d'
                          '  (emulator cpu %.1f s)' % (way, row['wall'], row['cpu'], row['rss'], row['api_per_resource'],
                                                       row['graph'], row['tokens'], row['emu_cpu']), flush=True)
            finally:
                emu.stop()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print('| N | way | wall s | CPU s | peak MiB | API requests / resource | Resource Graph pages | token requests |')
    print('|---|---|---|---|---|---|---|---|')
    for row in rows:
        print('| %d | %s | %.1f | %.1f | %.0f | %.3f | %d | %d |' % (
            row['n'], row['way'], row['wall'], row['cpu'], row['rss'], row['api_per_resource'], row['graph'],
            row['tokens']))


if __name__ == '__main__':
    main()
