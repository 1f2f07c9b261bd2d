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

from ansible_collections.sovereign.cmk.plugins.module_utils._errors import CMKError
from ansible_collections.sovereign.cmk.plugins.module_utils import _identities
from ansible_collections.sovereign.cmk.plugins.module_utils import _arm, _services
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import MANAGED_HSM, InvalidIdError, parse_key_uri, same_resource_id
from ansible_collections.sovereign.cmk.plugins.module_utils import _chain
from ansible_collections.sovereign.cmk.plugins.module_utils._targets import _base


def group_settings(body):
    enc = ((body or {}).get('properties') or {}).get('encryptionProperties') or {}
    return {
        'vault_base_url': enc.get('vaultBaseUrl'),
        'key_name': enc.get('keyName'),
        'key_version': enc.get('keyVersion'),
        'identity': enc.get('identity'),
        'user_assigned_identities': _identities.user_identities((body or {}).get('identity')),
    }


def redeploy_body(body, encryption, identity_env):
    """The PUT body that recreates ``body`` with the new encryption properties (read-only fields removed).

    ``encryption`` None keeps the group without a customer-managed key (used to restore the original group).
    """
    result = {'location': body.get('location'), 'properties': _base.strip_read_only(copy.deepcopy(body.get('properties') or {}))}
    for name in ('tags', 'zones'):
        if body.get(name):
            result[name] = copy.deepcopy(body[name])
    ip_address = result['properties'].get('ipAddress')
    if isinstance(ip_address, dict):
        ip_address.pop('ip', None)
        ip_address.pop('fqdn', None)
    if encryption:
        result['properties']['encryptionProperties'] = encryption
    else:
        result['properties'].pop('encryptionProperties', None)
    if identity_env is not None:
        result['identity'] = identity_env
    elif body.get('identity'):
        ident = body['identity']
        result['identity'] = {'type': ident.get('type')}
        if ident.get('userAssignedIdentities'):
            result['identity']['userAssignedIdentities'] = dict((k, {}) for k in ident['userAssignedIdentities'])
    return result


def restore_body(body):
    """The PUT body that redeploys ``body`` as it was (its own encryption properties and identity)."""
    props = (body or {}).get('properties') or {}
    return redeploy_body(body, copy.deepcopy(props.get('encryptionProperties')) or None, None)


def secrets_in(body):
    """What a redeploy built from a GET of ``body`` would lose: Azure never returns these values.

    Secure environment variables (``secureValue``: absent, null or set in the GET body), registry credentials
    with a password (only identity-based ones can be redeployed), secret and Azure Files volumes.
    """
    props = (body or {}).get('properties') or {}
    found = []
    for group in ('initContainers', 'containers'):
        for container in props.get(group) or []:
            cprops = container.get('properties') or {}
            for env in cprops.get('environmentVariables') or []:
                if 'secureValue' in env or 'value' not in env:
                    found.append('secure environment variable %s of container %s' % (env.get('name'), container.get('name')))
    for cred in props.get('imageRegistryCredentials') or []:
        if 'password' in cred or not cred.get('identity'):
            found.append('credentials (password) of registry %s' % cred.get('server'))
    for volume in props.get('volumes') or []:
        if 'secret' in volume:
            found.append('secret volume %s' % volume.get('name'))
        if 'azureFile' in volume:
            found.append('storage account key of Azure Files volume %s' % volume.get('name'))
    return found


