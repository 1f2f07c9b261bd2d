"""End to end: the enforce and drift playbooks over examples/inventory against the emulator's demo estate.

Drift check first (no write, exactly the seeded drift), enforce (converges), enforce again (nothing changes,
no write), drift check (no drift left; the two create-time-only differences listed as requires_recreate).
"""

import importlib.util
import json
import os
import subprocess
import tempfile

import pytest

from harness_lib import ROOT, admin, ansible_env

_spec = importlib.util.spec_from_file_location('demo_estate', os.path.join(ROOT, 'scripts', 'demo_estate.py'))
demo_estate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo_estate)

INVENTORY = os.path.join(ROOT, 'examples', 'inventory')

SEEDED_DRIFT = {
    ('key', 'dev-cmk'),                          # vault without purge protection (+ rotation policy)
    ('disk_encryption_set', 'des-prod-pii'),     # identity without access
    ('storage_account', 'stprodpii'),            # wrong key
    ('storage_account', 'stprodgen'),            # old pinned version
    ('storage_account', 'sttestgen'),            # platform keys, system identity without access
    ('virtual_machine', 'vm-prod-pii'),          # disks without DES
    ('managed_disk', 'disk-test-data'),          # disk without DES
    ('sql_managed_instance', 'sqlmi-prod-pii'),  # service-managed TDE
}
REQUIRES_RECREATE = {
    ('aks', 'aks-prod-gen'),                     # node pool without host encryption
    ('container_group', 'aci-prod-pii'),         # ACI with a Managed HSM key
}


def _by_status(summary, status):
    return {(e['service'], e['name']) for e in summary['resources'] if e['status'] == status}


@pytest.fixture(scope='module')
def demo(emulator):
    admin(emulator, 'POST', '/_emulator/reset')
    demo_estate.load(emulator)
    yield emulator
    admin(emulator, 'POST', '/_emulator/reset')


def run(emu_env, name, *args):
    with tempfile.NamedTemporaryFile(suffix='.json', delete=False) as handle:
        path = handle.name
    cmd = ['ansible-playbook', 'sovereign.cmk.%s' % name, '-i', INVENTORY, '-f', '8',
           '-e', json.dumps({'cmk_summary_file': path})] + list(args)
    env = ansible_env(emu_env)
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, '%s\n%s' % (result.stdout[-20000:], result.stderr[-5000:])
    with open(path, encoding='utf-8') as handle:
        summary = json.load(handle)
    os.unlink(path)
    return summary, result.stdout


def writes(emulator):
    return admin(emulator, 'GET', '/_emulator/requests?writes_only=1')


def test_enforce_and_drift(demo, emu_env):
    # 1. drift check: no write, exactly the seeded drift
    admin(demo, 'DELETE', '/_emulator/requests')
    before, _log = run(emu_env, 'drift')
    assert writes(demo) == []
    assert before['mode'] == 'drift'
    assert _by_status(before, 'drift') == SEEDED_DRIFT
    assert _by_status(before, 'requires_recreate') == REQUIRES_RECREATE
    assert _by_status(before, 'failed') == set()

    # the same through `--check --diff` on the enforce playbook (what an AWX check job runs)
    admin(demo, 'DELETE', '/_emulator/requests')
    check, out = run(emu_env, 'enforce', '--check', '--diff')
    assert writes(demo) == []
    assert check['mode'] == 'drift' and _by_status(check, 'drift') == SEEDED_DRIFT
    assert 'changed=1' in out  # drift shows as changed in the host summaries

    # 2. enforce converges
    enforced, _log = run(emu_env, 'enforce')
    assert _by_status(enforced, 'enforced') == SEEDED_DRIFT
    assert _by_status(enforced, 'requires_recreate') == REQUIRES_RECREATE
    assert enforced['totals']['failed'] == 0

    # read back independently of the modules (the emulator's own state)
    state = admin(demo, 'GET', '/_emulator/resources')['resources']
    account = next(v for k, v in state.items() if k.lower().endswith('/storageaccounts/stprodpii'))
    kvp = account['properties']['encryption']['keyvaultproperties']
    assert kvp['keyvaulturi'].startswith('https://hsm-prod-pii.managedhsm.azure.net') and kvp['keyname'] == 'pii-cmk'
    pinned = next(v for k, v in state.items() if k.lower().endswith('/storageaccounts/stprodgen'))
    assert not pinned['properties']['encryption']['keyvaultproperties'].get('keyversion')
    vault = next(v for k, v in state.items() if k.lower().endswith('/vaults/kv-dev-cmk'))
    assert vault['properties'].get('enablePurgeProtection') is True
    des = next(v for k, v in state.items() if k.lower().endswith('/diskencryptionsets/des-prod-pii'))
    access = admin(demo, 'GET', '/_emulator/effective-permissions?principal=%s&key=%s' % (
        des['identity']['principalId'], 'https://hsm-prod-pii.managedhsm.azure.net/keys/pii-cmk'))
    assert access['get'] and access['wrapKey'] and access['unwrapKey']

    # 3. a second enforce changes nothing and sends no write
    admin(demo, 'DELETE', '/_emulator/requests')
    again, _log = run(emu_env, 'enforce')
    assert writes(demo) == []
    assert _by_status(again, 'enforced') == set()
    assert _by_status(again, 'requires_recreate') == REQUIRES_RECREATE

    # 4. drift check: no drift left
    after, _log = run(emu_env, 'drift')
    assert after['totals']['drift'] == 0 and after['totals']['failed'] == 0
    assert _by_status(after, 'requires_recreate') == REQUIRES_RECREATE


