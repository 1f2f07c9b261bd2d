# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sovereign.cmk.plugins.module_utils import _ids

SUB = '5a0e0e5e-0000-4000-8000-000000000001'
VAULT_ID = '/subscriptions/%s/resourceGroups/rg-Keys/providers/Microsoft.KeyVault/vaults/kv-prod' % SUB
VERSION = '0123456789abcdef0123456789abcdef'


def test_parse_resource_id_nested():
    parsed = _ids.parse_resource_id(VAULT_ID + '/keys/cmk1')
    assert parsed['subscription'] == SUB
    assert parsed['resource_group'] == 'rg-Keys'
    assert parsed['namespace'] == 'Microsoft.KeyVault'
    assert parsed['types'] == ['vaults', 'keys']
    assert parsed['names'] == ['kv-prod', 'cmk1']
    assert parsed['type'] == 'Microsoft.KeyVault/vaults/keys'
    assert parsed['name'] == 'cmk1'


def test_parse_resource_id_subscription_and_group_only():
    assert _ids.parse_resource_id('/subscriptions/%s' % SUB)['resource_group'] is None
    parsed = _ids.parse_resource_id('/subscriptions/%s/resourcegroups/rg1/' % SUB)
    assert parsed['resource_group'] == 'rg1' and parsed['type'] is None


@pytest.mark.parametrize('bad', ['', 'kv-prod', '/subscriptions', '/subscriptions/x/resourceGroups',
                                 '/subscriptions/x/resourceGroups/rg/vaults/kv',
                                 '/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults'])
def test_parse_resource_id_rejects_malformed(bad):
    with pytest.raises(_ids.InvalidIdError):
        _ids.parse_resource_id(bad)


def test_format_round_trip():
    rid = _ids.format_resource_id(SUB, 'rg-Keys', 'Microsoft.KeyVault', ['vaults', 'keys'], ['kv-prod', 'cmk1'])
    assert rid == VAULT_ID + '/keys/cmk1'
    assert _ids.format_resource_id(SUB, 'rg', 'Microsoft.Compute', 'disks', 'd1').endswith('/disks/d1')
    with pytest.raises(_ids.InvalidIdError):
        _ids.format_resource_id(SUB, 'rg', 'Microsoft.Compute', ['disks'], [])


def test_same_resource_id_is_case_insensitive():
    assert _ids.same_resource_id(VAULT_ID, VAULT_ID.upper() + '/')
    assert not _ids.same_resource_id(VAULT_ID, VAULT_ID + '2')
    assert _ids.same_resource_id(None, None)
    assert not _ids.same_resource_id(VAULT_ID, None)
    assert _ids.resource_type_of(VAULT_ID) == 'microsoft.keyvault/vaults'
    assert _ids.resource_type_of('nonsense') is None


@pytest.mark.parametrize('uri, kind, suffix', [
    ('https://kv-prod.vault.azure.net/keys/cmk1', _ids.KEY_VAULT, 'vault.azure.net'),
    ('https://kv-prod.vault.azure.cn/keys/cmk1', _ids.KEY_VAULT, 'vault.azure.cn'),
    ('https://kv-prod.vault.usgovcloudapi.net/keys/cmk1', _ids.KEY_VAULT, 'vault.usgovcloudapi.net'),
    ('https://hsm1.managedhsm.azure.net/keys/cmk1', _ids.MANAGED_HSM, 'managedhsm.azure.net'),
    ('https://hsm1.managedhsm.usgovcloudapi.net/keys/cmk1', _ids.MANAGED_HSM, 'managedhsm.usgovcloudapi.net'),
    ('https://kv1.vault.local.azurestack.external/keys/cmk1', _ids.KEY_VAULT, 'vault.local.azurestack.external'),
])
def test_parse_key_uri_kinds(uri, kind, suffix):
    parsed = _ids.parse_key_uri(uri)
    assert parsed['kind'] == kind
    assert parsed['dns_suffix'] == suffix
    assert parsed['name'] == 'cmk1'
    assert parsed['version'] is None
    assert parsed['id'] == parsed['versionless_id'] == uri


def test_parse_key_uri_versioned_with_port_and_case():
    parsed = _ids.parse_key_uri('https://KV-Prod.vault.azure.net:443/keys/cmk1/%s/' % VERSION.upper())
    assert parsed['vault_url'] == 'https://kv-prod.vault.azure.net'
    assert parsed['version'] == VERSION.upper()
    assert parsed['versionless_id'] == 'https://kv-prod.vault.azure.net/keys/cmk1'
    assert parsed['id'].endswith('/keys/cmk1/' + VERSION.upper())


