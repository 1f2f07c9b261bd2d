# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Disk Encryption Set backend (``Microsoft.Compute/diskEncryptionSets``) for azure_des and the disk adapters.

The first half is pure and unit-tested (canonical state, desired-vs-current plan with create-time-only
settings and the never-flip-user-to-system identity rule, auto-rotation aware key comparison); the second
half reads and writes through an ``AzureCMKModule``.

Key URL: the API documents ``activeKey.keyUrl`` as a fully versioned URL even with
``rotationToLatestKeyVersionEnabled`` (Terraform sends a versionless one). The user may give either; a
versionless URL is resolved to the key's current version and the versioned URL is sent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils import _identities
from ansible_collections.sovereign.cmk.plugins.module_utils import _arm, _services
from ansible_collections.sovereign.cmk.plugins.module_utils._diff import compare_tags
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import (
    KEY_VAULT, InvalidIdError, parse_key_uri, parse_resource_id, same_resource_id)
from ansible_collections.sovereign.cmk.plugins.module_utils import _chain

RULES = _services.SERVICES['disk_encryption_set']
API_VERSION = RULES['api_version']
ENCRYPTION_TYPES = ('EncryptionAtRestWithCustomerKey', 'EncryptionAtRestWithPlatformAndCustomerKeys',
                    'ConfidentialVmEncryptedWithCustomerKey')
DEFAULT_ENCRYPTION_TYPE = 'EncryptionAtRestWithCustomerKey'
IDENTITY_TYPES = ('SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned')


# -- pure --------------------------------------------------------------------------------------------
def des_state(body):
    """Canonical dict of a DES body (ARM JSON); None stays None."""
    if not body:
        return None
    props = body.get('properties') or {}
    active = props.get('activeKey') or {}
    identity = body.get('identity') or {}
    key_url = active.get('keyUrl')
    version = None
    if key_url:
        try:
            version = parse_key_uri(key_url)['version']
        except InvalidIdError:
            version = None
    users = identity.get('userAssignedIdentities') or {}
    return {
        'id': body.get('id'),
        'name': body.get('name'),
        'location': body.get('location'),
        'encryption_type': props.get('encryptionType'),
        'key_url': key_url,
        'key_version': version,
        'source_vault_id': (active.get('sourceVault') or {}).get('id'),
        'auto_key_rotation': bool(props.get('rotationToLatestKeyVersionEnabled')),
        'last_key_rotation_timestamp': props.get('lastKeyRotationTimestamp'),
        'auto_key_rotation_error': props.get('autoKeyRotationError'),
        'federated_client_id': _identities.federated_option(props.get('federatedClientId')) or None,   # Azure's 'None': none
        'identity_type': _identities.identity_type(_identities.identity_kinds(identity)),
        'principal_id': identity.get('principalId'),
        'tenant_id': identity.get('tenantId'),
        'user_assigned_identities': dict((k, {'principal_id': (v or {}).get('principalId'),
                                              'client_id': (v or {}).get('clientId')}) for k, v in users.items()),
        'tags': dict(body.get('tags') or {}),
        'provisioning_state': props.get('provisioningState'),
    }


def settings(state):
    """The encryption settings shown in before/after and diffs."""
    if state is None:
        return None
    keys = ('encryption_type', 'key_url', 'source_vault_id', 'auto_key_rotation', 'federated_client_id',
            'identity_type', 'user_assigned_identities', 'tags')
    result = dict((k, state.get(k)) for k in keys)
    result['user_assigned_identities'] = sorted(state.get('user_assigned_identities') or {})
    return result


def validate(params):
    """Errors in the options that need no Azure call."""
    errors = []
    if params.get('state') == 'absent':
        return errors
    ident = params.get('identity_type')
    users = params.get('user_assigned_identities') or []
    if ident and 'UserAssigned' in ident and not users:
        errors.append('identity_type %s needs user_assigned_identities (the resource ids of the identities)' % ident)
    if users and ident == 'SystemAssigned':
        errors.append('user_assigned_identities is set but identity_type is SystemAssigned: use UserAssigned or '
                      '"SystemAssigned, UserAssigned"')
    for uai in users:
        try:
            parsed = parse_resource_id(uai)
        except InvalidIdError as exc:
            errors.append('user_assigned_identities: %s' % exc)
            continue
        if (parsed['type'] or '').lower() != 'microsoft.managedidentity/userassignedidentities':
            errors.append('user_assigned_identities: %s is not a Microsoft.ManagedIdentity/userAssignedIdentities id' % uai)
    if params.get('key'):
        try:
            parsed = parse_key_uri(params['key'])
        except InvalidIdError as exc:
            errors.append('key: %s' % exc)
        else:
            if parsed['kind'] not in RULES['key_sources']:
                errors.append('key: %s keys are not supported by disk encryption sets' % parsed['kind'])
    return errors


