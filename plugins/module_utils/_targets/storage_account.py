# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Storage account adapter: ``encryption.keySource=Microsoft.Keyvault`` with vault URI, key name and version.

No key version = the account follows the latest version (auto-rotation; ``currentVersionedKeyIdentifier``
shows the version in use, and a newer one is not drift). Identity: a user-assigned identity
(``encryption.identity.userAssignedIdentity``) or the account's system-assigned identity.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils import _identities
from ansible_collections.sovereign.cmk.plugins.module_utils import _arm, _report, _services
from ansible_collections.sovereign.cmk.plugins.module_utils._errors import CMKError
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import InvalidIdError, parse_key_uri, same_resource_id
from ansible_collections.sovereign.cmk.plugins.module_utils import _chain
from ansible_collections.sovereign.cmk.plugins.module_utils._targets import _base

KEY_SOURCE = 'Microsoft.Keyvault'


def settings(body):
    """The encryption settings of an account body."""
    if body is None:
        return None
    enc = (body.get('properties') or {}).get('encryption') or {}
    kvp = enc.get('keyvaultproperties') or {}
    ident = enc.get('identity') or {}
    source = enc.get('keySource') or 'Microsoft.Storage'
    uai = ident.get('userAssignedIdentity') or None
    return {
        'key_source': source,
        'key_vault_uri': _base.norm_url(kvp.get('keyvaulturi')) or None,   # one spelling: no trailing slash, no :443
        'key_name': kvp.get('keyname'),
        'key_version': kvp.get('keyversion') or None,
        'identity': uai or (_base.SYSTEM if source.lower() == KEY_SOURCE.lower() else None),
        'federated_client_id': _identities.federated_option(ident.get('federatedIdentityClientId')) or None,
        'current_versioned_key_identifier': kvp.get('currentVersionedKeyIdentifier'),
        'last_key_rotation_timestamp': kvp.get('lastKeyRotationTimestamp'),
        'queue_key_type': service_key_type(enc, 'queue'),
        'table_key_type': service_key_type(enc, 'table'),
        'infrastructure_encryption': bool(enc.get('requireInfrastructureEncryption')),
    }


def service_key_type(encryption, service):
    """``keyType`` of the queue or table service: V(Account) (the account's key, so the customer-managed key) or
    V(Service) (Microsoft-managed keys; also when the service is not listed)."""
    entry = ((encryption or {}).get('services') or {}).get(service) or {}
    return entry.get('keyType') or 'Service'


def whole_account_reasons(name, settings_):
    """Create-time-only reasons the key does not cover the whole account (queues and tables on service keys)."""
    services = [svc for svc in ('queue', 'table') if (settings_.get('%s_key_type' % svc) or '').lower() != 'account']
    if not services:
        return []
    return ['storage account %s: its %s use Microsoft-managed keys (keyType Service), so the customer-managed key '
            'does not cover the whole account; the key type of queues and tables is set only when the account is created '
            '(encryption.services.queue/table.keyType=Account)' % (name, ' and '.join('%ss' % s for s in services))]


