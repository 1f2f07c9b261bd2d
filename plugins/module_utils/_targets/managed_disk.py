# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Managed disk adapter: ``encryption{type, diskEncryptionSetId}`` through a Disk Encryption Set.

Changing the DES of a disk attached to a running VM needs the VM deallocated: the task fails with that
explanation unless ``allow_deallocate`` lets it deallocate the VM, update the disk and start the VM again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils import _des, _services
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import parse_resource_id, same_resource_id
from ansible_collections.sovereign.cmk.plugins.module_utils._targets import _base, _chain

DISK_API_VERSION = _services.SERVICES['managed_disk']['api_version']
VM_API_VERSION = _services.SERVICES['virtual_machine']['api_version']
# DES encryption type -> the disk encryption type that uses it.
DISK_TYPES = {
    'EncryptionAtRestWithCustomerKey': 'EncryptionAtRestWithCustomerKey',
    'EncryptionAtRestWithPlatformAndCustomerKeys': 'EncryptionAtRestWithPlatformAndCustomerKeys',
}


def disk_settings(body):
    if body is None:
        return None
    props = body.get('properties') or {}
    enc = props.get('encryption') or {}
    return {
        'name': body.get('name'),
        'encryption_type': enc.get('type') or 'EncryptionAtRestWithPlatformKey',
        'disk_encryption_set_id': enc.get('diskEncryptionSetId'),
    }


def disk_errors(body, des):
    """Findings that stop a disk from using the DES: Azure Disk Encryption history, another region."""
    findings = []
    props = (body or {}).get('properties') or {}
    if (props.get('encryptionSettingsCollection') or {}).get('enabled'):
        findings.append(_chain.finding(
            'azure_disk_encryption', 'Disk %s uses (or used) Azure Disk Encryption and cannot switch to a customer-managed '
            'key.' % body.get('name'), 'Create a new disk from a copy of the data.'))
    if des and des.get('location') and body.get('location') and des['location'].lower() != body['location'].lower():
        findings.append(_chain.finding(
            'region', 'Disk %s is in %s but disk encryption set %s is in %s.'
            % (body.get('name'), body['location'], des['name'], des['location']),
            'Use a disk encryption set in the same region and subscription.'))
    return findings


def disk_type_for(des, wanted=None):
    return wanted or DISK_TYPES.get((des or {}).get('encryption_type') or '', 'EncryptionAtRestWithCustomerKey')


def disk_needs_change(settings, des_id, disk_type):
    return (not same_resource_id(settings['disk_encryption_set_id'], des_id)
            or (settings['encryption_type'] or '').lower() != disk_type.lower())


def patch_disk(azmod, disk_id, des_id, disk_type):
    parsed = parse_resource_id(disk_id)
    client = azmod.arm('compute')
    _chain.lro(azmod, 'setting the disk encryption set of disk %s' % parsed['name'], client.disks.begin_update,
               parsed['resource_group'], parsed['name'],
               _chain.body_stream({'properties': {'encryption': {'type': disk_type, 'diskEncryptionSetId': des_id}}}))


def read_power_state(azmod, vm_id):
    view = _chain.read_resource(azmod, vm_id + '/instanceView', VM_API_VERSION)
    return _base.vm_power_state(view)


def vm_power_action(azmod, vm_id, action):
    parsed = parse_resource_id(vm_id)
    client = azmod.arm('compute')
    fn = client.virtual_machines.begin_deallocate if action == 'deallocate' else client.virtual_machines.begin_start
    _chain.lro(azmod, '%s of VM %s' % (action, parsed['name']), fn, parsed['resource_group'], parsed['name'])


def running_finding(what, vm_id, allow):
    if allow:
        return None
    return _chain.finding(
        'vm_running', '%s: changing the disk encryption set (or encryption at host) needs VM %s deallocated, and it is '
        'running.' % (what, parse_resource_id(vm_id)['name']),
        'Set allow_deallocate=true to let the task deallocate the VM, apply the change and start it again, or '
        'deallocate it yourself.')


class ManagedDiskAdapter(_base.TargetAdapter):
    service = 'managed_disk'
    namespace = 'Microsoft.Compute'
    resource_types = ['disks']
    options = ('disk_encryption_set', 'disk_encryption_type', 'allow_deallocate')

    def read(self, azmod, resource_id):
        current = super(ManagedDiskAdapter, self).read(azmod, resource_id)
        if current is not None:
            vm_id = current['resource'].get('managedBy')
            current['vm_id'] = vm_id
            current['power_state'] = read_power_state(azmod, vm_id) if vm_id else None
        return current

    def plan(self, current, params, ctx):
        body = current['resource']
        des = ctx['des']
        before = disk_settings(body)
        disk_type = disk_type_for(des, params.get('disk_encryption_type'))
        after = dict(before, encryption_type=disk_type, disk_encryption_set_id=des['id'])
        changes = ['disk_encryption_set'] if disk_needs_change(before, des['id'], disk_type) else []
        findings = disk_errors(body, des)
        deallocate = False
        if changes and current.get('vm_id') and current.get('power_state') not in (None, 'deallocated'):
            problem = running_finding('Disk %s' % body.get('name'), current['vm_id'], params.get('allow_deallocate'))
            if problem:
                findings.append(problem)
            else:
                deallocate = True
                changes.append('vm_deallocated_and_restarted')
        return {'before': before, 'after': after, 'changes': changes, 'recreate': [], 'findings': findings,
                'deallocate': deallocate, 'disk_type': disk_type}

    def principals(self, azmod, current, planned, ctx):
        return _des.des_principals(ctx['des'])

    def apply(self, azmod, resource_id, current, planned, params):
        vm_id = current.get('vm_id')
        if planned['deallocate']:
            vm_power_action(azmod, vm_id, 'deallocate')
        patch_disk(azmod, resource_id, planned['after']['disk_encryption_set_id'], planned['disk_type'])
        if planned['deallocate'] and current.get('power_state') == 'running':
            vm_power_action(azmod, vm_id, 'start')
