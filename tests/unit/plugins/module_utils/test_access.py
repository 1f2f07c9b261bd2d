# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure helpers of the access backend: roles, scopes, assignment names, access policies, effective access."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sovereign.cmk.plugins.module_utils import _access
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import KEY_VAULT, MANAGED_HSM

SUB = '5a0e0e5e-0000-4000-8000-000000000001'
RG = '/subscriptions/%s/resourceGroups/rg' % SUB
VAULT_ID = RG + '/providers/Microsoft.KeyVault/vaults/kv1'
KEY_SCOPE = VAULT_ID + '/keys/cmk1'
OID = '11111111-2222-3333-4444-555555555555'
ENC_USER = 'e147488a-f6f5-4113-8e2d-b22465e65bf6'
OFFICER = '14b46e9e-c2b7-41b4-b07b-48a6ebf60603'
HSM_ENC_USER = '33413926-3206-4cdd-b39a-83574fe37a17'


def _role_def(guid):
    return '/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s' % (SUB, guid)


def _assignment(scope, guid, name='a1', principal=OID):
    return {'id': scope + '/providers/Microsoft.Authorization/roleAssignments/' + name, 'name': name, 'scope': scope,
            'principal_id': principal, 'role_definition_id': _role_def(guid)}


def _vault_permissions():
    return _access.list_role_definitions(None, KEY_VAULT, SUB)


def test_role_guid_forms():
    assert _access.role_guid(ENC_USER.upper()) == ENC_USER
    assert _access.role_guid(_role_def(ENC_USER)) == ENC_USER
    assert _access.role_guid('Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/' + HSM_ENC_USER) == HSM_ENC_USER
    assert _access.role_guid('Key Vault Crypto Service Encryption User') is None
    assert _access.role_guid('x-' + ENC_USER) is None
    assert _access.role_guid(None) is None


def test_builtin_role_lookup():
    assert _access.builtin_role_by_name(KEY_VAULT, 'key vault crypto service encryption user')[1] == ENC_USER
    assert _access.builtin_role_by_name(MANAGED_HSM, 'Managed HSM Crypto Service Encryption User')[1] == HSM_ENC_USER
    assert _access.builtin_role_by_name(KEY_VAULT, 'Managed HSM Crypto User') is None
    assert _access.builtin_role_by_guid(KEY_VAULT, OFFICER)[0] == 'Key Vault Crypto Officer'


def test_usable_role_names_least_privilege_first():
    names = _access.usable_role_names(KEY_VAULT)
    assert names[0] == 'Key Vault Crypto Service Encryption User'
    assert 'Key Vault Crypto Officer' in names and 'Key Vault Administrator' in names
    assert 'Owner' not in names and 'Key Vault Reader' not in names
    assert _access.usable_role_names(MANAGED_HSM)[0] == 'Managed HSM Crypto Service Encryption User'
    assert 'Managed HSM Administrator' not in _access.usable_role_names(MANAGED_HSM)


def test_role_definition_id_forms():
    assert _access.role_definition_id(KEY_VAULT, ENC_USER, SUB) == _role_def(ENC_USER)
    assert _access.role_definition_id(MANAGED_HSM, HSM_ENC_USER, SUB) == (
        'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/' + HSM_ENC_USER)


def test_grants_wildcards_and_not_actions():
    assert _access.grants(['Microsoft.KeyVault/vaults/*'], [], 'Microsoft.KeyVault/vaults/keys/wrap/action')
    assert _access.grants(['microsoft.keyvault/vaults/keys/*'], [], 'Microsoft.KeyVault/vaults/keys/read')
    assert not _access.grants(['Microsoft.KeyVault/vaults/*'], ['Microsoft.KeyVault/vaults/keys/*'],
                              'Microsoft.KeyVault/vaults/keys/read')
    assert not _access.grants([], [], 'Microsoft.KeyVault/vaults/keys/read')
    assert not _access.grants(['Microsoft.KeyVault/vaults/*/read'], [], 'Microsoft.KeyVault/vaults/keys/wrap/action')


def test_evaluate_permissions():
    perms = _vault_permissions()
    assert _access.evaluate_permissions(KEY_VAULT, perms[ENC_USER][1]) == (['get', 'wrapKey', 'unwrapKey'], [])
    needed, extra = _access.evaluate_permissions(KEY_VAULT, perms[OFFICER][1])
    assert needed == ['get', 'wrapKey', 'unwrapKey'] and 'delete' in extra and 'create' in extra
    needed, extra = _access.evaluate_permissions(KEY_VAULT, perms['21090545-7ca7-4776-b22c-e363652d74d2'][1])
    assert needed == ['get'] and extra == []
    hsm = _access.list_role_definitions(None, MANAGED_HSM, SUB)
    assert _access.evaluate_permissions(MANAGED_HSM, hsm[HSM_ENC_USER][1]) == (['get', 'wrapKey', 'unwrapKey'], [])