class StorageAccountAdapter(_base.TargetAdapter):
    service = 'storage_account'
    namespace = 'Microsoft.Storage'
    resource_types = ['storageAccounts']
    recreate_fix = ('Create a new account with the key and encryption.services.queue.keyType and table.keyType set to '
                    'Account (sovereign.cmk.azure_cmk_target cannot change them), then move the queues and tables.')
    options = ('key', 'vault', 'identity', 'auto_key_rotation', 'federated_client_id', 'create', 'create_identity')

    def can_create(self, params):
        return bool(params.get('create'))

    def validate(self, params, rules):
        errors = _base.identity_errors(params, rules)
        if params.get('create'):
            if not params.get('identity') or params['identity'] == _base.SYSTEM:
                errors.append('create: a storage account created with a customer-managed key needs a user-assigned '
                              'identity (identity=<user-assigned identity id>): Azure checks the key access at creation, '
                              'before the account and any system-assigned identity exist')
            if params.get('federated_client_id'):
                errors.append('create: federated_client_id (a cross-tenant key) is not supported at creation by this '
                              'module; create the account, then set it')
        if params.get('key') and params.get('auto_key_rotation'):
            try:
                if parse_key_uri(params['key'])['version']:
                    errors.append('auto_key_rotation=true needs a versionless key URI: a storage account follows new key '
                                  'versions only when no key version is configured')
            except InvalidIdError:
                pass  # reported by the common key check
        return errors

    def _desired_version(self, params, ctx):
        parsed = ctx['chain']['parsed']
        if parsed['version']:
            return parsed['version']
        if params.get('auto_key_rotation') is False:
            return (ctx['chain'].get('key') or {}).get('version')
        return None  # versionless: follow the latest version

    def plan(self, current, params, ctx):
        if current is None:
            return self._plan_create(params, ctx)
        enable_system = False
        body = current['resource']
        before = settings(body)
        parsed = ctx['chain']['parsed']
        version = self._desired_version(params, ctx)
        findings = []
        wanted_identity = params.get('identity') or before['identity']
        if not wanted_identity:
            findings.append(_chain.finding(
                'identity_missing', 'Storage account %s has no identity configured for its key: set identity to a '
                'user-assigned identity id or SystemAssigned.' % body.get('name'), 'Set the identity option.'))
        elif wanted_identity == _base.SYSTEM and not (body.get('identity') or {}).get('principalId'):
            if params.get('create_identity') and params.get('grant_access'):
                enable_system = True
                problem = _chain.finding(
                    'identity_missing', 'Storage account %s has no system-assigned identity yet.' % body.get('name'),
                    'Run the task without check mode: create_identity=true enables it and grant_access=true grants '
                    'it access to the key before the key is set.', _chain.DRIFT)
                problem['fixed_by'] = 'identity:system-assigned'
                findings.append(problem)
            else:
                findings.append(_chain.finding(
                    'identity_missing', 'Storage account %s has no system-assigned identity, so its access to the key '
                    'cannot be granted or verified before the key is set.' % body.get('name'),
                    'Set create_identity=true and grant_access=true to enable and grant it, or enable the '
                    'system-assigned identity first, or use a user-assigned identity (identity=<id>).'))
        fed = _identities.federated_option(params.get('federated_client_id'))
        after = dict(before)
        after.update(key_source=KEY_SOURCE, key_vault_uri=_base.norm_url(parsed['vault_url']), key_name=parsed['name'],
                     key_version=version, identity=wanted_identity)
        if fed is not None:
            after['federated_client_id'] = fed or None
        changes = []
        if (before['key_source'] or '').lower() != KEY_SOURCE.lower():
            changes.append('key_source')
        if _base.norm_url(before['key_vault_uri']) != _base.norm_url(parsed['vault_url']):
            changes.append('key_vault_uri')
        if (before['key_name'] or '').lower() != parsed['name'].lower():
            changes.append('key_name')
        if (before['key_version'] or '').lower() != (version or '').lower():
            changes.append('key_version')
        if wanted_identity and not self._same_identity(before['identity'], wanted_identity):
            changes.append('identity')
        if fed is not None and not _identities.same_client_id(before['federated_client_id'], after['federated_client_id']):
            changes.append('federated_client_id')
        identity_env = None
        if wanted_identity and wanted_identity != _base.SYSTEM:
            identity_env = _identities.identity_with(body.get('identity'), user_id=wanted_identity, separator=',')
            if identity_env is not None and 'identity' not in changes:
                changes.append('identity')
        if set(changes) & set(('key_source', 'key_vault_uri', 'key_name', 'key_version')):
            # only Azure knows the version it resolves and when: never invented here
            after['current_versioned_key_identifier'] = _report.UNKNOWN
            after['last_key_rotation_timestamp'] = _report.UNKNOWN
        if enable_system:
            changes.insert(0, 'identity:system-assigned')
        return {'before': before, 'after': after, 'changes': changes,
                'recreate': whole_account_reasons(body.get('name'), before), 'findings': findings,
                'identity_env': identity_env, 'version': version, 'enable_system': enable_system}

    def pre_apply(self, azmod, resource_id, current, planned, params):
        """With create_identity: enable the account's system-assigned identity, so that it can be granted access to
        the key before the key is set (Azure checks the access when the key is set)."""
        if not planned.get('enable_system'):
            return []
        name = current['parsed']['name']
        kinds = _identities.identity_kinds(current['resource'].get('identity'))
        kinds.add(_services.SYSTEM_ASSIGNED)
        identity = {'type': _identities.identity_type(kinds, ',')}
        users = _identities.user_identities(current['resource'].get('identity'))
        if users:
            identity['userAssignedIdentities'] = dict((u, {}) for u in users)
        body = _arm.write(azmod, 'enabling the system-assigned identity of storage account %s' % name, 'PATCH',
                          resource_id, self.api_version, {'identity': identity})
        principal = ((body or {}).get('identity') or {}).get('principalId')
        if not principal:
            body = _arm.read(azmod, resource_id, self.api_version)
            principal = ((body or {}).get('identity') or {}).get('principalId')
        if not principal:
            raise CMKError('The system-assigned identity of storage account %s was enabled but has no principal id yet: '
                           'run the task again.' % name, changed=True)
        return [{'principal_id': principal.lower(), 'what': 'system-assigned identity of storage account %s' % name}]

    @staticmethod
    def _same_identity(a, b):
        if a == _base.SYSTEM or b == _base.SYSTEM:
            return a == b
        return same_resource_id(a, b)

    def principals(self, azmod, current, planned, ctx):
        wanted = planned['after']['identity']
        if not wanted:
            return []
        if wanted == _base.SYSTEM and current is not None:
            found = _base.system_principal(current['resource'], 'system-assigned identity of storage account %s'
                                           % current['resource'].get('name'))
            return [found] if found else []
        return [_base.uai_principal(azmod, wanted, create=ctx.get('create_identity'))]

    def _plan_create(self, params, ctx):
        """A new account encrypted with the key from its first byte: every service (blob, file, queue, table) on the
        account key, the user-assigned identity Azure requires at creation, infrastructure encryption when asked."""
        parsed = ctx['chain']['parsed']
        version = self._desired_version(params, ctx)
        create = params['create']
        after = {'key_source': KEY_SOURCE, 'key_vault_uri': _base.norm_url(parsed['vault_url']),
                 'key_name': parsed['name'], 'key_version': version, 'identity': params['identity'],
                 'federated_client_id': None, 'current_versioned_key_identifier': _report.UNKNOWN,
                 'last_key_rotation_timestamp': _report.UNKNOWN, 'queue_key_type': 'Account',
                 'table_key_type': 'Account', 'infrastructure_encryption': bool(create.get('infrastructure_encryption'))}
        services = dict((svc, {'enabled': True, 'keyType': 'Account'}) for svc in ('blob', 'file', 'queue', 'table'))
        encryption = {'keySource': KEY_SOURCE, 'services': services,
                      'keyvaultproperties': {'keyname': parsed['name'], 'keyvaulturi': parsed['vault_url'],
                                             'keyversion': version or ''},
                      'identity': {'userAssignedIdentity': params['identity']},
                      'requireInfrastructureEncryption': after['infrastructure_encryption']}
        body = {'location': create['location'], 'kind': create.get('kind') or 'StorageV2',
                'sku': {'name': create.get('sku') or 'Standard_LRS'},
                'identity': {'type': 'UserAssigned', 'userAssignedIdentities': {params['identity']: {}}},
                'properties': {'encryption': encryption, 'minimumTlsVersion': 'TLS1_2', 'supportsHttpsTrafficOnly': True,
                               'allowBlobPublicAccess': False}}
        if create.get('tags'):
            body['tags'] = dict(create['tags'])
        return {'before': None, 'after': after, 'changes': ['created'], 'recreate': [], 'findings': [],
                'identity_env': None, 'version': version, 'create_body': body}

    def apply(self, azmod, resource_id, current, planned, params):
        if current is None:
            _arm.write(azmod, 'creating storage account %s with the customer-managed key' % resource_id.split('/')[-1],
                       'PUT', resource_id, self.api_version, planned['create_body'])
            return
        after = planned['after']
        kvp = {'keyname': after['key_name'], 'keyvaulturi': after['key_vault_uri'], 'keyversion': after['key_version'] or ''}
        enc = {'keySource': KEY_SOURCE, 'keyvaultproperties': kvp}
        ident = {}
        if after['identity'] == _base.SYSTEM:
            # the PATCH merges: an empty string clears the user-assigned identity (Azure then uses the
            # system-assigned one); leaving the field out would keep the old identity
            ident['userAssignedIdentity'] = ''
        elif after['identity']:
            ident['userAssignedIdentity'] = after['identity']
        if after.get('federated_client_id'):
            ident['federatedIdentityClientId'] = after['federated_client_id']
        elif 'federated_client_id' in planned['changes']:
            ident['federatedIdentityClientId'] = ''   # clears it (left out, the merge would keep it)
        if ident:
            enc['identity'] = ident
        body = {'properties': {'encryption': enc}}
        if planned['identity_env'] is not None:
            body['identity'] = planned['identity_env']
        _arm.write(azmod, 'setting the customer-managed key of storage account %s' % current['parsed']['name'], 'PATCH',
                   resource_id, self.api_version, body)

    def result_extras(self, current, planned, state):
        after = planned['after'] or {}
        return {'current_versioned_key_identifier': after.get('current_versioned_key_identifier')}