def desired_identity_kinds(params, current):
    """The identity kinds a run leaves: the requested type, or (unset) the current one, or SystemAssigned."""
    if params.get('identity_type'):
        return _identities.identity_kinds({'type': params['identity_type']})
    if current:
        kinds = _identities.identity_kinds({'type': current['identity_type']})
        if params.get('user_assigned_identities'):
            kinds.add(_services.USER_ASSIGNED)
        return kinds
    if params.get('user_assigned_identities'):
        return set([_services.USER_ASSIGNED])
    return set([_services.SYSTEM_ASSIGNED])


def plan(current, params, key_url, source_vault_id):
    """Compare ``current`` (des_state or None) with the request.

    ``key_url`` is the fully versioned key URL to send (None: key not managed on update). Returns a dict
    ``create`` (bool), ``body`` (PUT body for a create, PATCH body for an update, None when nothing changes),
    ``changes`` (names), ``recreate`` (reasons: create-time-only settings that differ, never applied) and
    ``after`` (predicted settings).
    """
    kinds = desired_identity_kinds(params, current)
    users = list(params.get('user_assigned_identities') or [])
    if current is None:
        props = {'encryptionType': params.get('encryption_type') or DEFAULT_ENCRYPTION_TYPE,
                 'activeKey': {'keyUrl': key_url}}
        if source_vault_id:
            props['activeKey']['sourceVault'] = {'id': source_vault_id}
        if params.get('auto_key_rotation') is not None:
            props['rotationToLatestKeyVersionEnabled'] = params['auto_key_rotation']
        if _identities.is_federated(params.get('federated_client_id')):
            props['federatedClientId'] = _identities.federated_option(params['federated_client_id'])
        identity = {'type': _identities.identity_type(kinds)}
        if users:
            identity['userAssignedIdentities'] = dict((u, {}) for u in users)
        body = {'location': params.get('location'), 'identity': identity, 'properties': props}
        if params.get('tags'):
            body['tags'] = dict(params['tags'])
        after = {'encryption_type': props['encryptionType'], 'key_url': key_url, 'source_vault_id': source_vault_id,
                 'auto_key_rotation': bool(params.get('auto_key_rotation')),
                 'federated_client_id': props.get('federatedClientId'), 'identity_type': identity['type'],
                 'user_assigned_identities': sorted(users), 'tags': dict(params.get('tags') or {})}
        return {'create': True, 'body': body, 'changes': ['created'], 'recreate': [], 'after': after}

    changes = []
    recreate = []
    props = {}
    after = settings(current)
    wanted_type = params.get('encryption_type')
    if wanted_type and wanted_type != current['encryption_type']:
        recreate.append('encryption_type is %s, wanted %s: the encryption type of a disk encryption set is set at '
                        'creation only (delete and recreate the DES, then move the disks)'
                        % (current['encryption_type'], wanted_type))
    auto = params.get('auto_key_rotation')
    effective_auto = current['auto_key_rotation'] if auto is None else auto
    if auto is not None and auto != current['auto_key_rotation']:
        props['rotationToLatestKeyVersionEnabled'] = auto
        after['auto_key_rotation'] = auto
        changes.append('auto_key_rotation')
    if key_url and not _chain.key_matches(current['key_url'], key_url, effective_auto):
        props['activeKey'] = {'keyUrl': key_url}
        if source_vault_id:
            props['activeKey']['sourceVault'] = {'id': source_vault_id}
        after['key_url'] = key_url
        after['source_vault_id'] = source_vault_id or current['source_vault_id']
        changes.append('key')
    fed = _identities.federated_option(params.get('federated_client_id'))
    if fed is not None and not _identities.same_client_id(current['federated_client_id'], fed):
        props['federatedClientId'] = fed or 'None'   # Azure's value for "no cross-tenant key"
        after['federated_client_id'] = fed or None
        changes.append('federated_client_id')
    body = {}
    if props:
        body['properties'] = props
    # Identity: additions are applied; removing a user-assigned identity in favour of system-assigned
    # (a "flip") is never done in place.
    cur_kinds = _identities.identity_kinds({'type': current['identity_type']})
    cur_users = list(current['user_assigned_identities'] or {})
    missing_users = [u for u in users if not any(same_resource_id(u, c) for c in cur_users)]
    drop_user = _services.USER_ASSIGNED in cur_kinds and _services.USER_ASSIGNED not in kinds
    if drop_user:
        recreate.append('identity is %s, wanted %s: a disk encryption set is never switched from a user-assigned to '
                        'a system-assigned identity in place (the disks would lose access to the key until the new '
                        'identity is granted). Create a new DES and move the disks.'
                        % (current['identity_type'], _identities.identity_type(kinds)))
    new_kinds = set(cur_kinds) if drop_user else set(cur_kinds) | kinds
    if _services.SYSTEM_ASSIGNED in cur_kinds and _services.SYSTEM_ASSIGNED not in kinds:
        # the user-assigned identity is added (the key is reached through it), but the system-assigned one is
        # never removed in place: the DES keeps both, which is not what was asked for (reported, not compliant)
        recreate.append('identity is %s, wanted %s: the system-assigned identity of a disk encryption set is never '
                        'removed in place (the task adds the user-assigned identity and keeps it, so the DES has %s). '
                        'Create a new DES with the user-assigned identity only and move the disks.'
                        % (current['identity_type'], _identities.identity_type(kinds), _identities.identity_type(new_kinds)))
    if new_kinds != cur_kinds or missing_users:
        identity = {'type': _identities.identity_type(new_kinds)}
        if missing_users:
            identity['userAssignedIdentities'] = dict((u, {}) for u in missing_users)
        body['identity'] = identity
        after['identity_type'] = identity['type']
        after['user_assigned_identities'] = sorted(cur_users + missing_users)
        changes.append('identity')
    tags_changed, tags = compare_tags(current['tags'], params.get('tags'), params.get('purge_tags', True))
    if tags_changed:
        body['tags'] = tags
        after['tags'] = tags
        changes.append('tags')
    return {'create': False, 'body': body or None, 'changes': changes, 'recreate': recreate, 'after': after}