def test_desired_scope():
    assert _access.desired_scope(KEY_VAULT, None, VAULT_ID, 'cmk1') == KEY_SCOPE
    assert _access.desired_scope(KEY_VAULT, 'vault', VAULT_ID, 'cmk1') == VAULT_ID
    with pytest.raises(_access.AccessSpecError, match='only in a Managed HSM'):
        _access.desired_scope(KEY_VAULT, 'keys', VAULT_ID, 'cmk1')
    assert _access.desired_scope(MANAGED_HSM, 'key', 'x', 'cmk1') == '/keys/cmk1'
    assert _access.desired_scope(MANAGED_HSM, 'keys', 'x', 'cmk1') == '/keys'
    assert _access.desired_scope(MANAGED_HSM, 'vault', 'x', 'cmk1') == '/'


@pytest.mark.parametrize('scope, level', [
    (KEY_SCOPE, 'key'), (KEY_SCOPE.upper(), 'key'), (VAULT_ID + '/', 'vault'), (RG, 'resource_group'),
    ('/subscriptions/' + SUB, 'subscription'), ('/', 'root'),
    ('/providers/Microsoft.Management/managementGroups/mg1', 'management_group'),
    ('/providers/Microsoft.Management/managementGroups/MG1/', 'management_group'),
    ('/providers/Microsoft.Management/managementGroups/mg1/subscriptions/other', None),
    (VAULT_ID + '/keys/other', None), (RG + '2', None), ('/subscriptions/other', None),
])
def test_scope_level_vault(scope, level):
    assert _access.scope_level(KEY_VAULT, scope, VAULT_ID, 'cmk1') == level


@pytest.mark.parametrize('scope, level', [
    ('/keys/cmk1', 'key'), ('/keys/CMK1/', 'key'), ('/keys', 'keys'), ('/', 'vault'), ('//', 'vault'),
    ('/keys/other', None),
])
def test_scope_level_hsm(scope, level):
    assert _access.scope_level(MANAGED_HSM, scope, 'ignored', 'cmk1') == level


def test_assignment_name_is_deterministic_and_case_insensitive():
    a = _access.assignment_name(KEY_SCOPE, OID, ENC_USER)
    assert a == _access.assignment_name(KEY_SCOPE.upper() + '/', OID.upper(), ENC_USER.upper())
    assert a != _access.assignment_name(VAULT_ID, OID, ENC_USER)
    assert a != _access.assignment_name(KEY_SCOPE, OID, OFFICER)
    assert len(a) == 36 and a.count('-') == 4
    assert _access.assignment_name('/keys/cmk1', OID, HSM_ENC_USER) == _access.assignment_name('/keys/cmk1/', OID, HSM_ENC_USER)


def test_matching_assignment():
    items = [_assignment(VAULT_ID, ENC_USER, 'v'), _assignment(KEY_SCOPE.lower(), ENC_USER, 'k'),
             _assignment(KEY_SCOPE, OFFICER, 'o')]
    assert _access.matching_assignment(KEY_VAULT, items, OID.upper(), ENC_USER, KEY_SCOPE)['name'] == 'k'
    assert _access.matching_assignment(KEY_VAULT, items, OID, ENC_USER, VAULT_ID)['name'] == 'v'
    assert _access.matching_assignment(KEY_VAULT, items, OID, OFFICER, VAULT_ID) is None
    assert _access.matching_assignment(KEY_VAULT, items, 'other', ENC_USER, KEY_SCOPE) is None


class _Props:
    principal_id = OID
    role_definition_id = 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/' + HSM_ENC_USER
    scope = '/keys/cmk1'


class _HsmAssignment:
    name = 'n1'
    role_assignment_id = '/keys/cmk1/providers/Microsoft.Authorization/roleAssignments/n1'
    properties = _Props()


class _ArmAssignment:
    id = KEY_SCOPE + '/providers/Microsoft.Authorization/roleAssignments/n2'
    name = 'n2'
    scope = KEY_SCOPE
    principal_id = OID
    role_definition_id = _role_def(ENC_USER)
    properties = None