def test_policy_refuses_a_key_shared_across_environments(demo, emu_env):
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump({'cmk_policy': {'dev': {'pii': {'key': 'prod-pii-hsm'}, 'general': {'key': 'dev'}},
                                  'test': {'pii': {'key': 'test'}, 'general': {'key': 'test'}},
                                  'prod': {'pii': {'key': 'prod-pii-hsm'}, 'general': {'key': 'prod-general'}}}}, handle)
    try:
        admin(demo, 'DELETE', '/_emulator/requests')
        result = subprocess.run(['ansible-playbook', 'sovereign.cmk.drift', '-i', INVENTORY, '-e', '@' + handle.name],
                                env=ansible_env(emu_env), cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    finally:
        os.unlink(handle.name)
    assert result.returncode != 0
    assert "policy dev/pii: key 'prod-pii-hsm' belongs to environment 'prod'" in result.stdout
    assert writes(demo) == []


def test_two_enforces_at_once_converge_without_duplicates(emulator, emu_env):
    """Two enforce runs over the same estate at the same time (two AWX jobs, two operators): the estate converges,
    no role assignment or access-policy entry is duplicated, nothing is lost."""
    admin(emulator, 'POST', '/_emulator/reset')
    demo_estate.load(emulator)
    try:
        before = set(k.lower() for k in admin(emulator, 'GET', '/_emulator/resources')['resources'])
        runs = []
        for index in range(2):
            path = os.path.join(tempfile.mkdtemp(), 'summary-%d.json' % index)
            cmd = ['ansible-playbook', 'sovereign.cmk.enforce', '-i', INVENTORY, '-f', '4',
                   '-e', json.dumps({'cmk_summary_file': path, 'cmk_fail_on_failure': False})]
            runs.append(subprocess.Popen(cmd, env=ansible_env(emu_env), cwd=ROOT, stdout=subprocess.PIPE,  # pylint: disable=consider-using-with
                                         stderr=subprocess.STDOUT, text=True))
        outputs = [process.communicate(timeout=900)[0] for process in runs]
        assert all(process.returncode == 0 for process in runs), '\n'.join(o[-5000:] for o in outputs)
        after, _log = run(emu_env, 'drift')
        assert after['totals']['drift'] == 0 and after['totals']['failed'] == 0, after['resources']
        dump = admin(emulator, 'GET', '/_emulator/resources')
        grants = [(a['principal_id'].lower(), a['role'].lower(), a['scope'].lower().rstrip('/'))
                  for a in dump['role_assignments']]
        assert len(grants) == len(set(grants)), 'duplicated role assignments'
        for rid, body in dump['resources'].items():
            ids = [p.get('objectId') for p in ((body.get('properties') or {}).get('accessPolicies') or [])]
            assert len(ids) == len(set(ids)), 'duplicated access-policy entries in %s' % rid
        assert before <= set(k.lower() for k in dump['resources']), 'resources lost'
    finally:
        admin(emulator, 'POST', '/_emulator/reset')
