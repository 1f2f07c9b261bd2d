# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""From a resource's labels to the task the enforce playbook runs for it (pure).

The enforce playbook (``playbooks/enforce.yml``) resolves, for each host of ``cmk_resources``, the key or Disk
Encryption Set the policy gives it and calls a role, which calls ``azure_cmk_target``. The bulk scan
(``azure_cmk_scan``) must check every resource exactly as that task would, so the resolution lives here once:
``target(host, hostvars, catalog)`` returns the ``azure_cmk_target`` parameters the roles would send, or why the
resource cannot be checked (``unlabelled``: a label is missing; ``failed``: the labels name nothing in the policy).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils._services import TARGET_SERVICES

DES_SERVICES = ('managed_disk', 'virtual_machine')
# The host variables a resource may carry (enforce.yml reads exactly these).
HOST_VARS = ('cmk_service', 'cmk_environment', 'cmk_classification', 'cmk_resource_group', 'cmk_subscription_id',
             'cmk_name', 'cmk_identity', 'cmk_key', 'cmk_disk_encryption_set', 'cmk_encryption_at_host',
             'cmk_allow_deallocate', 'cmk_aks_encryption_at_host', 'cmk_aks_node_pool', 'cmk_allow_recreate',
             'cmk_storage_auto_key_rotation', 'cmk_sql_auto_key_rotation', 'cmk_resource_id', 'cmk_location',
             'cmk_missing_labels')


def key_uri(entry):
    return '%s/keys/%s' % (str(entry.get('vault_uri') or '').rstrip('/'), entry.get('name') or '')


def des_id(entry, subscription_id):
    return '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/diskEncryptionSets/%s' % (
        entry.get('subscription_id') or subscription_id, entry.get('resource_group'), entry.get('name'))


def _shared(entry, allow_shared):
    return allow_shared or bool((entry or {}).get('shared_across_environments'))


def _blank(value):
    return value is None or value == ''


def target(host, hv, keys, policy, disk_encryption_sets=None, allow_shared=False, subscription_id=None):
    """The check of one resource: a dict with ``host``, ``name``, ``service``, ``environment``, ``classification``,
    ``resource_group``, ``subscription_id`` and either ``params`` (the ``azure_cmk_target`` parameters the roles
    send) or ``status`` (``unlabelled`` / ``failed``) with ``message``.

    ``hv``: the host's variables (``HOST_VARS``); ``keys``, ``policy``, ``disk_encryption_sets``: ``cmk_keys``,
    ``cmk_policy``, ``cmk_disk_encryption_sets``; ``subscription_id``: the default ``cmk_subscription_id``.
    """
    hv = hv or {}
    keys = keys or {}
    policy = policy or {}
    des_catalog = disk_encryption_sets or {}
    service = hv.get('cmk_service') or ''
    env = hv.get('cmk_environment') or ''
    cls = hv.get('cmk_classification') or ''
    result = {
        'host': host, 'name': hv.get('cmk_name') or host, 'service': service, 'environment': env,
        'classification': cls, 'resource_group': hv.get('cmk_resource_group') or '',
        'subscription_id': hv.get('cmk_subscription_id') or subscription_id or '',
        'id': hv.get('cmk_resource_id') or '',
    }
    missing = [label for label, value in (('environment', env), ('classification', cls)) if not value]
    if missing or hv.get('cmk_missing_labels'):
        result['status'] = 'unlabelled'
        labels = missing or list(hv.get('cmk_missing_labels') or [])
        result['message'] = '%s has no %s label: it is not covered by the policy.' % (host, ' or '.join(labels))
        return result
    rule = (policy.get(env) or {}).get(cls) if isinstance(policy.get(env), dict) else None
    problems = []
    if service not in TARGET_SERVICES:
        problems.append('cmk_service %r is not one of %s' % (service, ', '.join(TARGET_SERVICES)))
    if env not in policy:
        problems.append('environment %r is not in cmk_policy' % env)
    elif not isinstance(rule, dict):
        problems.append('classification %r is not in cmk_policy[%s]' % (cls, env))
    if not result['resource_group']:
        problems.append('cmk_resource_group is missing')
    if problems:
        return _failed(result, problems)
    override = (rule.get('services') or {}).get(service) or {}
    key_ref = hv.get('cmk_key') or override.get('key') or rule.get('key')
    des_ref = hv.get('cmk_disk_encryption_set') or override.get('disk_encryption_set') or \
        rule.get('disk_encryption_set') or ''
    key_entry = keys.get(key_ref) if key_ref else None
    des_entry = des_catalog.get(des_ref) or {}
    if key_entry is None:
        problems.append('key %r is not in cmk_keys' % key_ref)
    elif key_entry.get('environment') != env and not _shared(key_entry, allow_shared):
        problems.append('key %r belongs to environment %r, not %r' % (key_ref, key_entry.get('environment'), env))
    if service in DES_SERVICES and not des_entry:
        problems.append('%s needs a disk encryption set (%r is not in cmk_disk_encryption_sets)' % (service, des_ref))
    if des_entry and des_entry.get('environment') != env and not _shared(des_entry, allow_shared):
        problems.append('disk encryption set %r belongs to environment %r, not %r'
                        % (des_ref, des_entry.get('environment'), env))
    if problems:
        return _failed(result, problems)
    result['key_ref'] = key_ref
    result['disk_encryption_set_ref'] = des_ref or None
    result['params'] = target_params(service, result, hv, key_uri(key_entry),
                                     des_id(des_entry, result['subscription_id']) if des_entry else '')
    return result