def test_assignment_dict_from_sdk_objects():
    hsm = _access.assignment_dict(_HsmAssignment())
    assert hsm == {'id': _HsmAssignment.role_assignment_id, 'name': 'n1', 'scope': '/keys/cmk1', 'principal_id': OID,
                   'role_definition_id': _Props.role_definition_id}
    arm = _access.assignment_dict(_ArmAssignment())
    assert arm['scope'] == KEY_SCOPE and arm['role_definition_id'] == _role_def(ENC_USER) and arm['name'] == 'n2'


# -- access policies --------------------------------------------------------------------------------------
POLICIES = [
    {'tenantId': 't', 'objectId': 'other', 'permissions': {'keys': ['all'], 'secrets': ['get']}},
    {'tenantId': 't', 'objectId': OID, 'applicationId': 'app', 'permissions': {'keys': ['get']}},
    {'tenantId': 't', 'objectId': OID.upper(), 'permissions': {'keys': ['Get', 'list'], 'secrets': []}},
]


def test_policy_entry_ignores_compound_identities():
    assert _access.policy_entry(POLICIES, OID)['permissions']['keys'] == ['Get', 'list']
    assert _access.policy_entry(POLICIES, 'nobody') is None
    assert _access.policy_entry(POLICIES, OID, tenant_id='other-tenant') is None


def test_merge_policy_permissions():
    entry = _access.policy_entry(POLICIES, OID)
    assert _access.merge_policy_permissions(entry) == (True, ['Get', 'list', 'wrapKey', 'unwrapKey'])
    assert _access.merge_policy_permissions({'permissions': {'keys': ['get', 'wrapkey', 'UnwrapKey']}}) == (
        False, ['get', 'wrapkey', 'UnwrapKey'])
    assert _access.merge_policy_permissions({'permissions': {'keys': ['all']}}) == (False, ['all'])
    assert _access.merge_policy_permissions(None) == (True, ['get', 'wrapKey', 'unwrapKey'])


def test_remove_policy_permissions():
    entry = {'permissions': {'keys': ['get', 'list', 'wrapKey', 'unwrapKey']}}
    assert _access.remove_policy_permissions(entry) == (True, ['get', 'wrapKey', 'unwrapKey'], ['list'])
    assert _access.remove_policy_permissions({'permissions': {'keys': ['list']}}) == (False, [], ['list'])
    assert _access.remove_policy_permissions(None) == (False, [], [])


def test_policy_grants():
    assert _access.policy_grants({'permissions': {'keys': ['get', 'wrapKey', 'unwrapKey']}}) == (
        ['get', 'wrapKey', 'unwrapKey'], [])
    needed, extra = _access.policy_grants({'permissions': {'keys': ['get', 'wrapKey', 'unwrapKey', 'delete'],
                                                           'secrets': ['get']}})
    assert needed == ['get', 'wrapKey', 'unwrapKey'] and extra == ['delete', 'secrets']
    assert _access.policy_grants({'permissions': {'keys': ['All']}}) == (['get', 'wrapKey', 'unwrapKey'], ['all'])


# -- effective access ------------------------------------------------------------------------------------
def test_effective_access_key_scope_least_privilege():
    result = _access.compute_effective_access(KEY_VAULT, 'rbac', VAULT_ID, 'cmk1', OID,
                                              [_assignment(KEY_SCOPE, ENC_USER)], _vault_permissions())
    assert result['sufficient'] and not result['over_broad']
    assert result['grants'][0]['scope_level'] == 'key'
    assert result['grants'][0]['role_name'] == 'Key Vault Crypto Service Encryption User'


def test_effective_access_flags_vault_scope_and_officer():
    assignments = [_assignment(VAULT_ID, ENC_USER, 'v'), _assignment(RG, OFFICER, 'o'),
                   _assignment(VAULT_ID + '/keys/other', ENC_USER, 'x'),
                   _assignment(KEY_SCOPE, ENC_USER, 'someone', principal='other'),
                   _assignment('/subscriptions/' + SUB, '8e3af657-a8ff-443c-a75c-2fe8c4bcb635', 'owner')]
    result = _access.compute_effective_access(KEY_VAULT, 'rbac', VAULT_ID, 'cmk1', OID, assignments,
                                              _vault_permissions())
    names = [g['name'] for g in result['grants']]
    assert names == ['v', 'o']  # other key, other principal and Owner (no data actions) do not count
    assert result['sufficient'] and result['over_broad']
    assert 'vault scope' in result['grants'][0]['reasons'][0]
    assert any('more than get/wrapKey/unwrapKey' in r for r in result['grants'][1]['reasons'])


