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

from ansible_collections.sovereign.cmk.plugins.module_utils._errors import CMKError
from ansible_collections.sovereign.cmk.plugins.module_utils import _arm, _des, _services
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import parse_resource_id, same_resource_id
from ansible_collections.sovereign.cmk.plugins.module_utils import _chain
from ansible_collections.sovereign.cmk.plugins.module_utils._targets import _base

DISK_API_VERSION = _services.SERVICES['managed_disk']['api_version']
VM_API_VERSION = _services.SERVICES['virtual_machine']['api_version']
# DES encryption types a disk uses as its own ``encryption.type`` (the same name).
DISK_TYPES = ('EncryptionAtRestWithCustomerKey', 'EncryptionAtRestWithPlatformAndCustomerKeys')
# A confidential VM DES belongs in the disk's ``securityProfile.secureVMDiskEncryptionSetId`` (set when the
# confidential disk is created), never in ``encryption``: not supported by this task.
CONFIDENTIAL_TYPE = 'ConfidentialVmEncryptedWithCustomerKey'


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
    """The disk ``encryption.type`` for the DES: ``wanted``, else the DES's own type."""
    des_type = (des or {}).get('encryption_type') or ''
    return wanted or (des_type if des_type in DISK_TYPES else DISK_TYPES[0])


def des_type_findings(des):
    """A confidential VM DES cannot be set as a disk's encryption (it is not a customer-key disk encryption type)."""
    if ((des or {}).get('encryption_type') or '').lower() != CONFIDENTIAL_TYPE.lower():
        return []
    return [_chain.finding(
        'des_encryption_type', 'Disk encryption set %s is a confidential VM DES (%s): it is set in a confidential disk\'s '
        'securityProfile.secureVMDiskEncryptionSetId when the disk is created, not as the disk encryption set of an '
        'existing disk; this task does not support it.' % (des.get('name'), CONFIDENTIAL_TYPE),
        'Use a DES of type EncryptionAtRestWithCustomerKey or EncryptionAtRestWithPlatformAndCustomerKeys, or create '
        'the confidential VM with the DES.')]


def disk_needs_change(settings, des_id, disk_type):
    return (not same_resource_id(settings['disk_encryption_set_id'], des_id)
            or (settings['encryption_type'] or '').lower() != disk_type.lower())


DISK_API_VERSION = _services.SERVICES['managed_disk']['api_version']
VM_API_VERSION = _services.SERVICES['virtual_machine']['api_version']


def patch_disk_step(disk_id, des_id, disk_type):
    """(label, write step) of the disk update, for ``apply_deallocated``."""
    name = parse_resource_id(disk_id)['name']
    return ('disk %s' % name, _arm.step('setting the disk encryption set of disk %s' % name, 'PATCH', disk_id,
                                        DISK_API_VERSION,
                                        {'properties': {'encryption': {'type': disk_type, 'diskEncryptionSetId': des_id}}}))


def apply_deallocated(azmod, vm_id, deallocate, restart, steps, journal=None):
    """Run ``steps`` ([(label, write step)]), deallocating VM ``vm_id`` first when ``deallocate``.

    Once the task deallocated a running VM it always tries to start it again, even after a failed step, and before
    the deallocation it writes a journal entry (``journal``) so that a run that dies in between is finished by the
    next one (``resume_vm``: the VM is started again). A failure fails the task with changed=true and one sentence
    that says what happened: the failed step and Azure's error, what was changed, and whether the VM runs again.
    """
    vm_name = parse_resource_id(vm_id)['name'] if vm_id else None
    done = []
    error = None
    failed_step = None
    deallocated = False
    journaled = bool(deallocate and restart and journal is not None)
    if journaled:
        journal.write(vm_id, 'restart', api_version=VM_API_VERSION, reason='deallocated to change its disk encryption')
    if deallocate:
        _result, error = _arm.attempt(azmod, _arm.step('deallocating VM %s' % vm_name, 'POST', vm_id + '/deallocate',
                                                       VM_API_VERSION))
        deallocated = True      # a failed deallocate may still have stopped the VM: start it again below
        failed_step = 'deallocating VM %s' % vm_name if error is not None else None
    if error is None:
        for label, write_step in steps:
            _result, error = _arm.attempt(azmod, write_step)
            if error is not None:
                failed_step = write_step['action']
                break
            done.append(label)
    restart_error = None
    restarted = None
    if deallocated and restart:
        _result, restart_error = _arm.attempt(azmod, _arm.step('starting VM %s' % vm_name, 'POST', vm_id + '/start',
                                                               VM_API_VERSION))
        restarted = restart_error is None
        if restarted and journaled:
            journal.remove(vm_id)
    if error is None and restart_error is None:
        return
    raise CMKError(deallocation_failure(vm_name, failed_step, error, done, deallocated, restart, restart_error,
                                        journal.path(vm_id) if journaled and not restarted else None),
                   changed=bool(done) or deallocated, changed_items=done, vm_deallocated=deallocated,
                   vm_restarted=restarted, error=(error or restart_error).result['error'],
                   restart_error=None if restart_error is None else restart_error.result['error'])


