"""The bulk scan agrees with the per-resource modules, finding for finding.

The drift playbook runs twice over the same estate: with the scan (one ``azure_cmk_scan`` task; Resource Graph rows,
then direct reads) and with ``cmk_scan=false`` (one ``azure_cmk_target`` task in check mode per host, as before the
scan existed). Every resource must get the same status and the same findings; the scan must send no write and read
much less.
"""

import json
import os
import subprocess
import sys
import tempfile

import pytest

from harness_lib import ROOT, admin, ansible_env

INVENTORY = os.path.join(ROOT, 'examples', 'inventory')
RESOURCE_SERVICES = ('storage_account', 'managed_disk', 'virtual_machine', 'aks', 'container_group',
                     'sql_managed_instance')


def drift(emu_env, inventory, *extra):
    with tempfile.NamedTemporaryFile(suffix='.json', delete=False) as handle:
        path = handle.name
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), 'sovereign.cmk.drift', '-i', inventory,
           '-f', '8', '-e', json.dumps({'cmk_summary_file': path})]
    for item in extra:
        cmd += ['-e', json.dumps(item)]
    result = subprocess.run(cmd, env=ansible_env(emu_env), cwd=ROOT, capture_output=True, text=True, timeout=900,
                            check=False)
    assert result.returncode == 0, '%s\n%s' % (result.stdout[-20000:], result.stderr[-5000:])
    with open(path, encoding='utf-8') as handle:
        summary = json.load(handle)
    os.unlink(path)
    return summary


def verdicts(summary):
    """(service, name) -> (status, sorted finding messages) for the resources and the catalog's keys and DES."""
    found = {}
    for entry in summary['resources']:
        messages = sorted(f['message'] if isinstance(f, dict) else f for f in entry.get('findings') or [])
        found[(entry['service'], entry['name'])] = (entry['status'], messages)
    return found


def requests_log(emulator):
    return admin(emulator, 'GET', '/_emulator/requests')


@pytest.fixture(scope='module')
def demo(emulator):
    admin(emulator, 'POST', '/_emulator/reset')
    emulator.load_seed(os.path.join(ROOT, 'emulator', 'seeds', 'demo-estate.yml'))
    yield emulator
    admin(emulator, 'POST', '/_emulator/reset')


@pytest.mark.parametrize('source', ['graph', 'live'])
def test_scan_agrees_with_per_resource_modules_on_the_demo_estate(demo, emu_env, source):
    admin(demo, 'DELETE', '/_emulator/requests')
    per_host = drift(emu_env, INVENTORY, {'cmk_scan': False})
    per_host_requests = len(requests_log(demo))
    admin(demo, 'DELETE', '/_emulator/requests')
    scanned = drift(emu_env, INVENTORY, {'cmk_scan_source': source})
    log = requests_log(demo)
    assert admin(demo, 'GET', '/_emulator/requests?writes_only=1') == []
    expected = verdicts(per_host)
    assert len([k for k in expected if k[0] in RESOURCE_SERVICES]) == 12 and len(expected) == 20
    assert verdicts(scanned) == expected
    assert len(log) < per_host_requests


def test_without_resource_graph_the_scan_reads_every_resource(demo, emu_env):
    """Resource Graph refused (no access, or Azure Stack Hub): a warning, then every resource read directly - the same
    verdicts."""
    admin(demo, 'DELETE', '/_emulator/requests')
    expected = verdicts(drift(emu_env, INVENTORY, {'cmk_scan_source': 'live'}))
    rule = admin(demo, 'POST', '/_emulator/faults', {
        'match': {'method': 'POST', 'path_regex': '/providers/Microsoft.ResourceGraph/resources$'},
        'kind': 'error', 'status': 403, 'code': 'AuthorizationFailed',
        'message': 'The client does not have authorization to perform action Microsoft.ResourceGraph/resources/read.'})
    try:
        assert verdicts(drift(emu_env, INVENTORY)) == expected
    finally:
        admin(demo, 'DELETE', '/_emulator/faults/%s' % rule['id'])
    assert admin(demo, 'GET', '/_emulator/requests?writes_only=1') == []
