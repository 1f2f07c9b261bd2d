# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Adapter: Disk Encryption Sets (``azure_des``), through the same workflow as every target.

Unlike the other adapters it creates the resource when it is missing, and a new system-assigned identity is granted
access after the write (it exists only then). The pure plan lives in ``_des``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils import _identities
from ansible_collections.sovereign.cmk.plugins.module_utils import _arm, _des
from ansible_collections.sovereign.cmk.plugins.module_utils import _chain
from ansible_collections.sovereign.cmk.plugins.module_utils._targets import _base


def same_region(a, b):
    """Azure regions compared as Azure does: case and spaces do not matter (V(West Europe) is V(westeurope))."""
    return (a or '').replace(' ', '').lower() == (b or '').replace(' ', '').lower()


def region_findings(name, location, vault):
    """A DES and the vault or HSM of its key must be in the same region (different subscriptions are fine)."""
    if not location or not vault or not vault.get('location') or same_region(location, vault['location']):
        return []
    return [_chain.finding('region', 'Disk encryption set %s is in %s but its key is in %s %s, in %s: a disk encryption '
                           'set and its key vault must be in the same region.'
                           % (name, location, 'Managed HSM' if vault.get('kind') == 'managed_hsm' else 'Key Vault',
                              vault.get('name'), vault['location']),
                           'Use a key in a vault or Managed HSM of region %s (or create the DES in %s).'
                           % (location, vault['location']))]


class DiskEncryptionSetAdapter(_base.TargetAdapter):
    service = 'disk_encryption_set'
    namespace = 'Microsoft.Compute'
    resource_types = ['diskEncryptionSets']
    options = ('key', 'vault', 'auto_key_rotation', 'federated_client_id')
    recreate_fix = 'Recreate the disk encryption set (a new DES with the wanted settings, then move the disks).'
    creates = True

    def resource_id(self, params, subscription_id):
        return _des.des_id(subscription_id, params['resource_group'], params['name'])

    def validate(self, params, rules):
        return _des.validate(params)

    def read(self, azmod, resource_id):
        return _des.read_des(azmod, resource_id)

    def display_name(self, current, params):
        return params['name']

    def prepare(self, azmod, params, current, ctx):
        if current is None and not params.get('location'):
            params['location'] = _arm.resource_group_location(azmod, azmod.subscription_id, params['resource_group'])
        chain = ctx['chain']
        parsed = chain['parsed']
        ctx['key_url'] = parsed['id'] if parsed['version'] else (chain['key'] or {}).get('versioned_key_id')
        ctx['source_vault'] = _des.source_vault_for(chain['vault'], azmod.subscription_id)

    def plan(self, current, params, ctx):
        planned = _des.plan(current, params, ctx.get('key_url'), ctx.get('source_vault'))
        planned['before'] = _des.settings(current)
        planned['findings'] = region_findings(params['name'], (current or {}).get('location') or params.get('location'),
                                              (ctx.get('chain') or {}).get('vault'))
        planned['current_principal'] = (current or {}).get('principal_id')
        if not planned['body']:
            planned['changes'] = []
        return planned

    def principals(self, azmod, current, planned, ctx):
        """The identities that must reach the key: existing ones, plus user-assigned identities being added."""
        principals = _des.des_principals(current)
        known = dict((k.lower(), v) for k, v in ((current or {}).get('user_assigned_identities') or {}).items())
        for uai in planned['after'].get('user_assigned_identities') or []:
            if uai.lower() not in known:
                principals.append(_identities.identity_principal(azmod, uai))
        return principals

    def apply(self, azmod, resource_id, current, planned, params):
        _des.write(azmod, resource_id, planned)

    def created_principals(self, azmod, state, planned, params):
        """The system-assigned identity the write created (in check mode: the one it would create)."""
        new_system = 'SystemAssigned' in planned['after']['identity_type'] and not planned.get('current_principal')
        if not new_system or not planned['changes']:
            return []
        principal = None if azmod.check_mode else (state or {}).get('principal_id')
        if not azmod.check_mode and not principal:
            return []
        return [{'principal_id': principal, 'principal_ref': _des.des_id(azmod.subscription_id, params['resource_group'],
                                                                         params['name']),
                 'what': 'The system-assigned identity %s DES %s' % ('of' if principal else 'to be created for',
                                                                     params['name'])}]

    def result_id(self, state, resource_id):
        return (state or {}).get('id') or resource_id

    def result_extras(self, current, planned, state):
        final = state or {}
        after = planned['after'] or {}
        users = final.get('user_assigned_identities') or {}
        return dict(
            principal_id=final.get('principal_id'),
            principal_ids=[p for p in [final.get('principal_id')] + [v.get('principal_id') for v in users.values()] if p],
            user_assigned_identities=users,
            key_url=after.get('key_url'),
            key_version=_chain.key_version(after.get('key_url')),
            auto_key_rotation=after.get('auto_key_rotation'),
            encryption_type=after.get('encryption_type'),
        )


def argument_spec():
    """The options of azure_des (also how the bulk scan validates a catalog DES)."""
    return dict(
        name=dict(type='str', required=True),
        resource_group=dict(type='str', required=True),
        location=dict(type='str'),
        key=dict(type='str', no_log=False),
        vault=dict(type='str'),
        encryption_type=dict(type='str', choices=list(_des.ENCRYPTION_TYPES)),
        identity_type=dict(type='str', choices=list(_des.IDENTITY_TYPES)),
        user_assigned_identities=dict(type='list', elements='str'),
        auto_key_rotation=dict(type='bool'),
        federated_client_id=dict(type='str'),
        grant_access=dict(type='bool', default=False),
        tags=dict(type='dict'),
        purge_tags=dict(type='bool', default=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
    )
