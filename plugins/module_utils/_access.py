# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Access backend: give a principal get/wrapKey/unwrapKey on a key, and compute its effective access.

Three models:

* Key Vault with Azure RBAC: an ARM role assignment (default Key Vault Crypto Service Encryption User) at
  key scope ``<vault id>/keys/<name>`` (default) or vault scope;
* Managed HSM: a local RBAC assignment on the HSM data plane (default Managed HSM Crypto Service
  Encryption User) at ``/keys/<name>`` (default), ``/keys`` or ``/``;
* Key Vault with access policies: ``get``, ``wrapKey``, ``unwrapKey`` merged into the principal's entry.

The first half is pure and unit-tested. ``ensure_key_access`` and ``effective_access`` take an
``AzureCMKModule`` and are shared by azure_hsm_role, azure_des and azure_cmk_target.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import uuid

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not supported by the modules
    from urllib import quote  # type: ignore

from ansible_collections.sovereign.cmk.plugins.module_utils._errors import CMKError
from ansible_collections.sovereign.cmk.plugins.module_utils import _vaults
from ansible_collections.sovereign.cmk.plugins.module_utils._errors import error_code
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import (
    KEY_VAULT, MANAGED_HSM, InvalidIdError, is_guid, normalize_resource_id, parse_key_uri, parse_resource_id,
    valid_key_name)

AUTHORIZATION_API_VERSION = '2022-04-01'
NEEDED = ('get', 'wrapKey', 'unwrapKey')
# Deterministic role assignment names: uuid5(namespace, scope|principal|role).
ASSIGNMENT_NAMESPACE = uuid.UUID('6f1c3a52-8a1d-5d0e-9b8e-5c0ce0c3a3f1')

# Data actions that give the three needed permissions, per model.
VAULT_ACTIONS = {
    'get': 'Microsoft.KeyVault/vaults/keys/read',
    'wrapKey': 'Microsoft.KeyVault/vaults/keys/wrap/action',
    'unwrapKey': 'Microsoft.KeyVault/vaults/keys/unwrap/action',
}
HSM_ACTIONS = {
    'get': 'Microsoft.KeyVault/managedHsm/keys/read/action',
    'wrapKey': 'Microsoft.KeyVault/managedHsm/keys/wrap/action',
    'unwrapKey': 'Microsoft.KeyVault/managedHsm/keys/unwrap/action',
}
# Data actions beyond the needed ones: a role granting any of them is more than a CMK identity needs.
VAULT_EXTRA_ACTIONS = {
    'create': 'Microsoft.KeyVault/vaults/keys/create/action',
    'delete': 'Microsoft.KeyVault/vaults/keys/delete',
    'update': 'Microsoft.KeyVault/vaults/keys/update/action',
    'import': 'Microsoft.KeyVault/vaults/keys/import/action',
    'encrypt': 'Microsoft.KeyVault/vaults/keys/encrypt/action',
    'decrypt': 'Microsoft.KeyVault/vaults/keys/decrypt/action',
    'sign': 'Microsoft.KeyVault/vaults/keys/sign/action',
    'verify': 'Microsoft.KeyVault/vaults/keys/verify/action',
    'backup': 'Microsoft.KeyVault/vaults/keys/backup/action',
    'restore': 'Microsoft.KeyVault/vaults/keys/restore/action',
    'release': 'Microsoft.KeyVault/vaults/keys/release/action',
    'rotate': 'Microsoft.KeyVault/vaults/keys/rotate/action',
    'purge': 'Microsoft.KeyVault/vaults/deletedKeys/delete',
    'setrotationpolicy': 'Microsoft.KeyVault/vaults/keyrotationpolicies/write',
    'secrets': 'Microsoft.KeyVault/vaults/secrets/getSecret/action',
}
HSM_EXTRA_ACTIONS = {
    'create': 'Microsoft.KeyVault/managedHsm/keys/create',
    'write': 'Microsoft.KeyVault/managedHsm/keys/write/action',
    'delete': 'Microsoft.KeyVault/managedHsm/keys/delete',
    'import': 'Microsoft.KeyVault/managedHsm/keys/import/action',
    'encrypt': 'Microsoft.KeyVault/managedHsm/keys/encrypt/action',
    'decrypt': 'Microsoft.KeyVault/managedHsm/keys/decrypt/action',
    'sign': 'Microsoft.KeyVault/managedHsm/keys/sign/action',
    'verify': 'Microsoft.KeyVault/managedHsm/keys/verify/action',
    'backup': 'Microsoft.KeyVault/managedHsm/keys/backup/action',
    'restore': 'Microsoft.KeyVault/managedHsm/keys/restore/action',
    'release': 'Microsoft.KeyVault/managedHsm/keys/release/action',
    'export': 'Microsoft.KeyVault/managedHsm/keys/export/action',
    'rotate': 'Microsoft.KeyVault/managedHsm/keys/rotate/action',
    'purge': 'Microsoft.KeyVault/managedHsm/keys/deletedKeys/delete',
    'role_assignments': 'Microsoft.KeyVault/managedHsm/roleAssignments/write/action',
}

