# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""SQL Managed Instance adapter: the TDE protector.

Order of the writes: the instance's identity and ``primaryUserAssignedIdentityId`` (PATCH), then the key
is added to the instance as ``<vault>_<key>_<version>`` (``managedInstances/keys``, PUT, only when missing),
then the protector ``encryptionProtector/current`` (serverKeyType AzureKeyVault, serverKeyName,
autoRotationEnabled). With auto-rotation the instance follows new key versions, so a protector on a newer
version of the same key is not drift.

Identity: the seed requires a user-assigned identity (default, ``sql_identity_mode=seed``); Microsoft also
allows the instance's system-assigned identity (``sql_identity_mode=microsoft``, ``identity=SystemAssigned``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils import _identities
from ansible_collections.sovereign.cmk.plugins.module_utils import _arm, _services
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import InvalidIdError, parse_key_uri, same_resource_id
from ansible_collections.sovereign.cmk.plugins.module_utils import _chain
from ansible_collections.sovereign.cmk.plugins.module_utils._targets import _base


def server_key_name(parsed_key_uri):
    """``<vault>_<key>_<version>``: the name SQL gives a Key Vault or Managed HSM key."""
    return '%s_%s_%s' % (parsed_key_uri['vault_name'], parsed_key_uri['name'], parsed_key_uri['version'])


def mi_settings(body, protector):
    props = (body or {}).get('properties') or {}
    pprops = (protector or {}).get('properties') or {}
    identity = (body or {}).get('identity') or {}
    return {
        'server_key_type': pprops.get('serverKeyType') or 'ServiceManaged',
        'server_key_name': pprops.get('serverKeyName'),
        'key_uri': pprops.get('uri') or props.get('keyId'),
        'auto_key_rotation': bool(pprops.get('autoRotationEnabled')),
        'primary_user_assigned_identity_id': props.get('primaryUserAssignedIdentityId'),
        'identity_type': _identities.identity_type(_identities.identity_kinds(identity)),
        'user_assigned_identities': _identities.user_identities(identity),
    }


def protector_matches(settings, parsed, auto_rotation):
    if (settings['server_key_type'] or '').lower() != 'azurekeyvault':
        return False
    if settings['key_uri']:
        return _chain.key_matches(settings['key_uri'], parsed['id'], auto_rotation)
    return (settings['server_key_name'] or '').lower() == server_key_name(parsed).lower()


