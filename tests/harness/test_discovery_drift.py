"""The drift playbook over the discovery inventory (sovereign.cmk.azure_cmk) of a generated estate.

The playbooks accept the discovered inventory unchanged: a ``*.azure_cmk.yml`` file with the catalog and the policy in
group_vars next to it. Every labelled resource gets the status the generated static inventory gives it; the unlabelled
and exception resources are reported as such, never skipped.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml

from harness_lib import ROOT, admin, ansible_env

from azemu.generate import generate_estate

# break kinds that need no per-host override in the static inventory (a dedicated key, DES or identity): what the
# discovery inventory knows of a resource is its labels
KINDS = ['wrong_key', 'old_key_version', 'platform_keys', 'vm_disks_not_on_des', 'aks_no_host_encryption',
         'aci_hsm_key', 'sqlmi_service_managed', 'storage_service_key_type']


@pytest.fixture()
def generated(emulator):
    estate = generate_estate(30, subscriptions=1, break_share=0.5, seed=11, kinds=KINDS, unlabelled_share=0.1,
                             exception_share=0.07)
    admin(emulator, 'POST', '/_emulator/reset')
    emulator.load_seed(estate.seed)
    work = tempfile.mkdtemp(prefix='discovery-drift-')
    yield estate, work
    shutil.rmtree(work, ignore_errors=True)
    admin(emulator, 'POST', '/_emulator/reset')


def drift(emu_env, inventory, summary):
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), 'sovereign.cmk.drift', '-i', inventory,
           '-f', '8', '-e', json.dumps({'cmk_summary_file': summary, 'cmk_fail_on_failure': False})]
    result = subprocess.run(cmd, env=ansible_env(emu_env), cwd=ROOT, capture_output=True, text=True, timeout=900,
                            check=False)
    assert result.returncode == 0, '%s\n%s' % (result.stdout[-20000:], result.stderr[-5000:])
    with open(summary, encoding='utf-8') as handle:
        return dict((e['name'], e) for e in json.load(handle)['resources'])


def test_drift_over_the_discovery_inventory(generated, emu_env):
    estate, work = generated
    static = str(estate.inventory(os.path.join(work, 'static')))
    discovered = os.path.join(work, 'discovered')
    shutil.copytree(os.path.join(static, 'group_vars', 'all'), os.path.join(discovered, 'group_vars', 'all'))
    with open(os.path.join(discovered, 'group_vars', 'virtual_machines.yml'), 'w', encoding='utf-8') as handle:
        yaml.safe_dump({'cmk_allow_deallocate': True}, handle)
    with open(os.path.join(discovered, 'estate.azure_cmk.yml'), 'w', encoding='utf-8') as handle:
        yaml.safe_dump({'plugin': 'sovereign.cmk.azure_cmk'}, handle)

    by_static = drift(emu_env, static, os.path.join(work, 'static.json'))
    by_discovery = drift(emu_env, discovered, os.path.join(work, 'discovered.json'))

    labelled = [r for r in estate.resources if r.category == 'cmk']
    assert labelled and [r for r in estate.resources if r.category == 'unlabelled'] and \
        [r for r in estate.resources if r.category == 'exception']
    for resource in labelled:
        assert by_discovery[resource.name]['status'] == by_static[resource.name]['status'], resource.name
    for resource in estate.resources:
        if resource.category == 'unlabelled':
            assert by_discovery[resource.name]['status'] == 'unlabelled'
        elif resource.category == 'exception':
            assert by_discovery[resource.name]['status'] == 'exception'

    # the scan module with a discovery scope instead of a list: the same verdicts
    playbook = os.path.join(work, 'scan.yml')
    out = os.path.join(work, 'scan.json')
    with open(playbook, 'w', encoding='utf-8') as handle:
        yaml.safe_dump([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
            {'sovereign.cmk.azure_cmk_scan': {
                'discover': {}, 'policy': '{{ cmk_policy }}', 'keys': '{{ cmk_keys }}',
                'disk_encryption_sets': '{{ cmk_disk_encryption_sets }}'}, 'register': 'scan'},
            {'ansible.builtin.copy': {'content': '{{ scan.resources | to_json }}', 'dest': out}}]}], handle)
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', discovered,
                             playbook], env=ansible_env(emu_env), cwd=ROOT, capture_output=True, text=True,
                            timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-10000:]
    with open(out, encoding='utf-8') as handle:
        scanned = dict((r['name'], r['status']) for r in json.load(handle))
    # (a VM's drift needs cmk_allow_deallocate, a host variable the inventory gives and a discovery scope does not:
    # without it the change is refused - failed - as azure_cmk_target refuses it)
    assert dict((r.name, scanned[r.name]) for r in estate.resources if r.service != 'virtual_machine') == \
        dict((r.name, by_discovery[r.name]['status']) for r in estate.resources if r.service != 'virtual_machine')