def deallocation_failure(vm_name, failed_step, error, done, deallocated, restart, restart_error, journal_path):
    """The one truthful sentence for a failed deallocate/change/start sequence (pure)."""
    if error is not None:
        details = error.result['error']
        message = details.get('message') or error.msg
        first = 'Failed %s%s: %s' % (failed_step, ' (%s)' % details['code'] if details.get('code') else '', message)
        if details.get('request_id'):
            first += ' (request id %s)' % details['request_id']
    else:
        first = 'The change was made'
    changed = ', '.join(done) if done else 'nothing'
    if not deallocated:
        vm = ''
    elif not restart:
        vm = '; VM %s was not running before and is left deallocated' % vm_name
    elif restart_error is None:
        vm = '; VM %s runs again' % vm_name
    else:
        vm = ('; VM %s could not be started again (%s)%s' % (
            vm_name, restart_error.result['error'].get('code') or restart_error.msg,
            ': the next run starts it (journal entry %s)' % journal_path if journal_path else ': start it yourself'))
    return '%s; changed before that: %s%s.' % (first, changed, vm)


def resume_vm(azmod, journal, vm_id):
    """Finish a deallocation an earlier run left in the journal: start the VM again. Returns (changes, findings)."""
    entry = journal.read(vm_id) if vm_id else None
    if not entry or entry.get('kind') != 'restart':
        return [], []
    name = parse_resource_id(vm_id)['name']
    state = read_power_state(azmod, vm_id)
    if state == 'running':
        if not azmod.check_mode:
            journal.remove(vm_id)
        return [], []
    if azmod.check_mode:
        return ['vm_started_after_interrupted_run'], [_chain.finding(
            'vm_left_deallocated', 'VM %s was deallocated by an earlier run that did not finish (journal entry %s); it is '
            '%s.' % (name, journal.path(vm_id), state or 'not running'),
            'Run the task without check mode: it starts the VM again.', _chain.DRIFT)]
    azmod.warn('VM %s was deallocated by an earlier run that did not finish: starting it again.' % name)
    _arm.write(azmod, 'starting VM %s (left deallocated by an earlier run)' % name, 'POST', vm_id + '/start',
               VM_API_VERSION)
    journal.remove(vm_id)
    return ['vm_started_after_interrupted_run'], []


def read_power_state(azmod, vm_id):
    view = _arm.read(azmod, vm_id + '/instanceView', VM_API_VERSION)
    return _base.vm_power_state(view)


def plan_deallocation(what, vm_id, power_state, allow, changes, findings):
    """Whether the task must deallocate (and restart) the VM ``vm_id`` to make ``changes``.

    Not needed without changes or when the VM is not running. Needed but not allowed: a finding is added and
    False returned. Allowed: the restart is recorded in ``changes`` and True returned.
    """
    if not changes or not vm_id or power_state in (None, 'deallocated'):
        return False
    problem = running_finding(what, vm_id, allow)
    if problem:
        findings.append(problem)
        return False
    changes.append('vm_deallocated_and_restarted')
    return True


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
        findings = des_type_findings(des) + disk_errors(body, des)
        deallocate = plan_deallocation('Disk %s' % body.get('name'), current.get('vm_id'), current.get('power_state'),
                                       params.get('allow_deallocate'), changes, findings)
        return {'before': before, 'after': after, 'changes': changes, 'recreate': [], 'findings': findings,
                'deallocate': deallocate, 'disk_type': disk_type}

    def principals(self, azmod, current, planned, ctx):
        return _des.des_principals(ctx['des'])

    def apply(self, azmod, resource_id, current, planned, params):
        apply_deallocated(azmod, current.get('vm_id'), planned['deallocate'], current.get('power_state') == 'running',
                          [patch_disk_step(resource_id, planned['after']['disk_encryption_set_id'], planned['disk_type'])],
                          planned.get('journal'))

    def resume(self, azmod, journal, resource_id, current, params):
        if current is None or not current.get('vm_id'):
            return current, [], []
        changes, findings = resume_vm(azmod, journal, current['vm_id'])
        if changes and not azmod.check_mode:
            current = self.read(azmod, resource_id)
        return current, changes, findings