# Built-in roles (name -> id, and their data actions as documented): used to resolve names without a
# lookup, to list valid names in errors and to evaluate assignments when a definition cannot be read.
VAULT_ROLES = {
    'Key Vault Crypto Service Encryption User': ('e147488a-f6f5-4113-8e2d-b22465e65bf6', [
        'Microsoft.KeyVault/vaults/keys/read', 'Microsoft.KeyVault/vaults/keys/wrap/action',
        'Microsoft.KeyVault/vaults/keys/unwrap/action']),
    'Key Vault Crypto User': ('12338af0-0e69-4776-bea7-57ae8d297424', [
        'Microsoft.KeyVault/vaults/keys/read', 'Microsoft.KeyVault/vaults/keys/update/action',
        'Microsoft.KeyVault/vaults/keys/backup/action', 'Microsoft.KeyVault/vaults/keys/encrypt/action',
        'Microsoft.KeyVault/vaults/keys/decrypt/action', 'Microsoft.KeyVault/vaults/keys/wrap/action',
        'Microsoft.KeyVault/vaults/keys/unwrap/action', 'Microsoft.KeyVault/vaults/keys/sign/action',
        'Microsoft.KeyVault/vaults/keys/verify/action']),
    'Key Vault Crypto Officer': ('14b46e9e-c2b7-41b4-b07b-48a6ebf60603', [
        'Microsoft.KeyVault/vaults/keys/*', 'Microsoft.KeyVault/vaults/deletedKeys/*',
        'Microsoft.KeyVault/vaults/keyrotationpolicies/*']),
    'Key Vault Administrator': ('00482a5a-887f-4fb3-b663-3bb9b4b7c2dc', ['Microsoft.KeyVault/vaults/*']),
    'Key Vault Reader': ('21090545-7ca7-4776-b22c-e363652d74d2', [
        'Microsoft.KeyVault/vaults/*/read', 'Microsoft.KeyVault/vaults/secrets/readMetadata/action']),
    'Owner': ('8e3af657-a8ff-443c-a75c-2fe8c4bcb635', []),
    'Contributor': ('b24988ac-6180-42a0-ab88-20f7382dd24c', []),
    'Reader': ('acdd72a7-3385-48ef-bd42-f606fba81ae7', []),
    'User Access Administrator': ('18d7d88d-d35e-4fb5-a5c3-7773c20a72d9', []),
}
HSM_ROLES = {
    'Managed HSM Crypto Service Encryption User': ('33413926-3206-4cdd-b39a-83574fe37a17', [
        'Microsoft.KeyVault/managedHsm/keys/read/action', 'Microsoft.KeyVault/managedHsm/keys/wrap/action',
        'Microsoft.KeyVault/managedHsm/keys/unwrap/action']),
    'Managed HSM Crypto User': ('21dbd100-6940-42c2-9190-5d6cb909625b', [
        'Microsoft.KeyVault/managedHsm/keys/read/action', 'Microsoft.KeyVault/managedHsm/keys/write/action',
        'Microsoft.KeyVault/managedHsm/keys/backup/action', 'Microsoft.KeyVault/managedHsm/keys/encrypt/action',
        'Microsoft.KeyVault/managedHsm/keys/decrypt/action', 'Microsoft.KeyVault/managedHsm/keys/wrap/action',
        'Microsoft.KeyVault/managedHsm/keys/unwrap/action', 'Microsoft.KeyVault/managedHsm/keys/sign/action',
        'Microsoft.KeyVault/managedHsm/keys/verify/action', 'Microsoft.KeyVault/managedHsm/keys/create']),
    'Managed HSM Crypto Officer': ('515eb02d-2335-4d2d-92f2-b1cbdf9c3778', [
        'Microsoft.KeyVault/managedHsm/keys/read/action', 'Microsoft.KeyVault/managedHsm/keys/write/action',
        'Microsoft.KeyVault/managedHsm/keys/delete', 'Microsoft.KeyVault/managedHsm/keys/create',
        'Microsoft.KeyVault/managedHsm/keys/backup/action', 'Microsoft.KeyVault/managedHsm/keys/restore/action',
        'Microsoft.KeyVault/managedHsm/keys/export/action', 'Microsoft.KeyVault/managedHsm/keys/release/action',
        'Microsoft.KeyVault/managedHsm/keys/import/action', 'Microsoft.KeyVault/managedHsm/keys/rotate/action',
        'Microsoft.KeyVault/managedHsm/keys/deletedKeys/*', 'Microsoft.KeyVault/managedHsm/roleAssignments/*']),
    'Managed HSM Administrator': ('a290e904-7015-4bba-90c8-60543313cdb4', [
        'Microsoft.KeyVault/managedHsm/roleAssignments/*', 'Microsoft.KeyVault/managedHsm/roleDefinitions/*',
        'Microsoft.KeyVault/managedHsm/securitydomain/*']),
    'Managed HSM Policy Administrator': ('4bd23610-cdcf-4971-bdee-bdc562cc28e4', [
        'Microsoft.KeyVault/managedHsm/roleAssignments/*', 'Microsoft.KeyVault/managedHsm/roleDefinitions/*']),
    'Managed HSM Crypto Auditor': ('2c18b078-7c48-4d3a-af88-5a3a1b3f82b3', [
        'Microsoft.KeyVault/managedHsm/keys/read/action', 'Microsoft.KeyVault/managedHsm/keys/deletedKeys/read/action']),
    'Managed HSM Crypto Service Release User': ('21dbd100-6940-42c2-9190-5d6cb909625c', [
        'Microsoft.KeyVault/managedHsm/keys/release/action']),
    'Managed HSM Backup User': ('7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8', [
        'Microsoft.KeyVault/managedHsm/backup/start/action', 'Microsoft.KeyVault/managedHsm/backup/status/action',
        'Microsoft.KeyVault/managedHsm/keys/backup/action']),
    'Managed HSM Restore User': ('6efe6056-5259-49d2-8b3d-d3d73544b20b', [
        'Microsoft.KeyVault/managedHsm/restore/start/action', 'Microsoft.KeyVault/managedHsm/restore/status/action']),
}
DEFAULT_VAULT_ROLE = 'e147488a-f6f5-4113-8e2d-b22465e65bf6'
DEFAULT_HSM_ROLE = '33413926-3206-4cdd-b39a-83574fe37a17'
# Roles that are never least privilege for a service identity.
BROAD_ROLE_WORDS = ('administrator', 'officer', 'owner', 'contributor')

_GUID_TAIL_RE = re.compile(r'([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/?$')