def test_parse_key_uri_cloud_suffixes_take_precedence():
    parsed = _ids.parse_key_uri('https://kv1.keys.example.org/keys/k', vault_suffixes=['keys.example.org'])
    assert parsed['kind'] == _ids.KEY_VAULT and parsed['vault_name'] == 'kv1'


@pytest.mark.parametrize('bad', [
    'http://kv.vault.azure.net/keys/k',
    'https://kv.vault.azure.net/secrets/k',
    'https://kv.vault.azure.net/keys',
    'https://kv.vault.azure.net/keys/k/notaversion',
    'https://kv.vault.azure.net/keys/bad_name',
    'https://kv.vault.azure.net:8443/keys/k',
    'https://example.com/keys/k',
    'https://kv.vault.azure.net/keys/k?x=1',
    None,
])
def test_parse_key_uri_rejects_malformed(bad):
    with pytest.raises(_ids.InvalidIdError):
        _ids.parse_key_uri(bad)


def test_parse_vault_uri():
    assert _ids.parse_vault_uri('https://hsm1.managedhsm.azure.net/')['kind'] == _ids.MANAGED_HSM
    assert _ids.parse_vault_uri('https://kv1.vault.azure.net')['vault_url'] == 'https://kv1.vault.azure.net'
    with pytest.raises(_ids.InvalidIdError):
        _ids.parse_vault_uri('https://kv1.vault.azure.net/keys/k')


def test_same_key():
    a = 'https://kv1.vault.azure.net/keys/k/' + VERSION
    assert _ids.same_key(a, 'https://KV1.vault.azure.net:443/keys/k/' + VERSION)
    assert not _ids.same_key(a, 'https://kv1.vault.azure.net/keys/k')
    assert _ids.same_key(a, 'https://kv1.vault.azure.net/keys/k', ignore_version=True)
    assert not _ids.same_key(a, 'https://kv2.vault.azure.net/keys/k', ignore_version=True)


def test_name_validators():
    assert _ids.valid_key_name('cmk-prod-01') and not _ids.valid_key_name('cmk_prod')
    assert _ids.valid_vault_name('kv-prod') and not _ids.valid_vault_name('kv--prod')
    assert not _ids.valid_vault_name('1kv') and not _ids.valid_vault_name('kv-')
    assert _ids.valid_key_version(VERSION) and not _ids.valid_key_version('abc')
    assert _ids.is_guid('5a0e0e5e-0000-4000-8000-000000000001') and not _ids.is_guid('x')


# -- the hand-written parsers agree with the maintained libraries -----------------------------------------------
IDS = [
    VAULT_ID,
    VAULT_ID + '/keys/cmk1',
    '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des-1' % SUB,
    '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks/agentPools/p1' % SUB,
    '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Sql/managedInstances/mi/encryptionProtector/current' % SUB,
    '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-1' % SUB,
]


@pytest.mark.parametrize('resource_id', IDS)
def test_parse_resource_id_agrees_with_azure_mgmt_core(resource_id):
    tools = pytest.importorskip('azure.mgmt.core.tools')
    ours = _ids.parse_resource_id(resource_id)
    theirs = tools.parse_resource_id(resource_id)
    assert tools.is_valid_resource_id(resource_id)
    assert ours['subscription'] == theirs['subscription']
    assert ours['resource_group'] == theirs['resource_group']
    assert ours['namespace'] == theirs['namespace']
    assert ours['name'] == theirs['resource_name']
    assert ours['types'][0] == theirs['type'] and ours['names'][0] == theirs['name']


@pytest.mark.parametrize('bad', ['/subscriptions', 'subscriptions//resourceGroups', '/providers/Microsoft.Compute/disks/d'])
def test_invalid_ids_are_invalid_for_both(bad):
    tools = pytest.importorskip('azure.mgmt.core.tools')
    assert not tools.is_valid_resource_id(bad)
    with pytest.raises(_ids.InvalidIdError):
        _ids.parse_resource_id(bad)


@pytest.mark.parametrize('uri', ['https://kv-prod.vault.azure.net/keys/cmk1',
                                 'https://kv-prod.vault.azure.net/keys/cmk1/' + VERSION,
                                 'https://hsm-prod.managedhsm.azure.net/keys/cmk1/' + VERSION,
                                 'https://kv-gov.vault.usgovcloudapi.net/keys/cmk1'])
def test_parse_key_uri_agrees_with_key_vault_key_identifier(uri):
    keys = pytest.importorskip('azure.keyvault.keys')
    ours = _ids.parse_key_uri(uri)
    theirs = keys.KeyVaultKeyIdentifier(uri)
    assert ours['name'] == theirs.name
    assert ours['version'] == theirs.version
    assert ours['vault_url'] == theirs.vault_url
