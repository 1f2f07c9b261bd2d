# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""AKS adapter: the cluster's ``diskEncryptionSetID`` (node OS disks) and host encryption of every agent pool.

Both are create-time only: a cluster with another (or no) DES and pools without host encryption are
reported as requiring recreation (drift), never patched. The task can add a new node pool created with
host encryption (``node_pool``); existing pools stay reported until they are replaced.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sovereign.cmk.plugins.module_utils import _access, _arm, _des
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import same_resource_id
from ansible_collections.sovereign.cmk.plugins.module_utils import _chain
from ansible_collections.sovereign.cmk.plugins.module_utils._targets import _base

POOL_NAME = re.compile(r'^[a-z][a-z0-9]{0,11}$')
DES_READ_ACTION = 'Microsoft.Compute/diskEncryptionSets/read'


def cluster_principal(body):
    """The principal of the cluster (control plane) identity: system-assigned, else its user-assigned identity."""
    identity = (body or {}).get('identity') or {}
    if identity.get('principalId'):
        return identity['principalId']
    for data in (identity.get('userAssignedIdentities') or {}).values():
        if (data or {}).get('principalId'):
            return data['principalId']
    return None


def cluster_settings(body):
    props = (body or {}).get('properties') or {}
    pools = dict((p.get('name'), bool(p.get('enableEncryptionAtHost'))) for p in props.get('agentPoolProfiles') or [])
    return {'disk_encryption_set_id': props.get('diskEncryptionSetID'), 'encryption_at_host': pools}


# Fields a new pool copies from an existing pool of the cluster: on a custom-VNet cluster Azure requires vnetSubnetID
# (and podSubnetID) on all pools or none, and the pool should run the cluster's Kubernetes version and disk type.
POOL_TEMPLATE_FIELDS = ('vnetSubnetID', 'podSubnetID', 'orchestratorVersion', 'osDiskType', 'osType', 'osSKU')


def template_pool(pools, mode='User'):
    """The existing pool a new pool copies its network and version settings from: one of ``mode``, else the first."""
    pools = [p for p in pools or [] if isinstance(p, dict)]
    for pool in pools:
        if (pool.get('mode') or 'User').lower() == (mode or 'User').lower():
            return pool
    return pools[0] if pools else None


def new_pool_properties(pool, pools):
    """The properties of a new node pool with host encryption, settings the option does not give copied from the
    cluster's existing pools (``POOL_TEMPLATE_FIELDS``, and ``vmSize`` when ``vm_size`` is unset)."""
    mode = pool.get('mode') or 'User'
    template = template_pool(pools, mode) or {}
    props = {'enableEncryptionAtHost': True, 'count': pool.get('count') or 1, 'mode': mode,
             'vmSize': pool.get('vm_size') or template.get('vmSize')}
    for field in POOL_TEMPLATE_FIELDS:
        if template.get(field):
            props[field] = template[field]
    return props


class AksAdapter(_base.TargetAdapter):
    service = 'aks'
    namespace = 'Microsoft.ContainerService'
    resource_types = ['managedClusters']
    options = ('disk_encryption_set', 'encryption_at_host', 'node_pool')
    recreate_fix = ('Node pools: add a pool with host encryption (node_pool) and delete the old one. Cluster disk '
                    'encryption set: create a new cluster with it and move the workloads.')

    def validate(self, params, rules):
        pool = params.get('node_pool') or {}
        if pool.get('name') and not POOL_NAME.match(pool['name']):
            return ['node_pool: %r is not a valid agent pool name (lowercase letters and digits, starting with a letter, '
                    'at most 12 characters)' % pool['name']]
        if pool.get('count') is not None and pool['count'] < 1:
            return ['node_pool: count must be at least 1']
        return []

    def plan(self, current, params, ctx):
        body = current['resource']
        before = cluster_settings(body)
        after = {'disk_encryption_set_id': before['disk_encryption_set_id'],
                 'encryption_at_host': dict(before['encryption_at_host'])}
        recreate = []
        des = ctx.get('des')
        if des and not same_resource_id(before['disk_encryption_set_id'], des['id']):
            recreate.append('cluster %s uses disk encryption set %s, wanted %s: diskEncryptionSetID is set at cluster '
                            'creation only' % (body.get('name'), before['disk_encryption_set_id'] or 'none', des['id']))
        changes = []
        pool = params.get('node_pool')
        new_pool = None
        findings = []
        if pool and pool['name'] not in before['encryption_at_host']:
            new_pool = new_pool_properties(pool, (body.get('properties') or {}).get('agentPoolProfiles'))
            if not new_pool['vmSize']:
                findings.append(_chain.finding('node_pool', 'node_pool %s: no vm_size given and cluster %s has no pool '
                                               'to copy it from.' % (pool['name'], body.get('name')), 'Set node_pool.vm_size.'))
            else:
                changes.append('node_pool:%s' % pool['name'])
                after['encryption_at_host'][pool['name']] = True
        for name, enabled in sorted(before['encryption_at_host'].items()):
            # Every pool with encryption_at_host; the pool named by node_pool when it already exists (it is never
            # changed, so it must have been created with host encryption).
            wanted = params.get('encryption_at_host') or (pool is not None and name == pool['name'])
            if wanted and not enabled:
                recreate.append('node pool %s of cluster %s has no host encryption: enableEncryptionAtHost is set '
                                'at node pool creation only' % (name, body.get('name')))
        reader = ctx.get('des_reader')
        grant_reader = None
        if reader and not reader['allowed']:
            change = 'access:reader:%s' % reader['principal_id']
            problem = _chain.finding(
                'des_reader', 'The identity of cluster %s (principal %s) may not read disk encryption set %s: AKS needs '
                'Reader on it to create nodes with the key.' % (body.get('name'), reader['principal_id'], des['id']),
                'Set grant_access=true, or assign the Reader role to principal %s on %s.'
                % (reader['principal_id'], des['id']), _chain.DRIFT)
            if params.get('grant_access'):
                problem['fixed_by'] = change
                changes.append(change)
                grant_reader = reader['principal_id']
            findings.append(problem)
        return {'before': before, 'after': after, 'changes': changes, 'recreate': recreate, 'findings': findings,
                'new_pool': new_pool, 'new_pool_name': pool['name'] if pool else None, 'grant_reader': grant_reader,
                'des_id': des['id'] if des else None}

    def prepare(self, azmod, params, current, ctx):
        """The cluster identity must hold Reader (Microsoft.Compute/diskEncryptionSets/read) on the cluster's DES."""
        ctx['des_reader'] = None
        principal = cluster_principal(current['resource']) if ctx.get('des') else None
        if principal:
            allowed, roles = _access.arm_action_access(azmod, ctx['des']['id'], principal, DES_READ_ACTION)
            ctx['des_reader'] = {'principal_id': principal, 'allowed': allowed, 'roles': roles}

    def current_disk_encryption_set(self, current):
        return ((current['resource'].get('properties') or {}).get('diskEncryptionSetID'))

    def principals(self, azmod, current, planned, ctx):
        return _des.des_principals(ctx['des']) if ctx.get('des') else []

    def apply(self, azmod, resource_id, current, planned, params):
        if planned.get('grant_reader'):
            _access.ensure_reader(azmod, planned['des_id'], planned['grant_reader'])
        props = planned['new_pool']
        if not props or not [c for c in planned['changes'] if c.startswith('node_pool:')]:
            return
        name = planned['new_pool_name']
        _arm.write(azmod, 'creating node pool %s with host encryption' % name, 'PUT',
                   '%s/agentPools/%s' % (resource_id, name), self.api_version, {'properties': props})