# api-versions to read a resource's managed identity by type (azure-rest.md 1.1); other types are read from
# the generic resource list.
IDENTITY_API_VERSIONS = {
    'microsoft.managedidentity/userassignedidentities': '2024-11-30',
    'microsoft.compute/diskencryptionsets': '2026-03-02',
    'microsoft.compute/virtualmachines': '2026-04-01',
    'microsoft.compute/disks': '2026-03-02',
    'microsoft.storage/storageaccounts': '2026-09-01',
    'microsoft.sql/managedinstances': '2025-01-01',
    'microsoft.sql/servers': '2025-01-01',
    'microsoft.containerinstance/containergroups': '2023-05-01',
    'microsoft.containerservice/managedclusters': '2026-08-01',
    'microsoft.keyvault/managedhsms': '2024-11-01',
}


class AccessSpecError(ValueError):
    """Invalid access request; the message says what to fix."""


# -- pure helpers ----------------------------------------------------------------------------------------
def role_guid(value):
    """The GUID of a role given as a GUID or any role definition id form; None otherwise."""
    if not value:
        return None
    match = _GUID_TAIL_RE.search(str(value).strip())
    if not match:
        return None
    text = str(value).strip()
    if text != match.group(1) and '/roledefinitions/' not in text.lower():
        return None
    return match.group(1).lower()


def builtin_roles(kind):
    return HSM_ROLES if kind == MANAGED_HSM else VAULT_ROLES


def builtin_role_by_name(kind, name):
    """(canonical name, guid, data_actions) of a built-in role by case-insensitive name, or None."""
    for role_name, (guid, actions) in builtin_roles(kind).items():
        if role_name.lower() == str(name).strip().lower():
            return role_name, guid, actions
    return None


def builtin_role_by_guid(kind, guid):
    for role_name, (role_id, actions) in builtin_roles(kind).items():
        if role_id == (guid or '').lower():
            return role_name, role_id, actions
    return None


def usable_role_names(kind):
    """Built-in roles that give get/wrapKey/unwrapKey (for error messages), least privilege first."""
    return [name for name, (_guid, actions) in builtin_roles(kind).items()
            if grants(actions, [], (HSM_ACTIONS if kind == MANAGED_HSM else VAULT_ACTIONS)['wrapKey'])]


def role_definition_id(kind, guid, subscription_id):
    """The role definition id a new assignment carries."""
    if kind == MANAGED_HSM:
        return 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/%s' % guid
    return '/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s' % (subscription_id, guid)


def action_matches(pattern, action):
    regex = '^' + '.*'.join(re.escape(part) for part in pattern.split('*')) + '$'
    return re.match(regex, action, re.IGNORECASE) is not None


def grants(data_actions, not_data_actions, action):
    """True when the permission block allows ``action`` (wildcards, NotDataActions subtract)."""
    return (any(action_matches(p, action) for p in data_actions or [])
            and not any(action_matches(p, action) for p in not_data_actions or []))


def evaluate_permissions(kind, permissions):
    """Which needed permissions and which extra ones a role's permission blocks give.

    ``permissions`` is a list of {data_actions, not_data_actions}. Returns (needed list, extra list).
    """
    needed_map = HSM_ACTIONS if kind == MANAGED_HSM else VAULT_ACTIONS
    extra_map = HSM_EXTRA_ACTIONS if kind == MANAGED_HSM else VAULT_EXTRA_ACTIONS

    def allowed(action):
        return any(grants(p.get('data_actions'), p.get('not_data_actions'), action) for p in permissions or [])
    needed = [name for name in NEEDED if allowed(needed_map[name])]
    extra = sorted(name for name, action in extra_map.items() if allowed(action))
    return needed, extra


def key_scope(vault_id, key_name):
    return '%s/keys/%s' % (vault_id.rstrip('/'), key_name)


def desired_scope(kind, scope, vault_id, key_name):
    """The assignment scope for ``scope`` = key (default) / vault / keys (Managed HSM: all keys)."""
    scope = scope or 'key'
    if kind == MANAGED_HSM:
        return {'key': '/keys/%s' % key_name, 'keys': '/keys', 'vault': '/'}[scope]
    if scope == 'keys':
        raise AccessSpecError('scope=keys (all keys, /keys) exists only in a Managed HSM; a Key Vault role assignment '
                              'is at key scope (scope=key) or vault scope (scope=vault)')
    return key_scope(vault_id, key_name) if scope == 'key' else vault_id


def _norm_hsm_scope(scope):
    return '/' + '/'.join(p for p in (scope or '/').lower().split('/') if p)


def scope_level(kind, scope, vault_id, key_name):
    """'key', 'keys' (HSM /keys), 'vault' (vault or HSM /), 'resource_group', 'subscription', 'management_group', 'root' or None
    (does not cover the key)."""
    if kind == MANAGED_HSM:
        norm = _norm_hsm_scope(scope)
        return {'/keys/%s' % key_name.lower(): 'key', '/keys': 'keys', '/': 'vault'}.get(norm)
    norm = normalize_resource_id(scope or '/')
    vault = normalize_resource_id(vault_id)
    if norm == normalize_resource_id(key_scope(vault_id, key_name)):
        return 'key'
    if norm == vault:
        return 'vault'
    if norm == '/':
        return 'root'
    parts = [p for p in norm.split('/') if p]
    if len(parts) == 4 and parts[:3] == ['providers', 'microsoft.management', 'managementgroups']:
        # The path does not show whether the vault's subscription is under this management group; the
        # assignments are listed at the key scope, which returns only those at or above it, so a
        # management-group assignment in that list covers the key.
        return 'management_group'
    if not vault.startswith(norm + '/'):
        return None
    if len(parts) == 2 and parts[0] == 'subscriptions':
        return 'subscription'
    if len(parts) == 4 and parts[2] == 'resourcegroups':
        return 'resource_group'
    return 'vault'


def same_scope(kind, a, b):
    if kind == MANAGED_HSM:
        return _norm_hsm_scope(a) == _norm_hsm_scope(b)
    return normalize_resource_id(a) == normalize_resource_id(b)


def assignment_name(scope, principal_id, role_guid_value):
    """Deterministic assignment name: two concurrent runs pick the same name, so Azure keeps one."""
    data = '|'.join([_norm_hsm_scope(scope), principal_id.lower(), role_guid_value.lower()])
    return str(uuid.uuid5(ASSIGNMENT_NAMESPACE, data))


