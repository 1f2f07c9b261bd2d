#!/usr/bin/env python
"""The main job (`make run`): drift check, enforce, drift check again, then a short summary.

Without Azure credentials in the environment it starts the built-in emulator (in-process, on loopback)
with the demo estate (emulator/seeds/demo-estate*.yml) and runs the playbooks over the example inventory
(examples/inventory) in an environment that can only reach the emulator (the harness's safety guard).
With AZURE_SUBSCRIPTION_ID plus credentials and SOVEREIGN_CMK_INVENTORY=<inventory>, it runs the same
playbooks against Azure.
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
EXAMPLE_INVENTORY = os.path.join(ROOT, 'examples', 'inventory')
CREDENTIAL_VARS = ('AZURE_CLIENT_ID', 'AZURE_SECRET', 'AZURE_CLIENT_SECRET', 'AZURE_AD_USER', 'AZURE_FEDERATED_TOKEN_FILE',
                   'AZURE_CLIENT_CERTIFICATE_PATH', 'IDENTITY_ENDPOINT', 'MSI_ENDPOINT')


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def collections_path():
    """build/src/ansible_collections/sovereign/cmk -> the checkout (the unit tests' helper)."""
    _load('_unit_conftest', os.path.join(ROOT, 'tests', 'unit', 'conftest.py'))
    return os.path.join(ROOT, 'build', 'src')


def playbook(env, name, inventory, summary_file, extra=()):
    cmd = [os.path.join(BIN, 'ansible-playbook'), 'sovereign.cmk.%s' % name, '-i', inventory, '-f', '8',
           '-e', json.dumps({'cmk_summary_file': summary_file, 'cmk_fail_on_failure': False})] + list(extra)
    started = time.time()
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False)
    log = os.path.join(os.path.dirname(summary_file), '%s.log' % os.path.basename(summary_file).split('.')[0])
    with open(log, 'w', encoding='utf-8') as handle:
        handle.write(result.stdout + result.stderr)
    if result.returncode != 0 or not os.path.exists(summary_file):
        print(result.stdout[-6000:] + result.stderr[-3000:])
        raise SystemExit('%s failed (exit %s); full log: %s' % (name, result.returncode, log))
    with open(summary_file, encoding='utf-8') as handle:
        return json.load(handle), time.time() - started, log


def show(title, summary, seconds, statuses):
    totals = summary['totals']
    print('\n== %s (%.0f s): %s' % (title, seconds, ', '.join('%s %d' % (s, totals[s]) for s in totals)))
    for entry in summary['resources']:
        if entry['status'] in statuses:
            detail = '; '.join(entry['findings']) or entry['message'] or ', '.join(entry['changes']) or ''
            print('   %-17s %-5s %-20s %-16s %s' % (entry['status'], entry['environment'], entry['service'],
                                                    entry['name'], detail[:160]))


def table(summary):
    statuses = ['compliant', 'enforced', 'drift', 'requires_recreate', 'failed']
    print('   %-30s' % '' + ''.join('%18s' % s for s in statuses))
    for title, group in (('service', summary['by_service']), ('environment', summary['by_environment'])):
        for name, counts in sorted(group.items()):
            print('   %-30s' % ('%s %s' % (title, name)) + ''.join('%18s' % counts[s] for s in statuses))


def main():
    base = dict(os.environ)
    base.update({'ANSIBLE_COLLECTIONS_PATH': collections_path(), 'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_FORCE_COLOR': '0',
                 'ANSIBLE_PYTHON_INTERPRETER': sys.executable, 'ANSIBLE_LOCALHOST_WARNING': '0',
                 'ANSIBLE_HOST_KEY_CHECKING': '0', 'PATH': BIN + os.pathsep + os.environ.get('PATH', '')})
    real_azure = bool(os.environ.get('AZURE_SUBSCRIPTION_ID')) and any(os.environ.get(v) for v in CREDENTIAL_VARS)
    workdir = tempfile.mkdtemp(prefix='sovereign-cmk-run-')
    emu = None
    started = time.time()
    if real_azure:
        inventory = os.environ.get('SOVEREIGN_CMK_INVENTORY')
        if not inventory:
            raise SystemExit('Azure credentials found: set SOVEREIGN_CMK_INVENTORY=<inventory> to say what to enforce '
                             '(see examples/inventory and docs/user-guide.md).')
        env = base
        print('sovereign.cmk: against Azure (subscription %s), inventory %s'
              % (os.environ['AZURE_SUBSCRIPTION_ID'], inventory))
    else:
        harness = _load('harness_lib', os.path.join(ROOT, 'tests', 'harness', 'harness_lib.py'))
        azemu = importlib.import_module('azemu')  # on the path harness_lib sets (emulator/)
        demo = _load('demo_estate', os.path.join(ROOT, 'scripts', 'demo_estate.py'))
        emu = azemu.Emulator(state_dir=os.path.join(workdir, 'azemu')).start()
        demo.load(emu)
        env = harness.safe_environment(emu.env(), base=base)   # refuses to run unless only the emulator is reachable
        inventory = os.environ.get('SOVEREIGN_CMK_INVENTORY') or EXAMPLE_INVENTORY
        print('sovereign.cmk: no Azure credentials, so on the built-in emulator (%s) with the demo estate;\n'
              'inventory %s; logs in %s' % (emu.url, os.path.relpath(inventory, ROOT), workdir))
    try:
        reports = os.path.join(workdir, 'reports-before')
        before, t1, _log = playbook(env, 'drift', inventory, os.path.join(workdir, '1-drift.json'),
                                    ['-e', json.dumps({'cmk_report_dir': reports})])
        show('1. drift check (check mode, no write)', before, t1, ('drift', 'requires_recreate', 'failed'))
        enforce, t2, _log = playbook(env, 'enforce', inventory, os.path.join(workdir, '2-enforce.json'))
        show('2. enforce', enforce, t2, ('enforced', 'requires_recreate', 'failed'))
        after, t3, _log = playbook(env, 'drift', inventory, os.path.join(workdir, '3-drift.json'),
                                   ['-e', json.dumps({'cmk_report_dir': os.path.join(workdir, 'reports-after')})])
        show('3. drift check again', after, t3, ('drift', 'requires_recreate', 'failed'))
    finally:
        if emu is not None:
            emu.stop()
    print('\n== summary after enforcement (%.0f s in all)' % (time.time() - started))
    table(after)
    left = after['totals']['drift']
    print('\n%s; %d resource(s) need recreation (create-time-only settings), %d failed.' % (
        'no drift left' if not left else '%d resource(s) still drift' % left,
        after['totals']['requires_recreate'], after['totals']['failed']))
    print('Reports of the drift checks (HTML for auditors, JUnit XML, JSON, Markdown): %s/reports-before/ and '
          '%s/reports-after/' % (workdir, workdir))
    return 1 if left or after['totals']['failed'] else 0


if __name__ == '__main__':
    sys.exit(main())
