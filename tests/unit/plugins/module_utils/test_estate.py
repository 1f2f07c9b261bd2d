# -*- coding: utf-8 -*-
"""_estate: a resource's labels to the azure_cmk_target parameters enforce.yml's roles send."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils import _estate

SUB = '00000000-0000-4000-8000-000000000001'
KEYS = {
    'prod-pii': {'vault_uri': 'https://kv-prod.vault.azure.net/', 'name': 'pii', 'environment': 'prod'},
    'prod-gen': {'vault_uri': 'https://kv-prod.vault.azure.net', 'name': 'gen', 'environment': 'prod'},
    'test-gen': {'vault_uri': 'https://kv-test.vault.azure.net', 'name': 'gen', 'environment': 'test'},
}
DES = {'des-prod': {'name': 'des-prod', 'resource_group': 'rg-keys', 'environment': 'prod', 'key': 'prod-gen'},
       'des-other-sub': {'name': 'des-x', 'resource_group': 'rg-x', 'environment': 'prod', 'key': 'prod-gen',
                         'subscription_id': 'other'}}
POLICY = {
    'prod': {'pii': {'key': 'prod-pii', 'disk_encryption_set': 'des-prod'},
             'general': {'key': 'prod-gen', 'disk_encryption_set': 'des-prod',
                         'services': {'aks': {'disk_encryption_set': 'des-other-sub'}}}},
    'test': {'general': {'key': 'test-gen'}},
}


def labels(**extra):
    hv = {'cmk_service': 'storage_account', 'cmk_environment': 'prod', 'cmk_classification': 'pii',
          'cmk_resource_group': 'rg-prod', 'cmk_subscription_id': SUB}
    hv.update(extra)
    return hv


def test_storage_account_gets_the_policy_key_and_the_role_defaults():
    entry = _estate.target('st1', labels(cmk_identity='/x/uai'), KEYS, POLICY, DES)
    assert entry['params'] == {'service': 'storage_account', 'name': 'st1', 'resource_group': 'rg-prod',
                               'subscription_id': SUB, 'grant_access': True,
                               'key': 'https://kv-prod.vault.azure.net/keys/pii', 'identity': '/x/uai'}
    assert entry['key_ref'] == 'prod-pii' and 'status' not in entry


def test_vm_uses_the_des_and_host_encryption_by_default():
    entry = _estate.target('vm1', labels(cmk_service='virtual_machine', cmk_name='vm-real'), KEYS, POLICY, DES)
    assert entry['name'] == 'vm-real'
    assert entry['params']['disk_encryption_set'] == (
        '/subscriptions/%s/resourceGroups/rg-keys/providers/Microsoft.Compute/diskEncryptionSets/des-prod' % SUB)
    assert entry['params']['encryption_at_host'] is True
    assert entry['params']['allow_deallocate'] is False
    assert 'key' not in entry['params']


def test_service_override_and_des_in_another_subscription():
    entry = _estate.target('aks1', labels(cmk_service='aks', cmk_classification='general'), KEYS, POLICY, DES)
    assert entry['params']['disk_encryption_set'].startswith('/subscriptions/other/resourceGroups/rg-x/')
    assert entry['params']['encryption_at_host'] is True


def test_host_override_of_the_key():
    entry = _estate.target('st1', labels(cmk_key='prod-gen'), KEYS, POLICY, DES)
    assert entry['params']['key'] == 'https://kv-prod.vault.azure.net/keys/gen'


def test_missing_labels_are_unlabelled_not_skipped():
    entry = _estate.target('st1', labels(cmk_environment=''), KEYS, POLICY, DES)
    assert entry['status'] == 'unlabelled' and 'environment' in entry['message']
    entry = _estate.target('st1', labels(cmk_missing_labels=['classification']), KEYS, POLICY, DES)
    assert entry['status'] == 'unlabelled'


def test_labels_the_policy_does_not_know_fail_with_the_reason():
    entry = _estate.target('st1', labels(cmk_environment='qa'), KEYS, POLICY, DES)
    assert entry['status'] == 'failed' and "'qa' is not in cmk_policy" in entry['message']
    entry = _estate.target('st1', labels(cmk_key='test-gen'), KEYS, POLICY, DES)
    assert entry['status'] == 'failed' and "belongs to environment 'test'" in entry['message']
    assert _estate.target('st1', labels(cmk_key='test-gen'), KEYS, POLICY, DES, allow_shared=True)['params']
    entry = _estate.target('d1', labels(cmk_service='managed_disk', cmk_environment='test',
                                        cmk_classification='general'), KEYS, POLICY, DES)
    assert entry['status'] == 'failed' and 'needs a disk encryption set' in entry['message']


def test_default_subscription_and_exception_entries():
    hv = labels()
    del hv['cmk_subscription_id']
    assert _estate.target('st1', hv, KEYS, POLICY, DES, subscription_id='dflt')['params']['subscription_id'] == 'dflt'
    entry = _estate.exception_entry('app1', {'cmk_exception_service': 'App Service', 'cmk_exception_reason': 'why'})
    assert entry['status'] == 'exception' and entry['service'] == 'App Service' and entry['message'] == 'why'