def assignment_dict(item):
    """Canonical dict of a role assignment (ARM RoleAssignment, HSM KeyVaultRoleAssignment or dict)."""
    if isinstance(item, dict):
        return dict(item)
    props = getattr(item, 'properties', None)
    source = props if props is not None and getattr(props, 'principal_id', None) else item
    rid = getattr(item, 'id', None) or getattr(item, 'role_assignment_id', None)
    return {
        'id': rid,
        'name': getattr(item, 'name', None),
        'scope': getattr(source, 'scope', None),
        'principal_id': getattr(source, 'principal_id', None),
        'role_definition_id': getattr(source, 'role_definition_id', None),
    }


def matching_assignment(kind, assignments, principal_id, guid, scope):
    """The assignment equivalent to (principal, role, scope) among ``assignments`` (case-insensitive)."""
    for item in assignments:
        if ((item.get('principal_id') or '').lower() == principal_id.lower()
                and role_guid(item.get('role_definition_id')) == guid
                and same_scope(kind, item.get('scope'), scope)):
            return item
    return None


def policy_entry(policies, principal_id, tenant_id=None):
    """The access policy entry of the principal (object id, no compound application id)."""
    for entry in policies or []:
        if ((entry.get('objectId') or '').lower() == principal_id.lower() and not entry.get('applicationId')
                and (tenant_id is None or not entry.get('tenantId')
                     or entry['tenantId'].lower() == tenant_id.lower())):
            return entry
    return None


def key_permissions(entry):
    return list(((entry or {}).get('permissions') or {}).get('keys') or [])


def policy_grants(entry):
    """(needed list, extra list) of an access policy entry's key permissions."""
    perms = set(p.lower() for p in key_permissions(entry))
    if 'all' in perms:
        return list(NEEDED), ['all']
    needed = [n for n in NEEDED if n.lower() in perms]
    extra = sorted(p for p in perms if p not in set(n.lower() for n in NEEDED))
    secrets = ((entry or {}).get('permissions') or {})
    for other in ('secrets', 'certificates', 'storage'):
        if secrets.get(other):
            extra.append(other)
    return needed, extra


def merge_policy_permissions(entry):
    """(changed, permissions) for adding get/wrapKey/unwrapKey to a principal's key permissions."""
    current = key_permissions(entry)
    lower = set(p.lower() for p in current)
    if 'all' in lower:
        return False, current
    missing = [n for n in NEEDED if n.lower() not in lower]
    return bool(missing), current + missing


def remove_policy_permissions(entry):
    """(changed, permissions to remove, remaining) for taking get/wrapKey/unwrapKey away."""
    current = key_permissions(entry)
    needed = set(n.lower() for n in NEEDED)
    remove = [p for p in current if p.lower() in needed]
    remaining = [p for p in current if p.lower() not in needed]
    return bool(remove), remove, remaining


def compute_effective_access(kind, access_model, vault_id, key_name, principal_id, assignments=(),
                             role_permissions=None, policies=(), tenant_id=None):
    """Which grants give ``principal_id`` get/wrapKey/unwrapKey on the key, and which are over-broad.

    ``assignments``: canonical assignment dicts (any scope); ``role_permissions``: role guid ->
    (role name, [{data_actions, not_data_actions}]); ``policies``: the vault's access policy entries.
    Only the model the vault uses counts (an access-policy vault ignores RBAC data roles and the other way round).
    """
    role_permissions = role_permissions or {}
    grants_found = []
    if access_model == 'access_policies':
        entry = policy_entry(policies, principal_id, tenant_id)
        if entry is not None:
            needed, extra = policy_grants(entry)
            if needed:
                reasons = ['access policy applies to every key in the vault']
                if extra:
                    reasons.append('more than get/wrapKey/unwrapKey: %s' % ', '.join(extra))
                grants_found.append({
                    'source': 'access_policy', 'id': None, 'name': None, 'scope': vault_id, 'scope_level': 'vault',
                    'role_definition_id': None, 'role_name': None, 'permissions': needed, 'extra_permissions': extra,
                    'over_broad': bool(extra), 'reasons': reasons})
    else:
        for item in assignments:
            if (item.get('principal_id') or '').lower() != principal_id.lower():
                continue
            level = scope_level(kind, item.get('scope'), vault_id, key_name)
            if level is None:
                continue
            guid = role_guid(item.get('role_definition_id'))
            role_name, permissions = role_permissions.get(guid, (None, []))
            needed, extra = evaluate_permissions(kind, permissions)
            if not needed:
                continue
            reasons = []
            if level != 'key':
                reasons.append('%s scope: covers more than this key' % level.replace('_', ' '))
            if extra:
                reasons.append('role grants more than get/wrapKey/unwrapKey: %s' % ', '.join(extra))
            if role_name and any(word in role_name.lower() for word in BROAD_ROLE_WORDS) and not extra:
                reasons.append('%s is an administrative role' % role_name)
            grants_found.append({
                'source': 'hsm_role_assignment' if kind == MANAGED_HSM else 'role_assignment',
                'id': item.get('id'), 'name': item.get('name'), 'scope': item.get('scope'), 'scope_level': level,
                'role_definition_id': item.get('role_definition_id'), 'role_name': role_name,
                'permissions': needed, 'extra_permissions': extra, 'over_broad': bool(reasons), 'reasons': reasons})
    held = set()
    for grant in grants_found:
        held.update(grant['permissions'])
    return {
        'principal_id': principal_id,
        'model': access_model,
        'get': 'get' in held,
        'wrap_key': 'wrapKey' in held,
        'unwrap_key': 'unwrapKey' in held,
        'sufficient': all(n in held for n in NEEDED),
        'over_broad': any(g['over_broad'] for g in grants_found),
        'grants': grants_found,
    }


