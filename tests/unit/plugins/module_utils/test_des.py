# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils import _des

V1 = 'a' * 32
V2 = 'b' * 32
KEY = 'https://kv1.vault.azure.net/keys/k1'
UAI = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1'
VAULT = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1'


def body(version=V1, rotation=False, identity=None, enc='EncryptionAtRestWithCustomerKey', tags=None):
    return {'id': '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/d1', 'name': 'd1',
            'location': 'eastus', 'tags': tags or {},
            'identity': identity or {'type': 'SystemAssigned', 'principalId': 'p1'},
            'properties': {'encryptionType': enc, 'rotationToLatestKeyVersionEnabled': rotation,
                           'activeKey': {'keyUrl': '%s/%s' % (KEY, version), 'sourceVault': {'id': VAULT}}}}


def params(**kw):
    base = dict(key=KEY, encryption_type=None, identity_type=None, user_assigned_identities=None,
                auto_key_rotation=None, federated_client_id=None, tags=None, purge_tags=True, location='eastus')
    base.update(kw)
    return base


def test_state():
    state = _des.des_state(body())
    assert state['key_version'] == V1 and state['identity_type'] == 'SystemAssigned' and state['principal_id'] == 'p1'
    assert _des.des_state(None) is None


def test_create_plan_sends_versioned_url():
    planned = _des.plan(None, params(auto_key_rotation=True), '%s/%s' % (KEY, V1), VAULT)
    assert planned['create']
    assert planned['body']['properties']['activeKey'] == {'keyUrl': '%s/%s' % (KEY, V1), 'sourceVault': {'id': VAULT}}
    assert planned['body']['identity'] == {'type': 'SystemAssigned'}
    assert planned['body']['properties']['encryptionType'] == 'EncryptionAtRestWithCustomerKey'


def test_auto_rotation_newer_version_is_not_drift():
    current = _des.des_state(body(version=V2, rotation=True))
    planned = _des.plan(current, params(auto_key_rotation=True), '%s/%s' % (KEY, V1), VAULT)
    assert planned['body'] is None and planned['changes'] == []


def test_pinned_version_differs():
    current = _des.des_state(body(version=V2))
    planned = _des.plan(current, params(auto_key_rotation=False), '%s/%s' % (KEY, V1), VAULT)
    assert planned['changes'] == ['key']
    assert planned['body'] == {'properties': {'activeKey': {'keyUrl': '%s/%s' % (KEY, V1), 'sourceVault': {'id': VAULT}}}}


def test_case_insensitive_key_is_idempotent():
    current = _des.des_state(body())
    planned = _des.plan(current, params(), ('%s/%s' % (KEY, V1)).upper().replace('HTTPS', 'https'), VAULT)
    assert planned['body'] is None


def test_encryption_type_requires_recreate():
    current = _des.des_state(body())
    planned = _des.plan(current, params(encryption_type='EncryptionAtRestWithPlatformAndCustomerKeys'),
                        '%s/%s' % (KEY, V1), VAULT)
    assert planned['recreate'] and planned['body'] is None


def test_never_flip_user_to_system():
    ident = {'type': 'UserAssigned', 'userAssignedIdentities': {UAI: {'principalId': 'pu'}}}
    current = _des.des_state(body(identity=ident))
    planned = _des.plan(current, params(identity_type='SystemAssigned'), '%s/%s' % (KEY, V1), VAULT)
    assert planned['recreate'] and planned['body'] is None
    added = _des.plan(current, params(identity_type='SystemAssigned, UserAssigned', user_assigned_identities=[UAI.upper()]),
                      '%s/%s' % (KEY, V1), VAULT)
    assert added['body'] == {'identity': {'type': 'SystemAssigned, UserAssigned'}}


def test_system_to_user_is_reported_not_compliant():
    current = _des.des_state(body())
    assert current['identity_type'] == 'SystemAssigned'
    planned = _des.plan(current, params(identity_type='UserAssigned', user_assigned_identities=[UAI]), '%s/%s' % (KEY, V1), VAULT)
    assert planned['body']['identity']['type'] == 'SystemAssigned, UserAssigned'
    assert planned['recreate'] and 'never removed in place' in planned['recreate'][0]
    # the next run (both identities now) still reports it instead of calling the DES compliant
    both = _des.des_state(body(identity={'type': 'SystemAssigned, UserAssigned', 'principalId': 'ps',
                                         'userAssignedIdentities': {UAI: {'principalId': 'pu'}}}))
    again = _des.plan(both, params(identity_type='UserAssigned', user_assigned_identities=[UAI]), '%s/%s' % (KEY, V1), VAULT)
    assert again['recreate'] and again['body'] is None


def test_tags_and_federated():
    current = _des.des_state(body(tags={'a': '1'}))
    planned = _des.plan(current, params(tags={'b': '2'}, federated_client_id='None'), None, VAULT)
    assert planned['body'] == {'tags': {'b': '2'}}
    planned = _des.plan(current, params(federated_client_id='11111111-1111-1111-1111-111111111111'), None, VAULT)
    assert planned['changes'] == ['federated_client_id']
    # Azure's 'None' (any case) means no federated client id; ids compare case-insensitively
    for spelling in ('none', 'NONE', ''):
        assert 'federated_client_id' not in _des.plan(current, params(federated_client_id=spelling), None, VAULT)['changes']
    fed = dict(current, federated_client_id='ABCDEF01-1111-1111-1111-111111111111')
    assert _des.plan(fed, params(federated_client_id='abcdef01-1111-1111-1111-111111111111'), None, VAULT)['changes'] == []
    cleared = _des.plan(fed, params(federated_client_id='none'), None, VAULT)
    assert cleared['body']['properties']['federatedClientId'] == 'None' and cleared['after']['federated_client_id'] is None


def test_validate_and_principals():
    assert _des.validate(params(identity_type='UserAssigned'))
    assert _des.validate(params(user_assigned_identities=['/subscriptions/s/resourceGroups/rg']))
    assert _des.validate(params(key='https://example.com/keys/x'))
    assert not _des.validate(params(identity_type='UserAssigned', user_assigned_identities=[UAI]))
    ident = {'type': 'SystemAssigned, UserAssigned', 'principalId': 'ps', 'userAssignedIdentities': {UAI: {'principalId': 'pu'}}}
    assert [p['principal_id'] for p in _des.des_principals(_des.des_state(body(identity=ident)))] == ['pu']
    assert _des.source_vault_for({'kind': 'key_vault', 'subscription': 's', 'id': VAULT}, 'S') == VAULT
    assert _des.source_vault_for({'kind': 'key_vault', 'subscription': 'other', 'id': VAULT}, 's') is None
    assert _des.source_vault_for({'kind': 'managed_hsm', 'subscription': 's', 'id': VAULT}, 's') is None
