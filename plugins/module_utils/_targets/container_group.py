# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Container group (ACI) adapter: ``encryptionProperties{vaultBaseUrl, keyName, keyVersion, identity}``.

ACI takes a versioned Key Vault key and a user-assigned identity; Managed HSM is not supported. The
encryption is set at deployment only: a difference on an existing group requires recreating it, which the
task does only with ``allow_recreate=true`` (delete, then deploy the same group with the key).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.sovereign.cmk.plugins.module_utils._ids import MANAGED_HSM, InvalidIdError, parse_key_uri, same_resource_id
from ansible_collections.sovereign.cmk.plugins.module_utils._targets import _base, _chain


def group_settings(body):
    enc = ((body or {}).get('properties') or {}).get('encryptionProperties') or {}
    return {
        'vault_base_url': enc.get('vaultBaseUrl'),
        'key_name': enc.get('keyName'),
        'key_version': enc.get('keyVersion'),
        'identity': enc.get('identity'),
        'user_assigned_identities': _chain.user_identities((body or {}).get('identity')),
    }


def redeploy_body(body, encryption, identity_env):
    """The PUT body that recreates ``body`` with the new encryption properties (read-only fields removed)."""
    result = {'location': body.get('location'), 'properties': _base.strip_read_only(copy.deepcopy(body.get('properties') or {}))}
    for name in ('tags', 'zones'):
        if body.get(name):
            result[name] = copy.deepcopy(body[name])
    ip_address = result['properties'].get('ipAddress')
    if isinstance(ip_address, dict):
        ip_address.pop('ip', None)
        ip_address.pop('fqdn', None)
    result['properties']['encryptionProperties'] = encryption
    if identity_env is not None:
        result['identity'] = identity_env
    elif body.get('identity'):
        ident = body['identity']
        result['identity'] = {'type': ident.get('type')}
        if ident.get('userAssignedIdentities'):
            result['identity']['userAssignedIdentities'] = dict((k, {}) for k in ident['userAssignedIdentities'])
    return result


class ContainerGroupAdapter(_base.TargetAdapter):
    service = 'container_group'
    namespace = 'Microsoft.ContainerInstance'
    resource_types = ['containerGroups']
    options = ('key', 'key_vault', 'identity', 'allow_recreate')
    recreate_fix = ('Set allow_recreate=true to let the task delete and redeploy the container group with the key '
                    '(running containers restart), or redeploy it yourself.')

    def validate(self, params, rules):
        errors = _base.identity_errors(params, rules)
        if not params.get('identity'):
            errors.append('identity (a user-assigned identity id) is required for a container group: ACI reaches the key '
                          'with a user-assigned identity')
        try:
            parsed = parse_key_uri(params['key']) if params.get('key') else None
        except InvalidIdError:
            parsed = None
        if parsed and parsed['kind'] == MANAGED_HSM:
            errors.append('key %s is in a Managed HSM: Azure Container Instances does not support Managed HSM keys. '
                          'Use a key in a Key Vault (Premium for RSA-HSM).' % params['key'])
        return errors

    def plan(self, current, params, ctx):
        body = current['resource']
        before = group_settings(body)
        parsed = ctx['chain']['parsed']
        version = parsed['version'] or (ctx['chain'].get('key') or {}).get('version')
        encryption = {'vaultBaseUrl': parsed['vault_url'], 'keyName': parsed['name'], 'keyVersion': version,
                      'identity': params['identity']}
        identity_env = _chain.identity_with(body.get('identity'), user_id=params['identity'])
        after = {'vault_base_url': parsed['vault_url'], 'key_name': parsed['name'], 'key_version': version,
                 'identity': params['identity'],
                 'user_assigned_identities': sorted(set(before['user_assigned_identities'] + [params['identity']]))}
        differs = (_base.norm_url(before['vault_base_url']) != _base.norm_url(parsed['vault_url'])
                   or (before['key_name'] or '').lower() != parsed['name'].lower()
                   or (before['key_version'] or '').lower() != (version or '').lower()
                   or not same_resource_id(before['identity'], params['identity']) or identity_env is not None)
        recreate = []
        changes = []
        if differs:
            had = 'no customer-managed key'
            if before['key_name']:
                had = 'key %s/keys/%s/%s' % (before['vault_base_url'], before['key_name'], before['key_version'])
            reason = ('container group %s has %s, wanted key %s/keys/%s/%s with identity %s: encryption is set only when '
                      'a container group is deployed' % (body.get('name'), had, parsed['vault_url'], parsed['name'],
                                                         version, params['identity']))
            if params.get('allow_recreate'):
                changes.append('recreated')
            else:
                recreate.append(reason)
        if not differs or not params.get('allow_recreate'):
            after = dict(before) if not changes else after
        return {'before': before, 'after': after, 'changes': changes, 'recreate': recreate, 'findings': [],
                'encryption': encryption, 'identity_env': identity_env}

    def principals(self, azmod, current, planned, ctx):
        return [_base.uai_principal(azmod, planned['encryption']['identity'])]

    def apply(self, azmod, resource_id, current, planned, params):
        parsed = current['parsed']
        body = redeploy_body(current['resource'], planned['encryption'], planned['identity_env'])
        client = azmod.arm('containerinstance')
        _chain.lro(azmod, 'deleting container group %s to recreate it' % parsed['name'], client.container_groups.begin_delete,
                   parsed['resource_group'], parsed['name'])
        _chain.lro(azmod, 'recreating container group %s with the key' % parsed['name'],
                   client.container_groups.begin_create_or_update, parsed['resource_group'], parsed['name'],
                   _chain.body_stream(body))
