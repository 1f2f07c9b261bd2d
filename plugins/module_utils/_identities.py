# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Managed identities: the ARM identity envelope (system- and user-assigned), cross-tenant (federated) client ids,
and the principal (object) id of a user-assigned identity.

Pure helpers first (unit-tested), then the principal lookup through ``_access``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils._errors import CMKError
from ansible_collections.sovereign.cmk.plugins.module_utils import _access, _services
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import InvalidIdError, parse_resource_id


def federated_option(value):
    """A federated client id (option or Azure value) normalised: None when unset, '' when it means "none"
    (V(None) in any case, or empty), else the id."""
    if value is None:
        return None
    value = value.strip()
    return '' if value.lower() in ('', 'none') else value


def is_federated(value):
    """True when a federated client id (option or Azure value) names an application (cross-tenant key)."""
    return bool(federated_option(value))


def same_client_id(a, b):
    """Federated client ids compared case-insensitively; unset, empty and V(None) are the same."""
    return (federated_option(a) or '').lower() == (federated_option(b) or '').lower()


def identity_kinds(identity):
    """{'system_assigned', 'user_assigned'} from an ARM identity envelope."""
    text = str((identity or {}).get('type') or 'None').lower().replace(' ', '')
    kinds = set()
    if 'systemassigned' in text:
        kinds.add(_services.SYSTEM_ASSIGNED)
    if 'userassigned' in text:
        kinds.add(_services.USER_ASSIGNED)
    return kinds


def user_identities(identity):
    return sorted((identity or {}).get('userAssignedIdentities') or {})


def has_user_identity(identity, uai_id):
    return any(i.lower() == (uai_id or '').lower() for i in user_identities(identity))


def identity_type(kinds, separator=', '):
    names = []
    if _services.SYSTEM_ASSIGNED in kinds:
        names.append('SystemAssigned')
    if _services.USER_ASSIGNED in kinds:
        names.append('UserAssigned')
    return separator.join(names) or 'None'


def identity_with(current, system=False, user_id=None, separator=', '):
    """The identity envelope to send so that ``current`` also has the system identity / ``user_id``.

    Returns None when nothing must change. Existing identities are kept.
    """
    kinds = identity_kinds(current)
    users = user_identities(current)
    changed = False
    if system and _services.SYSTEM_ASSIGNED not in kinds:
        kinds.add(_services.SYSTEM_ASSIGNED)
        changed = True
    if user_id and not has_user_identity(current, user_id):
        kinds.add(_services.USER_ASSIGNED)
        users.append(user_id)
        changed = True
    if not changed:
        return None
    result = {'type': identity_type(kinds, separator)}
    if users:
        result['userAssignedIdentities'] = dict((u, {}) for u in users)
    return result


def resolve_identity_principal(azmod, uai_id):
    """The principal (object) id of a user-assigned identity; None when it does not exist (``identity_missing``)."""
    try:
        parsed = parse_resource_id(uai_id)
    except InvalidIdError as exc:
        raise CMKError('Invalid identity: %s' % exc)
    if (parsed['type'] or '').lower() != 'microsoft.managedidentity/userassignedidentities':
        raise CMKError('identity %s is not a user-assigned identity (Microsoft.ManagedIdentity/userAssignedIdentities)'
                       % uai_id)
    return _access.resolve_principal(azmod, parsed['id'], missing_ok=True)


def identity_principal(azmod, uai_id, what=None):
    """A ``principals`` entry for a user-assigned identity: its principal id, or ``missing`` when it does not exist."""
    what = what or 'user-assigned identity %s' % uai_id
    principal = resolve_identity_principal(azmod, uai_id)
    if principal is None:
        return {'principal_id': None, 'missing': uai_id, 'what': what}
    return {'principal_id': principal, 'what': what}


UAI_API_VERSION = _access.IDENTITY_API_VERSIONS['microsoft.managedidentity/userassignedidentities']


def create_user_identity(azmod, uai_id, location):
    """Create the user-assigned identity ``uai_id`` in ``location`` (its resource group must exist); its principal id."""
    body = azmod.run('creating user-assigned identity %s' % uai_id, azmod.clients.arm_request, 'PUT', uai_id,
                     UAI_API_VERSION, {'location': location})
    principal = ((body or {}).get('properties') or {}).get('principalId')
    if not principal:
        raise CMKError('User-assigned identity %s was created but Azure returned no principal id' % uai_id)
    return principal.lower()
