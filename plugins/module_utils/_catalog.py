# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""The catalog's tasks: ``azure_cmk_key`` (a key) and ``azure_hsm_role`` (a grant on a key), as functions of an
``AzureCMKModule`` so that the modules are thin and the bulk scan (``_scan``) checks the key catalog exactly as the
modules do in check mode."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils import _access, _chain, _keys, _report, _vaults


KEY_FIELDS = ('key_id', 'versioned_key_id', 'version', 'key_type', 'key_size', 'key_operations', 'enabled',
              'not_before', 'expires', 'created', 'tags')


def key_argument_spec():
    """The options of azure_cmk_key."""
    return dict(
        vault=dict(type='str', required=True),
        resource_group=dict(type='str'),
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        key_type=dict(type='str'),
        key_size=dict(type='int'),
        key_operations=dict(type='list', elements='str', no_log=False),
        enabled=dict(type='bool'),
        not_before=dict(type='str'),
        expires=dict(type='str'),
        tags=dict(type='dict'),
        purge_tags=dict(type='bool', default=True),
        rotation_policy=dict(type='dict', options=dict(
            rotate_after_create=dict(type='str'),
            rotate_before_expiry=dict(type='str'),
            notify_before_expiry=dict(type='str'),
            expiry_time=dict(type='str'),
        )),
        rotate=dict(type='bool', default=False),
        enable_purge_protection=dict(type='bool', default=False),
        purge=dict(type='bool', default=False),
    )


def validate_key_offline(params, kind):
    """Errors found without Azure (``kind`` None when not known yet)."""
    errors = []
    if params['purge'] and params['state'] != 'absent':
        errors.append('purge=true is only valid with state=absent')
    if params['rotate'] and params['state'] != 'present':
        errors.append('rotate=true is only valid with state=present')
    if params['state'] == 'present':
        errors.extend(_keys.validate_key_options(params, kind))
        policy = _keys.requested_rotation_policy(params)
        if policy:
            for field in _keys.ROTATION_POLICY_FIELDS:
                if policy.get(field):
                    try:
                        _keys.parse_duration(policy[field])
                    except _keys.KeySpecError as exc:
                        errors.append('rotation_policy.%s: %s' % (field, exc))
            if policy.get('rotate_after_create') and policy.get('rotate_before_expiry'):
                errors.append('rotation_policy: set either rotate_after_create or rotate_before_expiry, not both')
    elif not _keys.valid_key_name(params['name']):
        errors.append('name %r is not a valid key name: 1-127 letters, digits and dashes' % params['name'])
    return errors


# The names RV(changes) uses, in the order of the real run.
CHANGE_FLAGS = ('purge_protection_enabled', 'recovered', 'created', 'rotated', 'rotation_policy_updated', 'deleted',
                'purged')


def change_names(details):
    """``changes``: what the run changed (or would change), from the backend's details."""
    changes = [flag for flag in CHANGE_FLAGS if details.get(flag)]
    changes.extend('new_version:%s' % reason for reason in details.get('new_version') or [])
    changes.extend('updated:%s' % field for field in details.get('updated') or [])
    return changes


def run_key(azmod, params):
    """azure_cmk_key: ensure (or remove) the key and report it in the one result shape."""
    errors = validate_key_offline(params, None)
    if errors:
        azmod.fail('; '.join(errors))
    info = _vaults.resolve_vault(azmod, params['vault'], params.get('resource_group'))
    if params['state'] == 'present':
        errors = validate_key_offline(params, info['kind'])
        if errors:
            azmod.fail('; '.join(errors))
        changed, before, after, details = _keys.ensure_key(azmod, info, params)
    else:
        changed, before, after, details = _keys.remove_key(azmod, info, params)

    changes = change_names(details)
    findings = []
    if changed and azmod.check_mode:
        findings.append(_report.finding(
            'key_settings', 'Key %s in %s differs from the request: %s.' % (params['name'], info['name'], ', '.join(changes)),
            'Run the task without check mode.', _report.DRIFT))
    result = dict(
        vault_kind=info['kind'],
        vault_id=info['id'],
        vault_uri=info['uri'],
        purge_protection=after['purge_protection'],
        vault_access_model=info['access_model'],
    )
    if params['state'] == 'present':
        key = after['key'] or {}
        for field in KEY_FIELDS:
            result[field] = key.get(field)
        result['rotation_policy'] = after.get('rotation_policy')
    azmod.exit(changed, before=before, after=after, findings=findings, changes=changes, **result)


