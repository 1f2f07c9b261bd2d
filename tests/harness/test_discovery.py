"""The discovery inventory plugin sovereign.cmk.azure_cmk: ansible-inventory against the emulator."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from harness_lib import ROOT, admin, ansible_env

S1 = '5a0e0e5e-0000-4000-8000-000000000001'
S2 = '5a0e0e5e-0000-4000-8000-000000000002'
OPERATOR = '0a11ce00-0000-4000-8000-00000000b001'


def _id(subscription, group, rtype, name):
    return '/subscriptions/%s/resourceGroups/%s/providers/%s/%s' % (subscription, group, rtype, name)


UAI = _id(S1, 'rg-prod', 'Microsoft.ManagedIdentity/userAssignedIdentities', 'id-st')
VM = _id(S1, 'rg-prod', 'Microsoft.Compute/virtualMachines', 'vm1')
DISK = {'location': 'westeurope', 'sku': {'name': 'Premium_LRS'},
        'properties': {'creationData': {'createOption': 'Empty'}, 'diskSizeGB': 32}}
SEED = {
    'subscriptions': [{'id': S2, 'display_name': 'two'}],
    'management_groups': [{'name': 'mg-top', 'subscriptions': [S1]},
                          {'name': 'mg-child', 'parent': 'mg-top', 'subscriptions': [S2]}],
    'role_assignments': [{'principal_id': OPERATOR, 'role': 'Reader', 'scope': '/subscriptions/%s' % S2}],
    'resources': [
        {'id': '/subscriptions/%s/resourceGroups/rg-prod' % S1, 'body': {'location': 'westeurope'}},
        {'id': '/subscriptions/%s/resourceGroups/rg-other' % S2, 'body': {'location': 'westeurope'}},
        {'id': UAI, 'body': {'location': 'westeurope'}},
        {'id': _id(S1, 'rg-prod', 'Microsoft.Storage/storageAccounts', 'stprod'),
         'body': {'location': 'westeurope', 'kind': 'StorageV2', 'sku': {'name': 'Standard_LRS'},
                  'tags': {'Environment': 'Prod', 'classification': 'PII'},
                  'identity': {'type': 'UserAssigned', 'userAssignedIdentities': {UAI: {}}}}},
        {'id': _id(S2, 'rg-other', 'Microsoft.Storage/storageAccounts', 'stother'),
         'body': {'location': 'westeurope', 'kind': 'StorageV2', 'sku': {'name': 'Standard_LRS'},
                  'tags': {'environment': 'test'}}},
        {'id': VM, 'body': {
            'location': 'westeurope', 'tags': {'environment': 'prod', 'classification': 'general'},
            'properties': {'hardwareProfile': {'vmSize': 'Standard_D2s_v5'}, 'storageProfile': {
                'imageReference': {'publisher': 'Canonical', 'offer': 'ubuntu', 'sku': '22_04-lts', 'version': 'latest'},
                'osDisk': {'createOption': 'FromImage', 'managedDisk': {'storageAccountType': 'Premium_LRS'}},
                'dataDisks': []}}}},
        {'id': _id(S1, 'rg-prod', 'Microsoft.Compute/disks', 'data1'),
         'body': dict(DISK, tags={'environment': 'prod', 'classification': 'general'})},
        {'id': _id(S2, 'rg-other', 'Microsoft.Compute/disks', 'data1'),
         'body': dict(DISK, tags={'environment': 'test', 'classification': 'general'})},
        {'id': _id(S1, 'rg-prod', 'Microsoft.Web/sites', 'func1'),
         'body': {'location': 'westeurope', 'kind': 'functionapp,linux'}},
        {'id': _id(S2, 'rg-other', 'Microsoft.App/containerApps', 'capp1'), 'body': {'location': 'westeurope'}},
    ],
}


@pytest.fixture()
def estate(fresh_emulator):
    admin(fresh_emulator, 'POST', '/_emulator/seed', SEED)
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    yield fresh_emulator
    admin(fresh_emulator, 'POST', '/_emulator/settings', {'graph_page_size': 1000})


@pytest.fixture()
def inventory_dir():
    path = tempfile.mkdtemp(prefix='sovereign-cmk-inventory-')
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_inventory(emu_env, directory, config, name='estate.azure_cmk.yml'):
    path = os.path.join(directory, name)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(json.dumps(dict({'plugin': 'sovereign.cmk.azure_cmk'}, **config)))
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-inventory'), '-i', path, '--list']
    result = subprocess.run(cmd, env=ansible_env(emu_env), cwd=ROOT, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return json.loads(result.stdout, object_hook=_safe), result.stderr


def _safe(value):
    """ansible-inventory writes values the plugin marked unsafe (everything from Azure) as {"__ansible_unsafe": ...}."""
    return value['__ansible_unsafe'] if list(value) == ['__ansible_unsafe'] else value


def _hosts(inventory, group):
    return sorted(inventory.get(group, {}).get('hosts', []))


def _graph_requests(emulator):
    return [e for e in admin(emulator, 'GET', '/_emulator/requests') if 'Microsoft.ResourceGraph' in e['path']]


def test_inventory_from_resource_graph(estate, emu_env, inventory_dir):
    admin(estate, 'POST', '/_emulator/settings', {'graph_page_size': 2})      # pages of 2 rows: $skipToken paging
    inventory, stderr = run_inventory(emu_env, inventory_dir, {'subscriptions': [S1, S2]})
    hostvars = inventory['_meta']['hostvars']
    assert _hosts(inventory, 'storage_accounts') == ['stprod']
    assert _hosts(inventory, 'virtual_machines') == ['vm1']
    assert _hosts(inventory, 'managed_disks') == ['data1.rg-other.5a0e0e5e',
                                                  'data1.rg-prod.5a0e0e5e']
    assert sorted(inventory['cmk_resources']['children']) == sorted([
        'storage_accounts', 'managed_disks', 'virtual_machines', 'aks_clusters', 'container_groups',
        'sql_managed_instances'])
    assert _hosts(inventory, 'prod') == ['data1.rg-prod.5a0e0e5e', 'stprod', 'vm1']
    assert _hosts(inventory, 'pii') == ['stprod']
    assert _hosts(inventory, 'test') == ['data1.rg-other.5a0e0e5e']
    assert _hosts(inventory, 'cmk_unlabelled') == ['stother']
    assert hostvars['stother']['cmk_missing_labels'] == ['classification']
    assert '1 resource in scope lacks the environment or classification tag' in stderr.replace('\n', ' ')
    assert _hosts(inventory, 'cmk_exceptions') == ['capp1', 'func1']
    assert hostvars['func1']['cmk_exception_service'] == 'Azure Functions'
    assert hostvars['capp1']['cmk_exception_service'] == 'Azure Container Apps'
    assert 'storage account' in hostvars['func1']['cmk_exception_reason']
    covered = _hosts(inventory, 'cmk_covered')
    assert len(covered) == 1 and covered[0].startswith('vm1_OsDisk_1_')
    assert hostvars[covered[0]]['cmk_covered_by'].lower() == VM.lower()
    stprod = hostvars['stprod']
    assert stprod['cmk_service'] == 'storage_account' and stprod['cmk_environment'] == 'prod'
    assert stprod['cmk_classification'] == 'pii' and stprod['cmk_resource_group'] == 'rg-prod'
    assert stprod['cmk_subscription_id'] == S1 and stprod['cmk_name'] == 'stprod'
    assert stprod['cmk_identity'] == UAI and stprod['cmk_location'] == 'westeurope'
    assert stprod['cmk_tags'] == {'Environment': 'Prod', 'classification': 'PII'}
    assert stprod['cmk_resource_id'].endswith('/storageAccounts/stprod')
    assert 'cmk_identity' not in hostvars['vm1']
    requests = _graph_requests(estate)
    assert len(requests) == 4 and all(e['status'] == 200 for e in requests)    # 8 rows, 2 a page


def test_management_group_scope_and_options(estate, emu_env, inventory_dir):
    inventory, _err = run_inventory(emu_env, inventory_dir, {
        'management_groups': ['mg-child'], 'services': ['managed_disk'], 'keep_label_case': True,
        'keyed_groups': [{'key': 'cmk_location', 'prefix': 'location'}],
        'compose': {'cmk_upper': 'cmk_name | upper'}})
    assert _hosts(inventory, 'managed_disks') == ['data1']        # only SUB2: no name clash
    assert inventory['_meta']['hostvars']['data1']['cmk_upper'] == 'DATA1'
    assert _hosts(inventory, 'location_westeurope') == ['capp1', 'data1']
    assert _hosts(inventory, 'cmk_exceptions') == ['capp1']
    assert 'storage_accounts' not in inventory or not _hosts(inventory, 'storage_accounts')


def test_list_calls_give_the_same_hosts(estate, emu_env, inventory_dir):
    graph, _err = run_inventory(emu_env, inventory_dir, {'subscriptions': [S1, S2]}, 'a.azure_cmk.yml')
    admin(estate, 'DELETE', '/_emulator/requests')
    listed, _err = run_inventory(emu_env, inventory_dir, {'subscriptions': [S1, S2], 'use_resource_graph': False},
                                 'b.azure_cmk.yml')
    assert listed['_meta']['hostvars'] == graph['_meta']['hostvars']
    for group in ('storage_accounts', 'managed_disks', 'virtual_machines', 'prod', 'pii', 'cmk_unlabelled',
                  'cmk_exceptions', 'cmk_covered'):
        assert _hosts(listed, group) == _hosts(graph, group), group
    log = admin(estate, 'GET', '/_emulator/requests')
    assert not _graph_requests(estate)
    lists = [e for e in log if e['service'] == 'arm' and e['method'] == 'GET' and '/providers/' in e['path']]
    # 6 services + 4 exception types (Microsoft.Web/sites once) in 2 subscriptions, one page each
    assert len(lists) == 20


def test_cache_avoids_a_second_query(estate, emu_env, inventory_dir):
    config = {'subscriptions': [S1, S2], 'cache': True, 'cache_plugin': 'ansible.builtin.jsonfile',
              'cache_connection': os.path.join(inventory_dir, 'cache'), 'cache_timeout': 3600}
    first, _err = run_inventory(emu_env, inventory_dir, config)
    assert len(_graph_requests(estate)) == 1
    admin(estate, 'DELETE', '/_emulator/requests')
    second, _err = run_inventory(emu_env, inventory_dir, config)
    assert second['_meta']['hostvars'] == first['_meta']['hostvars']
    assert _graph_requests(estate) == []
    assert [e for e in admin(estate, 'GET', '/_emulator/requests') if e['service'] in ('arm', 'login')] == []


def test_quota_used_up_waits_for_the_reset(estate, emu_env, inventory_dir):
    # one query per 0.3 s window, 2 rows a page: every page after the first waits for x-ms-user-quota-resets-after
    admin(estate, 'POST', '/_emulator/settings', {'graph_quota': 1, 'graph_quota_window': 0.3, 'graph_page_size': 2})
    try:
        inventory, _err = run_inventory(emu_env, inventory_dir, {'subscriptions': [S1, S2]})
    finally:
        admin(estate, 'POST', '/_emulator/settings', {'graph_quota': None, 'graph_quota_window': 5.0})
    assert _hosts(inventory, 'storage_accounts') == ['stprod']
    statuses = [e['status'] for e in _graph_requests(estate)]
    assert statuses.count(200) == 4 and set(statuses) <= {200, 429}