def test_effective_access_management_group_scope():
    """An assignment inherited from a management group (listed at the key scope) gives access, flagged as broad."""
    mg = '/providers/Microsoft.Management/managementGroups/platform'
    result = _access.compute_effective_access(KEY_VAULT, 'rbac', VAULT_ID, 'cmk1', OID,
                                              [_assignment(mg, ENC_USER, 'mg')], _vault_permissions())
    assert result['sufficient'] and result['over_broad']
    assert result['grants'][0]['scope_level'] == 'management_group'
    assert 'management group scope' in result['grants'][0]['reasons'][0]


def test_effective_access_partial_and_unknown_role():
    assignments = [_assignment(KEY_SCOPE, '21090545-7ca7-4776-b22c-e363652d74d2'),
                   _assignment(KEY_SCOPE, '99999999-0000-0000-0000-000000000000', 'custom')]
    result = _access.compute_effective_access(KEY_VAULT, 'rbac', VAULT_ID, 'cmk1', OID, assignments,
                                              _vault_permissions())
    assert result['get'] and not result['wrap_key'] and not result['sufficient']


def test_effective_access_ignores_rbac_in_access_policy_vault():
    policies = [{'tenantId': 't', 'objectId': OID, 'permissions': {'keys': ['get', 'wrapKey', 'unwrapKey']}}]
    result = _access.compute_effective_access(KEY_VAULT, 'access_policies', VAULT_ID, 'cmk1', OID,
                                              [_assignment(KEY_SCOPE, OFFICER)], _vault_permissions(), policies)
    assert result['sufficient'] and not result['over_broad']
    assert [g['source'] for g in result['grants']] == ['access_policy']
    policies[0]['permissions']['keys'].append('purge')
    assert _access.compute_effective_access(KEY_VAULT, 'access_policies', VAULT_ID, 'cmk1', OID,
                                            policies=policies)['over_broad']
    assert not _access.compute_effective_access(KEY_VAULT, 'access_policies', VAULT_ID, 'cmk1', OID)['sufficient']


def test_effective_access_hsm():
    hsm_def = 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/'
    assignments = [
        {'name': 'a', 'scope': '/keys/cmk1', 'principal_id': OID, 'role_definition_id': hsm_def + HSM_ENC_USER},
        {'name': 'b', 'scope': '/', 'principal_id': OID, 'role_definition_id': hsm_def + '21dbd100-6940-42c2-9190-5d6cb909625b'},
        {'name': 'c', 'scope': '/keys', 'principal_id': OID, 'role_definition_id': hsm_def + 'a290e904-7015-4bba-90c8-60543313cdb4'},
    ]
    perms = _access.list_role_definitions(None, MANAGED_HSM, SUB)
    result = _access.compute_effective_access(MANAGED_HSM, 'local_rbac', 'hsm-id', 'cmk1', OID, assignments, perms)
    assert [g['name'] for g in result['grants']] == ['a', 'b']  # the Administrator has no key permissions
    assert not result['grants'][0]['over_broad']
    assert result['grants'][1]['over_broad'] and result['grants'][1]['scope_level'] == 'vault'
    assert result['grants'][1]['source'] == 'hsm_role_assignment'


# -- principals ------------------------------------------------------------------------------------------
def test_classify_principal():
    assert _access.classify_principal(OID.upper()) == ('object_id', OID)
    form, parsed = _access.classify_principal(RG + '/providers/Microsoft.Compute/diskEncryptionSets/des1')
    assert form == 'resource' and parsed['type'] == 'Microsoft.Compute/diskEncryptionSets'
    for bad in ('', 'my-identity', RG, '/subscriptions/x/resourceGroups', None):
        with pytest.raises(_access.AccessSpecError):
            _access.classify_principal(bad)


def test_principal_from_body():
    _form, uai = _access.classify_principal(RG + '/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1')
    assert _access.principal_from_body(uai, {'properties': {'principalId': OID}}) == OID
    _form, des = _access.classify_principal(RG + '/providers/Microsoft.Compute/diskEncryptionSets/des1')
    assert _access.principal_from_body(des, {'identity': {'type': 'SystemAssigned', 'principalId': OID}}) == OID
    with pytest.raises(_access.AccessSpecError, match='pass one of them'):
        _access.principal_from_body(des, {'identity': {'type': 'UserAssigned', 'userAssignedIdentities': {'/x/id2': {}}}})
    with pytest.raises(_access.AccessSpecError, match='no system-assigned identity'):
        _access.principal_from_body(des, {})
    with pytest.raises(_access.AccessSpecError):
        _access.principal_from_body(uai, {'properties': {}})


def test_generic_resource_filter():
    _form, parsed = _access.classify_principal(RG + "/providers/Microsoft.Web/sites/o'app")
    assert _access.generic_resource_filter(parsed) == "resourceType eq 'Microsoft.Web/sites' and name eq 'o''app'"