def classify_principal(value):
    """('object_id', guid) or ('resource', parsed id) for the ``principal`` option; raises AccessSpecError."""
    if not value or not isinstance(value, str):
        raise AccessSpecError('principal must be an object id (GUID) or a resource id')
    value = value.strip()
    if is_guid(value):
        return 'object_id', value.lower()
    if value.startswith('/'):
        try:
            parsed = parse_resource_id(value)
        except InvalidIdError as exc:
            raise AccessSpecError('principal: %s' % exc)
        if not parsed['type']:
            raise AccessSpecError('principal %r is not a resource id (no resource type)' % value)
        return 'resource', parsed
    raise AccessSpecError('principal %r is neither an object id (GUID) nor a resource id '
                          '(/subscriptions/.../providers/...)' % value)


def principal_from_body(parsed, body):
    """The object id that acts for a resource: a user-assigned identity's principalId, or the system-assigned
    identity of any other resource. Raises AccessSpecError with the fix."""
    body = body or {}
    if (parsed['type'] or '').lower() == 'microsoft.managedidentity/userassignedidentities':
        oid = (body.get('properties') or {}).get('principalId')
        if not oid:
            raise AccessSpecError('user-assigned identity %s has no principalId' % parsed['id'])
        return oid
    identity = body.get('identity') or {}
    oid = identity.get('principalId')
    if not oid:
        kind = identity.get('type') or 'None'
        users = sorted((identity.get('userAssignedIdentities') or {}).keys())
        hint = (' It has user-assigned identities: pass one of them as principal (%s).' % ', '.join(users)) if users else ''
        raise AccessSpecError('%s has no system-assigned identity (identity type %s): enable it, or pass the '
                              'identity to authorise as principal.%s' % (parsed['id'], kind, hint))
    return oid


def generic_resource_filter(parsed):
    """``$filter`` that finds one top-level resource (type and name) in the generic resource list."""
    return "resourceType eq '%s' and name eq '%s'" % (parsed['type'], parsed['name'].replace("'", "''"))


# -- Azure calls ---------------------------------------------------------------------------------------
def _generic_resource(azmod, parsed):
    """A resource of a type without a known api-version, from the resource group's generic resource list
    (which carries ``identity``, so no per-type api-version is needed)."""
    if len(parsed['types']) != 1 or not parsed['resource_group']:
        raise CMKError('principal: %s is not a top-level resource in a resource group; pass its principal id' % parsed['id'])
    path = '/subscriptions/%s/resourceGroups/%s/resources?$filter=%s' % (
        parsed['subscription'], parsed['resource_group'], quote(generic_resource_filter(parsed), safe=''))
    listing = azmod.get_or_none('looking up %s' % parsed['id'], azmod.clients.arm_request, 'GET', path,
                                _vaults.RESOURCES_API_VERSION)
    for item in (listing or {}).get('value') or []:
        if (item.get('id') or '').lower() == parsed['id'].lower():
            return item
    return None


def resolve_principal(azmod, principal, missing_ok=False):
    """The object id for the ``principal`` option (GUID, user-assigned identity or a resource with an identity).

    A resource that does not exist fails the task, or with ``missing_ok`` returns None."""
    try:
        form, value = classify_principal(principal)
    except AccessSpecError as exc:
        raise CMKError(str(exc))
    if form == 'object_id':
        return value
    rtype = value['type'].lower()
    version = IDENTITY_API_VERSIONS.get(rtype)
    if version is not None:
        body = azmod.get_or_none('reading the identity of %s' % value['id'], azmod.clients.arm_request, 'GET',
                                 value['id'], version)
    else:
        body = _generic_resource(azmod, value)
    if body is None:
        if missing_ok:
            return None
        raise CMKError('principal: resource %s does not exist' % value['id'])
    try:
        return principal_from_body(value, body).lower()
    except AccessSpecError as exc:
        raise CMKError(str(exc))
    return None


def resolve_key(azmod, key, vault=None, resource_group=None):
    """(parsed key, vault_info) from a key URI, or a key name with ``vault``."""
    cloud = azmod.cloud
    vault_suffixes = [cloud['key_vault_suffix']] if cloud.get('key_vault_suffix') else []
    hsm_suffixes = [cloud['managed_hsm_suffix']] if cloud.get('managed_hsm_suffix') else []
    if key and str(key).lower().startswith(('https://', 'http://')):
        try:
            parsed = parse_key_uri(key, vault_suffixes, hsm_suffixes)
        except InvalidIdError as exc:
            raise CMKError('Invalid key: %s' % exc)
        if vault:
            info = _vaults.resolve_vault(azmod, vault, resource_group)
            if info['uri'] and info['uri'].lower() != parsed['vault_url'].lower():
                raise CMKError('key %s is not in vault %s (%s)' % (key, vault, info['uri']))
        else:
            info = _vaults.find_vault_by_uri(azmod, {'kind': parsed['kind'], 'name': parsed['vault_name'],
                                                     'host': parsed['vault_url'].split('://', 1)[1],
                                                     'vault_url': parsed['vault_url']}, resource_group)
        return parsed, info
    if not vault:
        raise CMKError('key %r is a name: also set vault (or pass the key URI)' % (key,))
    if not valid_key_name(key):
        raise CMKError('key %r is not a valid key name (1-127 letters, digits and dashes) or key URI' % (key,))
    info = _vaults.resolve_vault(azmod, vault, resource_group)
    parsed = parse_key_uri('%s/keys/%s' % (info['uri'], key), vault_suffixes, hsm_suffixes)
    return parsed, info


