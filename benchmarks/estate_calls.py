#!/usr/bin/env python
"""Benchmark: Azure API calls per resource for drift detection and enforcement over the demo estate.

Runs the drift playbook (check mode) and then the enforce playbook over examples/inventory against the
emulator loaded with the demo estate, and attributes every request of the emulator's request log to the
resource it concerns (Resource Manager path or key). Prints, per service: resources, requests per resource
(median and max) and writes; plus token requests and the wall time of each playbook. These are the figures
to watch for the bulk posture scanner: calls per resource decide throttling and run time at scale.

Usage: python benchmarks/estate_calls.py
"""

import collections
import importlib.util
import json
import os
import statistics
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
azemu = importlib.import_module('azemu')  # on the path harness_lib sets (emulator/)
demo = _load('demo_estate', os.path.join(ROOT, 'scripts', 'demo_estate.py'))


def admin(emu, method, path):
    req = urllib.request.Request(emu.url + path, method=method)
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=30) as resp:
        return json.loads(resp.read().decode() or 'null')


def attribute(log, resources):
    """{(service, name): [entries]} plus the entries no resource claims, by kind."""
    by_id = sorted(((r['id'].lower().rstrip('/'), (r['service'], r['name'])) for r in resources if r.get('id')),
                   key=lambda item: -len(item[0]))
    keys = dict(((r['name'].lower()), (r['service'], r['name'])) for r in resources if r['service'] == 'key')
    claimed = collections.defaultdict(list)
    other = collections.Counter()
    for entry in log:
        host, path = entry['host'].lower(), entry['path'].lower().rstrip('/')
        if host.startswith('login.'):
            other['token (Entra ID)'] += 1
            continue
        owner = None
        if host.startswith('management.'):
            owner = next((who for rid, who in by_id if path == rid or path.startswith(rid + '/')), None)
        elif '/keys/' in path + '/':
            owner = keys.get(path.split('/keys/', 1)[1].split('/')[0]) if '/keys/' in path else None
        if owner:
            claimed[owner].append(entry)
        else:
            other['%s (%s)' % ('resource manager' if host.startswith('management.') else 'key data plane',
                               'write' if entry.get('write') else 'read')] += 1
    return claimed, other


def report(title, seconds, summary, log):
    claimed, other = attribute(log, summary['resources'])
    services = collections.defaultdict(list)
    for entry in summary['resources']:
        calls = claimed.get((entry['service'], entry['name']), [])
        services[entry['service']].append((len(calls), sum(1 for c in calls if c.get('write'))))
    print('\n%s: %.0f s, %d requests in all (%d writes)' % (title, seconds, len(log), sum(1 for e in log if e.get('write'))))
    print('   %-22s %9s %14s %10s %8s' % ('service', 'resources', 'median calls', 'max calls', 'writes'))
    for service in sorted(services):
        counts = [c for c, _w in services[service]]
        print('   %-22s %9d %14.1f %10d %8d' % (service, len(counts), statistics.median(counts), max(counts),
                                                sum(w for _c, w in services[service])))
    for kind, count in sorted(other.items()):
        print('   %-47s %8d' % ('not tied to one resource: ' + kind, count))


def main():
    workdir = tempfile.mkdtemp(prefix='sovereign-cmk-bench-')
    base = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=run.collections_path(), ANSIBLE_NOCOLOR='1',
                ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING='0',
                PATH=run.BIN + os.pathsep + os.environ.get('PATH', ''))
    emu = azemu.Emulator(state_dir=os.path.join(workdir, 'azemu')).start()
    try:
        demo.load(emu)
        env = harness.safe_environment(emu.env(), base=base)
        print('benchmark: API calls per resource, demo estate (examples/inventory) on the emulator')
        for step, name in (('1', 'drift'), ('2', 'enforce')):
            admin(emu, 'DELETE', '/_emulator/requests')
            started = time.time()
            summary, _seconds, _log = run.playbook(env, name, run.EXAMPLE_INVENTORY,
                                                   os.path.join(workdir, '%s-%s.json' % (step, name)))
            log = admin(emu, 'GET', '/_emulator/requests')
            report('%s (%s)' % (name, 'check mode' if name == 'drift' else 'writes allowed'),
                   time.time() - started, summary, log)
    finally:
        emu.stop()


if __name__ == '__main__':
    main()