class SqlManagedInstanceAdapter(_base.TargetAdapter):
    service = 'sql_managed_instance'
    namespace = 'Microsoft.Sql'
    resource_types = ['managedInstances']
    options = ('key', 'vault', 'identity', 'auto_key_rotation', 'sql_identity_mode', 'create_identity')

    def rules(self, params):
        return _services.rules(self.service, sql_identity_mode=params.get('sql_identity_mode') or 'seed')

    def validate(self, params, rules):
        errors = []
        if params.get('identity') == _base.SYSTEM and (params.get('sql_identity_mode') or 'seed') == 'seed':
            errors.append('identity=SystemAssigned: the organisation policy (seed) requires a user-assigned identity for '
                          'SQL Managed Instance; set sql_identity_mode=microsoft to use the system-assigned identity '
                          '(Microsoft supports it for instances that already exist)')
        else:
            errors.extend(_base.identity_errors(params, rules))
        try:
            parsed = parse_key_uri(params['key']) if params.get('key') else None
        except InvalidIdError:
            parsed = None
        if parsed and not parsed['version'] and params.get('auto_key_rotation') is False:
            errors.append('a versionless key URI needs auto_key_rotation=true for SQL Managed Instance (or give the versioned '
                          'key URI)')
        return errors

    def read(self, azmod, resource_id):
        current = super(SqlManagedInstanceAdapter, self).read(azmod, resource_id)
        if current is not None:
            current['protector'] = _arm.read(azmod, resource_id + '/encryptionProtector/current',
                                             self.api_version)
        return current

    def plan(self, current, params, ctx):
        body = current['resource']
        before = mi_settings(body, current.get('protector'))
        chain_parsed = ctx['chain']['parsed']
        version = chain_parsed['version'] or (ctx['chain'].get('key') or {}).get('version')
        parsed = parse_key_uri('%s/%s' % (chain_parsed['versionless_id'], version)) if version else chain_parsed
        auto = params.get('auto_key_rotation')
        if auto is None:
            auto = before['auto_key_rotation'] if (before['server_key_type'] or '').lower() == 'azurekeyvault' else (
                not chain_parsed['version'])
        identity = params.get('identity') or before['primary_user_assigned_identity_id']
        findings = []
        if not identity:
            findings.append(_chain.finding('identity_missing', 'SQL Managed Instance %s has no user-assigned identity '
                                           'for the key.' % body.get('name'), 'Set identity to a user-assigned identity id.'))
        after = dict(before)
        changes = []
        identity_env = None
        if identity and identity != _base.SYSTEM:
            identity_env = _identities.identity_with(body.get('identity'), user_id=identity, separator=',')
            if identity_env is not None or not same_resource_id(before['primary_user_assigned_identity_id'], identity):
                changes.append('identity')
                after['primary_user_assigned_identity_id'] = identity
                if identity_env is not None:
                    after['identity_type'] = identity_env['type']
                    after['user_assigned_identities'] = sorted(identity_env['userAssignedIdentities'])
        elif identity == _base.SYSTEM and 'SystemAssigned' not in before['identity_type']:
            findings.append(_chain.finding('identity_missing', 'SQL Managed Instance %s has no system-assigned identity.'
                                           % body.get('name'), 'Enable it first, or use a user-assigned identity.'))
        key_changed = not protector_matches(before, parsed, auto)
        if key_changed:
            changes.append('tde_protector')
            after.update(server_key_type='AzureKeyVault', server_key_name=server_key_name(parsed), key_uri=parsed['id'])
        if auto != before['auto_key_rotation'] or (key_changed and auto):
            if 'tde_protector' not in changes:
                changes.append('auto_key_rotation')
            after['auto_key_rotation'] = auto
        return {'before': before, 'after': after, 'changes': changes, 'recreate': [], 'findings': findings,
                'identity': identity, 'identity_env': identity_env, 'key': parsed, 'auto': auto}

    def principals(self, azmod, current, planned, ctx):
        identity = planned['identity']
        if not identity:
            return []
        if identity == _base.SYSTEM:
            found = _base.system_principal(current['resource'], 'system-assigned identity of SQL Managed Instance %s'
                                           % current['resource'].get('name'))
            return [found] if found else []
        return [_base.uai_principal(azmod, identity, create=ctx.get('create_identity'))]

    def apply(self, azmod, resource_id, current, planned, params):
        parsed = current['parsed']
        name = parsed['name']
        if 'identity' in planned['changes']:
            patch = {'properties': {'primaryUserAssignedIdentityId': planned['identity']}}
            if planned['identity_env'] is not None:
                patch['identity'] = planned['identity_env']
            _arm.write(azmod, 'setting the identity of SQL Managed Instance %s' % name, 'PATCH', resource_id,
                       self.api_version, patch)
        if 'tde_protector' in planned['changes'] or 'auto_key_rotation' in planned['changes']:
            key = planned['key']
            key_name = server_key_name(key)
            key_id = '%s/keys/%s' % (resource_id, key_name)
            if _arm.read(azmod, key_id, self.api_version) is None:
                _arm.write(azmod, 'adding key %s to SQL Managed Instance %s' % (key_name, name), 'PUT', key_id,
                           self.api_version, {'properties': {'serverKeyType': 'AzureKeyVault', 'uri': key['id']}})
            _arm.write(azmod, 'setting the TDE protector of SQL Managed Instance %s' % name, 'PUT',
                       '%s/encryptionProtector/current' % resource_id, self.api_version,
                       {'properties': {'serverKeyType': 'AzureKeyVault', 'serverKeyName': key_name,
                                       'autoRotationEnabled': planned['auto']}})