def resolve_role(azmod, kind, role, subscription_id, hsm_client=None):
    """(guid, role name) of the ``role`` option (name or id; None = the default for the model)."""
    if role is None:
        guid = DEFAULT_HSM_ROLE if kind == MANAGED_HSM else DEFAULT_VAULT_ROLE
        return guid, builtin_role_by_guid(kind, guid)[0]
    guid = role_guid(role)
    if guid:
        known = builtin_role_by_guid(kind, guid)
        if known:
            return guid, known[0]
        definitions = list_role_definitions(azmod, kind, subscription_id, hsm_client)
        if guid in definitions:
            return guid, definitions[guid][0]
        if kind != MANAGED_HSM:
            found = azmod.get_or_none('reading role definition %s' % guid, azmod.arm('authorization').role_definitions.get,
                                      '/subscriptions/%s' % subscription_id, guid)
            if found is not None:
                return guid, getattr(found, 'role_name', None)
        raise CMKError('Role definition %s does not exist%s. Roles that give get/wrapKey/unwrapKey: %s'
                       % (role, ' in this Managed HSM' if kind == MANAGED_HSM else '', ', '.join(usable_role_names(kind))))
    known = builtin_role_by_name(kind, role)
    if known:
        return known[1], known[0]
    if kind == MANAGED_HSM:
        definitions = list_role_definitions(azmod, kind, subscription_id, hsm_client)
        for def_guid, (name, _perms) in definitions.items():
            if (name or '').lower() == role.strip().lower():
                return def_guid, name
    else:
        client = azmod.arm('authorization')
        escaped = role.strip().replace("'", "''")
        found = azmod.run('looking up role %s' % role, lambda: list(client.role_definitions.list(
            '/subscriptions/%s' % subscription_id, filter="roleName eq '%s'" % escaped)))
        for item in found:
            if (getattr(item, 'role_name', '') or '').lower() == role.strip().lower():
                return role_guid(item.id) or item.name, item.role_name
    other = builtin_roles(MANAGED_HSM if kind == KEY_VAULT else KEY_VAULT)
    mismatch = ''
    if any(name.lower() == role.strip().lower() for name in other):
        mismatch = (' (%s is a %s role)' % (role, 'Managed HSM local' if kind == KEY_VAULT else 'Key Vault Azure RBAC'))
    raise CMKError('Unknown role %r for a %s%s. Roles that give get/wrapKey/unwrapKey: %s'
                   % (role, 'Managed HSM' if kind == MANAGED_HSM else 'Key Vault', mismatch,
                      ', '.join(usable_role_names(kind))))


def _hsm_permissions(definition):
    blocks = []
    for perm in getattr(definition, 'permissions', None) or []:
        blocks.append({'data_actions': [getattr(a, 'value', a) for a in (getattr(perm, 'data_actions', None) or [])],
                       'not_data_actions': [getattr(a, 'value', a) for a in (getattr(perm, 'not_data_actions', None) or [])]})
    return blocks


def list_role_definitions(azmod, kind, subscription_id, hsm_client=None):
    """guid -> (name, permission blocks). Managed HSM: the HSM's own definitions; Key Vault: the built-in table."""
    result = dict((guid, (name, [{'data_actions': actions, 'not_data_actions': []}]))
                  for name, (guid, actions) in builtin_roles(kind).items())
    if kind == MANAGED_HSM and hsm_client is not None:
        definitions = azmod.cached(('hsm_role_definitions', getattr(hsm_client, 'vault_url', None) or id(hsm_client)),
                                   lambda: azmod.run('listing the Managed HSM role definitions',
                                                     lambda: list(hsm_client.list_role_definitions('/'))))
        for definition in definitions:
            guid = role_guid(getattr(definition, 'id', None)) or (getattr(definition, 'name', '') or '').lower()
            result[guid] = (getattr(definition, 'role_name', None), _hsm_permissions(definition))
    return result


def _arm_role_permissions(azmod, guids, subscription_id, cache):
    """Fill ``cache`` (guid -> (name, blocks)) for role guids not in the built-in table (one read each)."""
    client = None
    for guid in guids:
        if guid in cache or not guid:
            continue
        client = client or azmod.arm('authorization')
        found = azmod.cached(('role_definition', subscription_id, guid), lambda g=guid: azmod.get_or_none(
            'reading role definition %s' % g, client.role_definitions.get, '/subscriptions/%s' % subscription_id, g))
        blocks = []
        for perm in getattr(found, 'permissions', None) or []:
            blocks.append({'data_actions': list(getattr(perm, 'data_actions', None) or []),
                           'not_data_actions': list(getattr(perm, 'not_data_actions', None) or [])})
        cache[guid] = (getattr(found, 'role_name', None), blocks)
    return cache


def list_assignments(azmod, kind, info, key_name, principal_id, hsm_client=None):
    """Canonical assignments of the principal that may cover the key (any enclosing scope)."""
    if kind == MANAGED_HSM:
        seen = {}
        for scope in ('/', '/keys', '/keys/%s' % key_name):
            items = azmod.cached(('hsm_role_assignments', info['uri'].lower(), scope), lambda s=scope: azmod.run(
                'listing the Managed HSM role assignments at %s' % s, lambda: list(hsm_client.list_role_assignments(s))))
            for item in items:
                data = assignment_dict(item)
                if (data.get('principal_id') or '').lower() == principal_id.lower():
                    seen[(data.get('name') or data.get('id') or '').lower()] = data
        return list(seen.values())
    client = azmod.arm('authorization')
    scope = key_scope(info['id'], key_name)
    if azmod.shares_reads:
        # a bulk scan: every assignment that may cover the key, read once per key for all its principals
        items = azmod.cached(('role_assignments', scope.lower()), lambda: azmod.run(
            'listing the role assignments at %s' % scope, lambda: list(client.role_assignments.list_for_scope(scope))))
    else:
        items = azmod.run('listing the role assignments of %s' % principal_id, lambda: list(
            client.role_assignments.list_for_scope(scope, filter="principalId eq '%s'" % principal_id)))
    result = []
    for item in items:
        data = assignment_dict(item)
        if (data.get('principal_id') or '').lower() == principal_id.lower():
            result.append(data)
    return result


def effective_access(azmod, key_uri, principal_id, info=None):
    """Effective get/wrapKey/unwrapKey of ``principal_id`` on the key (see ``compute_effective_access``)."""
    parsed, info = (parse_key_uri(key_uri), info) if info is not None else resolve_key(azmod, key_uri)
    return _effective(azmod, info, parsed['name'], principal_id.lower())