def source_vault_for(vault_info, des_subscription):
    """``activeKey.sourceVault.id``: only for a Key Vault in the DES's subscription (Azure rejects it otherwise)."""
    if not vault_info or vault_info['kind'] != KEY_VAULT:
        return None
    if (vault_info.get('subscription') or '').lower() != (des_subscription or '').lower():
        return None
    return vault_info['id']


def des_principals(state):
    """[{'principal_id', 'what'}]: the identity the DES uses to reach its key - its user-assigned identity when it
    has one, else its system-assigned identity (a DES takes at most one user-assigned identity)."""
    users = sorted(((state or {}).get('user_assigned_identities') or {}).items())
    for uai, data in users:
        if data.get('principal_id'):
            return [{'principal_id': data['principal_id'], 'what': 'user-assigned identity %s of DES %s' % (uai, state['name'])}]
    if state and state.get('principal_id'):
        return [{'principal_id': state['principal_id'], 'what': 'system-assigned identity of DES %s' % state['name']}]
    return []


# -- Azure -------------------------------------------------------------------------------------------------
def des_id(subscription_id, resource_group, name):
    return '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/diskEncryptionSets/%s' % (
        subscription_id, resource_group, name)


def read_des(azmod, resource_id):
    return des_state(_arm.read(azmod, resource_id, API_VERSION))


def write(azmod, resource_id, planned):
    name = parse_resource_id(resource_id)['name']
    if planned['create']:
        _arm.write(azmod, 'creating disk encryption set %s' % name, 'PUT', resource_id, API_VERSION, planned['body'])
    else:
        _arm.write(azmod, 'updating disk encryption set %s' % name, 'PATCH', resource_id, API_VERSION, planned['body'])


def delete(azmod, resource_id):
    _arm.write(azmod, 'deleting disk encryption set %s' % parse_resource_id(resource_id)['name'], 'DELETE', resource_id,
               API_VERSION)
