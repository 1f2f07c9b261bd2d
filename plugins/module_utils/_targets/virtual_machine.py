# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Virtual machine adapter: the OS and data disks through a Disk Encryption Set, and encryption at host.

Each managed disk of the VM is read and updated through the disks API; encryption at host is
``securityProfile.encryptionAtHost`` on the VM. Both need the VM deallocated: the task fails with that
explanation unless ``allow_deallocate`` lets it deallocate the VM, apply the changes and start it again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils import _arm, _des
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import parse_resource_id
from ansible_collections.sovereign.cmk.plugins.module_utils import _chain
from ansible_collections.sovereign.cmk.plugins.module_utils._targets import _base, managed_disk


def vm_disk_ids(body):
    """[(label, disk id)] of the VM's managed disks: ('os', id), ('lun0', id), ..."""
    profile = ((body or {}).get('properties') or {}).get('storageProfile') or {}
    result = []
    os_disk = ((profile.get('osDisk') or {}).get('managedDisk') or {}).get('id')
    if os_disk:
        result.append(('os', os_disk))
    for disk in profile.get('dataDisks') or []:
        disk_id = (disk.get('managedDisk') or {}).get('id')
        if disk_id:
            result.append(('lun%s' % disk.get('lun'), disk_id))
    return result


def encryption_at_host(body):
    return bool((((body or {}).get('properties') or {}).get('securityProfile') or {}).get('encryptionAtHost'))


class VirtualMachineAdapter(_base.TargetAdapter):
    service = 'virtual_machine'
    namespace = 'Microsoft.Compute'
    resource_types = ['virtualMachines']
    options = ('disk_encryption_set', 'disk_encryption_type', 'allow_deallocate', 'encryption_at_host')

    def read(self, azmod, resource_id):
        current = super(VirtualMachineAdapter, self).read(azmod, resource_id)
        if current is None:
            return None
        current['disks'] = []
        for label, disk_id in vm_disk_ids(current['resource']):
            body = _arm.read(azmod, disk_id, managed_disk.DISK_API_VERSION)
            current['disks'].append({'label': label, 'id': disk_id, 'body': body})
        current['power_state'] = managed_disk.read_power_state(azmod, resource_id)
        return current

    @staticmethod
    def settings(current):
        return {
            'disks': dict((d['label'], managed_disk.disk_settings(d['body'])) for d in current['disks']),
            'encryption_at_host': encryption_at_host(current['resource']),
        }

    def plan(self, current, params, ctx):
        des = ctx['des']
        before = self.settings(current)
        after = {'disks': {}, 'encryption_at_host': before['encryption_at_host']}
        disk_type = managed_disk.disk_type_for(des, params.get('disk_encryption_type'))
        findings = managed_disk.des_type_findings(des)
        disk_changes = []
        for disk in current['disks']:
            if disk['body'] is None:
                findings.append(_chain.finding('disk_not_found', 'Disk %s of the VM does not exist.' % disk['id'],
                                               'Check the VM storage profile.'))
                continue
            settings = managed_disk.disk_settings(disk['body'])
            after['disks'][disk['label']] = dict(settings, encryption_type=disk_type, disk_encryption_set_id=des['id'])
            findings.extend(managed_disk.disk_errors(disk['body'], des))
            if managed_disk.disk_needs_change(settings, des['id'], disk_type):
                disk_changes.append(disk['id'])
        changes = ['disk_encryption_set:%s' % parse_resource_id(d)['name'] for d in disk_changes]
        host = params.get('encryption_at_host')
        if host is not None and host != before['encryption_at_host']:
            changes.append('encryption_at_host')
            after['encryption_at_host'] = host
        deallocate = managed_disk.plan_deallocation('VM %s' % current['resource'].get('name'), current['parsed']['id'],
                                                    current.get('power_state'), params.get('allow_deallocate'), changes,
                                                    findings)
        return {'before': before, 'after': after, 'changes': changes, 'recreate': [], 'findings': findings,
                'disk_changes': disk_changes, 'deallocate': deallocate, 'disk_type': disk_type, 'des_id': des['id']}

    def principals(self, azmod, current, planned, ctx):
        return _des.des_principals(ctx['des'])

    def apply(self, azmod, resource_id, current, planned, params):
        parsed = current['parsed']
        steps = [managed_disk.patch_disk_step(disk_id, planned['des_id'], planned['disk_type'])
                 for disk_id in planned['disk_changes']]
        if 'encryption_at_host' in planned['changes']:
            steps.append(('encryption at host of VM %s' % parsed['name'], _arm.step(
                'setting encryption at host on VM %s' % parsed['name'], 'PATCH', resource_id, self.api_version,
                {'properties': {'securityProfile': {'encryptionAtHost': planned['after']['encryption_at_host']}}})))
        managed_disk.apply_deallocated(azmod, resource_id, planned['deallocate'], current.get('power_state') == 'running', steps)