def _effective(azmod, info, key_name, principal_id, hsm_client=None):
    kind = info['kind']
    role_permissions = {}
    assignments = []
    if info['access_model'] != 'access_policies':
        if kind == MANAGED_HSM:
            hsm_client = hsm_client or azmod.data('hsm_access', info['uri'])
        assignments = list_assignments(azmod, kind, info, key_name, principal_id, hsm_client)
        role_permissions = list_role_definitions(azmod, kind, azmod.subscription_id, hsm_client)
        if kind == KEY_VAULT:
            _arm_role_permissions(azmod, [role_guid(a.get('role_definition_id')) for a in assignments],
                                  azmod.subscription_id, role_permissions)
    result = compute_effective_access(kind, info['access_model'], info['id'], key_name, principal_id, assignments,
                                      role_permissions, info.get('access_policies'), info.get('tenant_id'))
    result['key_id'] = '%s/keys/%s' % (info['uri'], key_name)
    return result


def _create_tolerating_exists(azmod, action, fn, *args, **kwargs):
    """Run a create; a 409 RoleAssignmentExists / Conflict means an equivalent assignment is already there."""
    result, error = azmod.attempt(action, fn, *args, **kwargs)
    if error is None:
        return result, False
    code, status = error_code(error), (error.result.get('error') or {}).get('status')
    if code == 'RoleAssignmentExists' or (status == 409 and code in ('Conflict', 'RoleAssignmentExists')):
        return None, True
    raise error


def ensure_key_access(azmod, key_uri, principal_id, state='present', role=None, scope=None,
                      principal_type='ServicePrincipal', info=None):
    """Grant (or revoke) ``principal_id`` get/wrapKey/unwrapKey on the key in the model the vault uses.

    Returns (changed, before, after, details). ``before``/``after`` describe the grant this call manages
    ({'assignment': ...} or {'access_policy': ...}); ``details`` has ``model``, ``scope``, ``role_definition_id``,
    ``role_name``, ``assignment_name`` and ``effective_access`` (after the change; predicted in check mode).
    Everything is validated before the first write; check mode sends no write.
    """
    if info is None:
        parsed, info = resolve_key(azmod, key_uri)
    else:
        parsed = parse_key_uri(key_uri)
    principal_id = principal_id.lower()
    kind = info['kind']
    key_name = parsed['name']
    if info['access_model'] == 'access_policies':
        if role is not None:
            raise CMKError('Key Vault %s uses access policies, not Azure RBAC: role does not apply (the access policy '
                           'grants get, wrapKey and unwrapKey). Remove role, or switch the vault to RBAC.' % info['name'])
        if scope not in (None, 'vault'):
            raise CMKError('Key Vault %s uses access policies, which always apply to every key in the vault: scope=%s is '
                           'not possible. Omit scope (or use scope=vault), or switch the vault to Azure RBAC for key '
                           'scope.' % (info['name'], scope))
        return _ensure_policy(azmod, info, key_name, principal_id, state)
    try:
        assign_scope = desired_scope(kind, scope, info['id'], key_name)
    except AccessSpecError as exc:
        raise CMKError(str(exc))
    hsm_client = azmod.data('hsm_access', info['uri']) if kind == MANAGED_HSM else None
    guid, role_name = resolve_role(azmod, kind, role, azmod.subscription_id, hsm_client)
    definition_id = role_definition_id(kind, guid, azmod.subscription_id)
    name = assignment_name(assign_scope, principal_id, guid)
    assignments = list_assignments(azmod, kind, info, key_name, principal_id, hsm_client)
    existing = matching_assignment(kind, assignments, principal_id, guid, assign_scope)
    details = {'model': info['access_model'], 'scope': assign_scope, 'role_definition_id': definition_id,
               'role_name': role_name, 'assignment_name': (existing or {}).get('name') or name}
    before = {'assignment': existing}
    wanted = {'id': None, 'name': name, 'scope': assign_scope, 'principal_id': principal_id,
              'role_definition_id': definition_id}
    if state == 'present':
        changed = existing is None
        after_assignment = existing or wanted
    else:
        changed = existing is not None
        after_assignment = None
    if changed and not azmod.check_mode:
        after_assignment = _write_assignment(azmod, kind, state, existing, wanted, principal_type, hsm_client,
                                             assignments)
    after = {'assignment': after_assignment}
    remaining = [a for a in assignments if not (existing is not None and a is existing)]
    if after_assignment is not None and after_assignment not in remaining:
        remaining.append(after_assignment)
    role_permissions = list_role_definitions(azmod, kind, azmod.subscription_id, hsm_client)
    if kind == KEY_VAULT:
        _arm_role_permissions(azmod, [role_guid(a.get('role_definition_id')) for a in remaining],
                              azmod.subscription_id, role_permissions)
    effective = compute_effective_access(kind, info['access_model'], info['id'], key_name, principal_id, remaining,
                                         role_permissions)
    effective['key_id'] = parsed['versionless_id']
    details['effective_access'] = effective
    return changed, before, after, details


def _write_assignment(azmod, kind, state, existing, wanted, principal_type, hsm_client, assignments):
    if state == 'absent':
        if kind == MANAGED_HSM:
            azmod.run('deleting Managed HSM role assignment %s' % existing['name'], hsm_client.delete_role_assignment,
                      existing['scope'] or wanted['scope'], existing['name'])
        else:
            azmod.run('deleting role assignment %s' % existing['name'],
                      azmod.arm('authorization').role_assignments.delete, existing['scope'] or wanted['scope'],
                      existing['name'])
        return None
    if kind == MANAGED_HSM:
        created, exists = _create_tolerating_exists(
            azmod, 'creating the Managed HSM role assignment', hsm_client.create_role_assignment, wanted['scope'],
            wanted['role_definition_id'], wanted['principal_id'], name=wanted['name'])
    else:
        parameters = {'role_definition_id': wanted['role_definition_id'], 'principal_id': wanted['principal_id'],
                      'principal_type': principal_type}
        created, exists = _create_tolerating_exists(
            azmod, 'creating the role assignment', azmod.arm('authorization').role_assignments.create,
            wanted['scope'], wanted['name'], parameters)
    if exists:
        azmod.warn('An equivalent role assignment appeared while this task ran (RoleAssignmentExists): kept it')
        return wanted
    result = assignment_dict(created)
    result['scope'] = result.get('scope') or wanted['scope']
    result['principal_id'] = result.get('principal_id') or wanted['principal_id']
    result['role_definition_id'] = result.get('role_definition_id') or wanted['role_definition_id']
    return result