def body_errors(body):
    """Problems that would make the PUT of a redeploy body fail (checked before the group is deleted)."""
    errors = []
    props = body.get('properties') or {}
    if not body.get('location'):
        errors.append('no location')
    if not props.get('containers'):
        errors.append('no containers')
    if not props.get('osType'):
        errors.append('no osType')
    for container in props.get('containers') or []:
        cprops = container.get('properties') or {}
        if not container.get('name') or not cprops.get('image') or not (cprops.get('resources') or {}).get('requests'):
            errors.append('container %s lacks a name, image or resource requests' % container.get('name'))
    enc = props.get('encryptionProperties') or {}
    for field in ('vaultBaseUrl', 'keyName', 'keyVersion', 'identity'):
        if not enc.get(field):
            errors.append('encryptionProperties.%s is empty' % field)
    users = [u.lower() for u in ((body.get('identity') or {}).get('userAssignedIdentities') or {})]
    if enc.get('identity') and enc['identity'].lower() not in users:
        errors.append('identity %s is not assigned to the group' % enc['identity'])
    return errors


class ContainerGroupAdapter(_base.TargetAdapter):
    service = 'container_group'
    namespace = 'Microsoft.ContainerInstance'
    resource_types = ['containerGroups']
    options = ('key', 'vault', 'identity', 'allow_recreate', 'create_identity')
    recreate_fix = ('Set allow_recreate=true to let the task delete and redeploy the container group with the key '
                    '(running containers restart), or redeploy it yourself.')

    def validate(self, params, rules):
        errors = _base.identity_errors(params, rules)
        if not params.get('identity'):
            errors.append('identity (a user-assigned identity id) is required for a container group: ACI reaches the key '
                          'with a user-assigned identity')
        elif params.get('allow_recreate'):
            kind = _services.SYSTEM_ASSIGNED if params['identity'] == _base.SYSTEM else _services.USER_ASSIGNED
            if kind not in rules['identity_at_creation']:
                errors.append('identity: allow_recreate deploys the %s again, and at deployment it takes a %s identity, '
                              'not a %s one' % (rules['title'], ' or '.join(_services.label(k) for k in rules['identity_at_creation']),
                                                _services.label(kind)))
        try:
            parsed = parse_key_uri(params['key']) if params.get('key') else None
        except InvalidIdError:
            parsed = None
        if parsed and parsed['kind'] not in rules['key_sources'] and parsed['kind'] == MANAGED_HSM:
            errors.append('key %s is in a Managed HSM: Azure Container Instances does not support Managed HSM keys. '
                          'Use a key in a Key Vault (Premium for RSA-HSM).' % params['key'])
        if parsed and not parsed['version'] and not _services.versionless_key_accepted(rules):
            errors.append('key %s has no version: %s needs a versioned key (%s are set at deployment only, so a '
                          'versionless key would turn every key rotation into a redeploy). Give the versioned key URI '
                          '(.../keys/<name>/<version>).' % (params['key'], rules['title'],
                                                            ' and '.join(rules['create_time_only']) or 'the key settings'))
        return errors

    def plan(self, current, params, ctx):
        body = current['resource']
        before = group_settings(body)
        parsed = ctx['chain']['parsed']
        current_version = parsed['version'] or (ctx['chain'].get('key') or {}).get('version')
        same_key = (_base.norm_url(before['vault_base_url']) == _base.norm_url(parsed['vault_url'])
                    and (before['key_name'] or '').lower() == parsed['name'].lower())
        # versioned_key 'pinned' (rules table): a versionless key is pinned to its current version at deployment,
        # and a group already on any version of that key is not drift (a key rotation never triggers a redeploy)
        follows_any = (not parsed['version'] and self.rules_entry['versioned_key'] == 'pinned' and same_key
                       and bool(before['key_version']))
        identity_env = _identities.identity_with(body.get('identity'), user_id=params['identity'])
        differs = (not same_key
                   or (not follows_any and (before['key_version'] or '').lower() != (current_version or '').lower())
                   or not same_resource_id(before['identity'], params['identity']) or identity_env is not None)
        version = current_version if differs or not follows_any else before['key_version']
        encryption = {'vaultBaseUrl': parsed['vault_url'], 'keyName': parsed['name'], 'keyVersion': version,
                      'identity': params['identity']}
        after = {'vault_base_url': parsed['vault_url'], 'key_name': parsed['name'], 'key_version': version,
                 'identity': params['identity'],
                 'user_assigned_identities': sorted(set(before['user_assigned_identities'] + [params['identity']]))}
        recreate = []
        changes = []
        findings = []
        new_body = None
        if follows_any and not differs and current_version and (before['key_version'] or '').lower() != current_version.lower():
            findings.append(_chain.finding(
                'key_version', 'container group %s uses version %s of key %s; the current version is %s. A container '
                'group never follows key rotations.' % (body.get('name'), before['key_version'], parsed['id'], current_version),
                'Redeploy the group to use the current version (allow_recreate=true with the versioned key URI), or '
                'keep the version it uses enabled.', _chain.WARNING))
        if differs:
            had = 'no customer-managed key'
            if before['key_name']:
                had = 'key %s/keys/%s/%s' % (before['vault_base_url'], before['key_name'], before['key_version'])
            reason = ('container group %s has %s, wanted key %s/keys/%s/%s with identity %s: %s are set only when '
                      'a container group is deployed' % (body.get('name'), had, parsed['vault_url'], parsed['name'],
                                                         version, params['identity'],
                                                         ' and '.join(self.rules_entry['create_time_only'])))
            if params.get('allow_recreate'):
                new_body = redeploy_body(body, encryption, identity_env)
                lost = secrets_in(body)
                problems = body_errors(new_body)
                if lost:
                    findings.append(_chain.finding(
                        'recreate_secrets', 'container group %s cannot be recreated by the task: Azure does not return '
                        'the values of its %s, so a redeploy would drop them.' % (body.get('name'), '; '.join(lost)),
                        'Redeploy the group yourself with the key (encryptionProperties) and its secrets, or move the '
                        'secrets out of the group definition; allow_recreate is refused for groups with secrets.'))
                elif problems:
                    findings.append(_chain.finding(
                        'recreate_body', 'container group %s: the redeploy body is not valid (%s); the group was not '
                        'deleted.' % (body.get('name'), '; '.join(problems)), 'Redeploy the group yourself with the key.'))
                else:
                    changes.append('recreated')
            else:
                recreate.append(reason)
        if not differs or not params.get('allow_recreate'):
            after = dict(before) if not changes else after
        return {'before': before, 'after': after, 'changes': changes, 'recreate': recreate, 'findings': findings,
                'encryption': encryption, 'identity_env': identity_env, 'body': new_body}

    def principals(self, azmod, current, planned, ctx):
        return [_base.uai_principal(azmod, planned['encryption']['identity'], create=ctx.get('create_identity'))]

    @staticmethod
    def _uses(body, encryption):
        """Whether the group ``body`` already has the wanted encryption (key, version, identity)."""
        have = group_settings(body)
        return (_base.norm_url(have['vault_base_url']) == _base.norm_url(encryption['vaultBaseUrl'])
                and (have['key_name'] or '').lower() == encryption['keyName'].lower()
                and (have['key_version'] or '').lower() == (encryption['keyVersion'] or '').lower()
                and same_resource_id(have['identity'], encryption['identity']))

    def apply(self, azmod, resource_id, current, planned, params):
        """Recreate the group with the key, crash-safe.

        1. take the journal lock (a second run on this host stops instead of deleting the group a second time);
        2. re-read the group: another run may have recreated it already (then nothing is deleted);
        3. write the journal entry (the new definition and the original one) before the DELETE;
        4. DELETE (If-Match with the group's ETag when it has one), PUT the new definition;
        5. remove the entry once the new group is confirmed. A run that dies between 3 and 5 leaves the entry, and the
           next run recreates the group from it (``resume``).
        """
        journal = planned['journal']
        name = current['parsed']['name']
        if not journal.lock(resource_id):
            raise CMKError('Another run is recreating container group %s right now (lock %s.lock): nothing was done. '
                           'Run the task again when it has finished.' % (name, journal.path(resource_id)))
        try:
            fresh = _arm.read(azmod, resource_id, self.api_version)
            if fresh is None:
                raise CMKError('Container group %s disappeared before the task recreated it (another run or a person '
                               'deleted it): nothing was done. Run the task again.' % name)
            if self._uses(fresh, planned['encryption']):
                planned['already_done'] = True
                azmod.warn('Container group %s already uses the key (another run recreated it): not recreated again.'
                           % name)
                return
            body = redeploy_body(fresh, planned['encryption'], planned['identity_env'])
            original = restore_body(fresh)
            path = journal.write(resource_id, 'recreate', api_version=self.api_version, body=body, original=original)
            headers = {'If-Match': fresh['etag']} if fresh.get('etag') else None
            _arm.write(azmod, 'deleting container group %s to recreate it' % name, 'DELETE', resource_id,
                       self.api_version, headers=headers)
            self._put(azmod, journal, resource_id, name, body, original, path)
        finally:
            journal.unlock(resource_id)

    def _put(self, azmod, journal, resource_id, name, body, original, path):
        _result, error = _arm.attempt(azmod, _arm.step('recreating container group %s with the key' % name, 'PUT',
                                                       resource_id, self.api_version, body))
        if error is None and self._confirmed(azmod, resource_id, body):
            journal.remove(resource_id)
            return
        if error is None:
            raise CMKError('Container group %s was recreated but does not show the key yet; the journal entry %s is kept '
                           'so that the next run checks it again.' % (name, path), changed=True)
        _result, restore_error = _arm.attempt(azmod, _arm.step('restoring container group %s' % name, 'PUT',
                                                               resource_id, self.api_version, original))
        if restore_error is None:
            journal.remove(resource_id)
            restored = 'succeeded (the group runs as before, without the new key)'
        else:
            restored = ('failed (%s); the journal entry %s keeps its definition and the next run recreates it'
                        % (restore_error.msg, path))
        raise CMKError('Container group %s was deleted to recreate it with the key, and the recreate failed: %s. Restoring '
                       'the original group was attempted: %s.' % (name, error.msg, restored),
                       changed=True, error=error.result['error'], deleted=True, restored=restore_error is None,
                       restore_error=None if restore_error is None else restore_error.result['error'],
                       journal=None if restore_error is None else path)

    def _confirmed(self, azmod, resource_id, body):
        found = _arm.read(azmod, resource_id, self.api_version)
        return found is not None and self._uses(found, body['properties']['encryptionProperties'])

    def resume(self, azmod, journal, resource_id, current, params):
        """Finish what an earlier run left in the journal. Returns (current, changes, findings)."""
        entry = journal.read(resource_id)
        if not entry or entry.get('kind') != 'recreate':
            return current, [], []
        path = journal.path(resource_id)
        name = resource_id.rstrip('/').split('/')[-1]
        if current is not None:
            if not azmod.check_mode:
                journal.remove(resource_id)     # the earlier run got as far as the new group, or never deleted
            return current, [], []
        if azmod.check_mode:
            return None, ['recreated_from_journal'], [_chain.finding(
                'resource_lost', 'Container group %s was deleted by an earlier run that did not finish; the journal '
                'entry %s holds its definition.' % (name, path), 'Run the task without check mode: it recreates the '
                'group from the journal entry.', _chain.DRIFT)]
        if not journal.lock(resource_id):
            raise CMKError('Another run is recreating container group %s right now (lock %s.lock).' % (name, path))
        try:
            azmod.warn('Container group %s was deleted by an earlier run that did not finish: recreating it from the '
                       'journal entry %s.' % (name, path))
            self._put(azmod, journal, resource_id, name, entry['body'], entry.get('original') or entry['body'], path)
        finally:
            journal.unlock(resource_id)
        return self.read(azmod, resource_id), ['recreated_from_journal'], []