def role_argument_spec():
    """The options of azure_hsm_role."""
    return dict(
        key=dict(type='str', required=True, no_log=False),
        vault=dict(type='str'),
        resource_group=dict(type='str'),
        principal=dict(type='str', required=True),
        principal_type=dict(type='str', default='ServicePrincipal',
                            choices=['ServicePrincipal', 'User', 'Group', 'ForeignGroup', 'Device']),
        role=dict(type='str'),
        scope=dict(type='str', choices=['key', 'keys', 'vault']),
        state=dict(type='str', default='present', choices=['present', 'absent']),
    )


def verify_key_exists(azmod, parsed, info):
    """A grant on a key that does not exist is refused before any write (the vault was found by ``resolve_key``)."""
    key, unreadable = _chain.read_key(azmod, info, parsed)
    if key is not None:
        return
    if unreadable is not None:
        azmod.warn('%s The grant is made without checking that the key exists.' % unreadable['message'])
        return
    azmod.fail('Key %s does not exist in %s %s: nothing was granted. Create the key first '
               '(sovereign.cmk.azure_cmk_key), or fix the key name.'
               % (parsed['versionless_id'], 'Managed HSM' if info['kind'] == _access.MANAGED_HSM else 'Key Vault',
                  info['name']),
               findings=[_report.finding('key_not_found', 'Key %s does not exist in %s.'
                                         % (parsed['versionless_id'], info['name']),
                                         'Create it with sovereign.cmk.azure_cmk_key, or fix the key URI.')])


def run_role(azmod, params):
    """azure_hsm_role: grant (or revoke) get, wrapKey and unwrapKey on a key and report the effective access."""
    try:
        _access.classify_principal(params['principal'])
    except _access.AccessSpecError as exc:
        azmod.fail(str(exc))
    parsed, info = _access.resolve_key(azmod, params['key'], params.get('vault'), params.get('resource_group'))
    if params['scope'] == 'keys' and info['kind'] != _access.MANAGED_HSM:
        azmod.fail('scope=keys (all keys, /keys) exists only in a Managed HSM; %s is a Key Vault: use scope=key '
                   'or scope=vault' % info['name'])
    if params['state'] == 'present' and params['scope'] in (None, 'key'):
        verify_key_exists(azmod, parsed, info)
    principal_id = _access.resolve_principal(azmod, params['principal'])
    changed, before, after, details = _access.ensure_key_access(
        azmod, parsed['versionless_id'], principal_id, state=params['state'], role=params['role'],
        scope=params['scope'], principal_type=params['principal_type'], info=info)
    findings = []
    if changed and azmod.check_mode and params['state'] == 'present':
        findings.append(_report.finding(
            'identity_access', 'Principal %s lacks the grant %s on key %s.' % (principal_id, details['role_name'] or
                                                                               'get, wrapKey, unwrapKey',
                                                                               parsed['versionless_id']),
            'Run the task without check mode.', _report.DRIFT))
    result = dict(
        principal_id=principal_id,
        key_id=parsed['versionless_id'],
        vault_id=info['id'],
        vault_kind=info['kind'],
        vault_access_model=info['access_model'],
        scope=details['scope'],
        role_definition_id=details['role_definition_id'],
        role_name=details['role_name'],
        effective_access=details['effective_access'],
    )
    result.update(after)
    changes = []
    if changed:
        changes.append('%s:%s' % ('access' if params['state'] == 'present' else 'access_removed', principal_id))
    azmod.exit(changed, before=before, after=after, findings=findings, changes=changes,
               compliant=not (changed and azmod.check_mode), **result)