def _ensure_policy(azmod, info, key_name, principal_id, state):
    entry = policy_entry(info['access_policies'], principal_id, info.get('tenant_id'))
    before_perms = key_permissions(entry) if entry else None
    details = {'model': 'access_policies', 'scope': info['id'], 'role_definition_id': None, 'role_name': None,
               'assignment_name': None}
    if state == 'present':
        changed, permissions = merge_policy_permissions(entry)
        after_perms = permissions
        op, send = 'add', permissions
    else:
        changed, send, remaining = remove_policy_permissions(entry)
        after_perms = remaining if entry is not None else None
        op = 'remove'
    before = {'access_policy': {'object_id': principal_id, 'key_permissions': before_perms} if entry else None}
    after = {'access_policy': {'object_id': principal_id, 'key_permissions': after_perms}
             if after_perms is not None and (after_perms or state == 'present') else None}
    policies = list(info['access_policies'])
    if changed:
        policies = [p for p in policies if p is not entry]
        if after['access_policy']:
            updated = dict(entry or {'tenantId': info.get('tenant_id'), 'objectId': principal_id})
            updated['permissions'] = dict((entry or {}).get('permissions') or {}, keys=after_perms)
            policies.append(updated)
    if changed and not azmod.check_mode:
        entry_body = {'tenantId': info.get('tenant_id') or (entry or {}).get('tenantId'), 'objectId': principal_id,
                      'permissions': {'keys': send}}
        # The service answers with the entries of the request, not the vault's list: the predicted list stands.
        azmod.arm_request('updating the access policies of %s (%s)' % (info['name'], op), 'PUT',
                          '%s/accessPolicies/%s' % (info['id'], op), _vaults.KEYVAULT_API_VERSION,
                          {'properties': {'accessPolicies': [entry_body]}})
    effective = compute_effective_access(KEY_VAULT, 'access_policies', info['id'], key_name, principal_id,
                                         policies=policies)
    effective['key_id'] = '%s/keys/%s' % (info['uri'], key_name)
    details['effective_access'] = effective
    return changed, before, after, details


# -- Azure RBAC actions on a resource (not a key): the AKS cluster identity's Reader on its DES -------------------------
READER_ROLE = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'   # built-in Reader
# Built-in roles whose actions are known without a read (action patterns): Reader, Contributor, Owner.
BUILTIN_ACTIONS = {
    READER_ROLE: ('Reader', ['*/read'], []),
    'b24988ac-6180-42a0-ab88-20f7382dd24c': ('Contributor', ['*'], [
        'Microsoft.Authorization/*/Delete', 'Microsoft.Authorization/*/Write', 'Microsoft.Authorization/elevateAccess/Action']),
    '8e3af657-a8ff-443b-a75c-2fe8c4bcb635': ('Owner', ['*'], []),
}


def action_allowed(blocks, action):
    """True when one permission block (``actions``, ``not_actions``) allows the control-plane ``action``."""
    return any(grants(block.get('actions'), block.get('not_actions'), action) for block in blocks or [])


def arm_action_access(azmod, scope, principal_id, action):
    """Whether ``principal_id`` may do ``action`` at ``scope`` through Azure RBAC (assignments at or above the scope).

    Returns (allowed, [role names that allow it]). Built-in Reader/Contributor/Owner are known; other roles are read.
    """
    client = azmod.arm('authorization')
    if azmod.shares_reads:
        # a bulk scan: the assignments at the scope, read once for every principal (AKS clusters sharing a DES)
        items = azmod.cached(('role_assignments', scope.lower()), lambda: azmod.run(
            'listing the role assignments at %s' % scope, lambda: list(client.role_assignments.list_for_scope(scope))))
    else:
        items = azmod.run('listing the role assignments of %s at %s' % (principal_id, scope), lambda: list(
            client.role_assignments.list_for_scope(scope, filter="principalId eq '%s'" % principal_id)))
    names = []
    for item in items:
        data = assignment_dict(item)
        if (data.get('principal_id') or '').lower() != principal_id.lower():
            continue
        guid = role_guid(data.get('role_definition_id'))
        if guid in BUILTIN_ACTIONS:
            name, actions, not_actions = BUILTIN_ACTIONS[guid]
            blocks = [{'actions': actions, 'not_actions': not_actions}]
        else:
            found = azmod.cached(('role_definition', scope.lower(), guid), lambda g=guid: azmod.get_or_none(
                'reading role definition %s' % g, client.role_definitions.get, scope, g))
            name = getattr(found, 'role_name', guid)
            blocks = [{'actions': list(getattr(p, 'actions', None) or []),
                       'not_actions': list(getattr(p, 'not_actions', None) or [])}
                      for p in getattr(found, 'permissions', None) or []]
        if action_allowed(blocks, action):
            names.append(name)
    return bool(names), names


def ensure_reader(azmod, scope, principal_id, principal_type='ServicePrincipal'):
    """Assign the built-in Reader role to ``principal_id`` at ``scope`` (deterministic name; predicted in check mode).

    Returns (changed, assignment name)."""
    subscription = scope.split('/')[2] if scope.lower().startswith('/subscriptions/') else azmod.subscription_id
    name = assignment_name(scope, principal_id, READER_ROLE)
    if azmod.check_mode:
        return True, name
    parameters = {'role_definition_id': role_definition_id(KEY_VAULT, READER_ROLE, subscription),
                  'principal_id': principal_id, 'principal_type': principal_type}
    _created, _exists = _create_tolerating_exists(azmod, 'assigning Reader on %s' % scope,
                                                  azmod.arm('authorization').role_assignments.create, scope, name,
                                                  parameters)
    return True, name