def _failed(result, problems):
    result['status'] = 'failed'
    result['message'] = ('%s: %s (sovereign.cmk needs cmk_service, cmk_environment and cmk_classification present in '
                         'cmk_policy, cmk_resource_group, and a key - for disks and VMs a DES - of its own environment)'
                         % (result['host'], '; '.join(problems)))
    return result


def target_params(service, result, hv, key, des):
    """The ``azure_cmk_target`` parameters the roles send for ``service`` (roles/*/tasks and their defaults)."""
    params = {'service': service, 'name': result['name'], 'resource_group': result['resource_group'],
              'grant_access': True}
    if result.get('subscription_id'):
        params['subscription_id'] = result['subscription_id']
    identity = hv.get('cmk_identity') or None
    if service == 'storage_account':
        params.update(key=key, identity=identity)
        if not _blank(hv.get('cmk_storage_auto_key_rotation')):
            params['auto_key_rotation'] = bool(hv['cmk_storage_auto_key_rotation'])
    elif service in DES_SERVICES:
        params.update(disk_encryption_set=des, allow_deallocate=bool(hv.get('cmk_allow_deallocate', False)))
        if service == 'virtual_machine':
            params['encryption_at_host'] = bool(hv.get('cmk_encryption_at_host', True))
    elif service == 'aks':
        params.update(disk_encryption_set=des or None,
                      encryption_at_host=bool(hv.get('cmk_aks_encryption_at_host', True)),
                      node_pool=hv.get('cmk_aks_node_pool') or None)
    elif service == 'container_group':
        params.update(key=key, identity=identity, allow_recreate=bool(hv.get('cmk_allow_recreate', False)))
    elif service == 'sql_managed_instance':
        params.update(key=key, identity=identity, sql_identity_mode='seed')
        if not _blank(hv.get('cmk_sql_auto_key_rotation')):
            params['auto_key_rotation'] = bool(hv['cmk_sql_auto_key_rotation'])
    return dict((k, v) for k, v in params.items() if v is not None)


def exception_entry(host, hv):
    """A resource of a service that cannot use a customer-managed key this way (the inventory's cmk_exceptions)."""
    return {'host': host, 'name': hv.get('cmk_name') or host, 'service': hv.get('cmk_exception_service') or '',
            'environment': hv.get('cmk_environment') or '', 'classification': hv.get('cmk_classification') or '',
            'resource_group': hv.get('cmk_resource_group') or '', 'subscription_id': hv.get('cmk_subscription_id') or '',
            'id': hv.get('cmk_resource_id') or '', 'status': 'exception',
            'message': hv.get('cmk_exception_reason') or 'This service cannot use a customer-managed key this way.'}


def _omit_empty(params):
    return dict((k, v) for k, v in params.items() if v not in (None, '', {}, []))


def key_entry(ref, entry, subscription_id=None):
    """The check of one key of the catalog (``cmk_keys[ref]``): the ``azure_cmk_key`` parameters the key play sends
    (``roles/key`` and its defaults) and, in ``access``, the ``azure_hsm_role`` parameters of each grant it makes."""
    entry = entry or {}
    vault = entry.get('vault_uri') or ''
    params = _omit_empty({
        'vault': vault, 'resource_group': entry.get('resource_group'), 'name': entry.get('name'),
        'key_type': entry.get('key_type') or 'RSA-HSM', 'key_size': entry.get('key_size') or 3072,
        'key_operations': ['wrapKey', 'unwrapKey'], 'expires': entry.get('expires'),
        'rotation_policy': entry.get('rotation_policy'), 'subscription_id': entry.get('subscription_id') or subscription_id})
    params['enable_purge_protection'] = bool(entry.get('enable_purge_protection', False))
    access = [_omit_empty({'key': entry.get('name'), 'vault': vault, 'resource_group': entry.get('resource_group'),
                           'principal': item.get('principal'), 'scope': item.get('scope'), 'role': item.get('role'),
                           'subscription_id': params.get('subscription_id')})
              for item in entry.get('access') or []]
    return {'host': 'key/%s' % ref, 'name': entry.get('name') or ref, 'service': 'key',
            'environment': entry.get('environment') or '', 'classification': '', 'resource_group':
            entry.get('resource_group') or '', 'subscription_id': params.get('subscription_id') or '', 'id': '',
            'catalog': ref, 'params': params, 'access': access}


def des_entry(ref, entry, keys, subscription_id=None):
    """The check of one Disk Encryption Set of the catalog: the ``azure_des`` parameters the DES play sends."""
    entry = entry or {}
    key = (keys or {}).get(entry.get('key')) or {}
    params = _omit_empty({
        'name': entry.get('name'), 'resource_group': entry.get('resource_group'), 'location': entry.get('location'),
        'key': key_uri(key) if key else None, 'identity_type': entry.get('identity_type'),
        'user_assigned_identities': entry.get('user_assigned_identities'), 'encryption_type':
        entry.get('encryption_type'), 'subscription_id': entry.get('subscription_id') or subscription_id})
    if entry.get('auto_key_rotation') is not None:
        params['auto_key_rotation'] = bool(entry['auto_key_rotation'])
    params['grant_access'] = True
    result = {'host': 'des/%s' % ref, 'name': entry.get('name') or ref, 'service': 'disk_encryption_set',
              'environment': entry.get('environment') or '', 'classification': '',
              'resource_group': entry.get('resource_group') or '', 'subscription_id': params.get('subscription_id') or '',
              'id': '', 'catalog': ref, 'params': params}
    if not key:
        result.update(status='failed', message='disk encryption set %r: key %r is not in cmk_keys' % (ref, entry.get('key')))
        del result['params']
    return result
