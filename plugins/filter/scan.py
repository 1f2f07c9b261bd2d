# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ``cmk_scan_targets`` filter: the inventory's resources as ``azure_cmk_scan`` entries (cmk_scan_targets.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.cmk.plugins.module_utils import _estate

EXCEPTION_VARS = ('cmk_exception_service', 'cmk_exception_reason')


def _host_vars(hostvars, host, names):
    try:
        source = hostvars[host]
    except KeyError:
        raise AnsibleFilterError('cmk_scan_targets: host %r is not in hostvars' % (host,))
    found = {}
    for name in names:
        try:
            found[name] = source[name]
        except KeyError:
            continue
    return found


def _selected(entry, environments, services):
    return (not environments or entry['environment'] in environments) and (not services or entry['service'] in services)


DES_USERS = ('managed_disk', 'virtual_machine', 'aks')


def cmk_scan_targets(hosts, hostvars, keys, policy, disk_encryption_sets=None, allow_shared=False,
                     subscription_id=None, unlabelled=None, exceptions=None, environments=None, services=None,
                     catalog=False):
    """One ``azure_cmk_scan`` entry per host: the ``azure_cmk_target`` parameters enforce.yml would send for it, or
    its status (``unlabelled``, ``failed`` for labels the policy does not know, ``exception``). With ``catalog``, first
    one entry per key and per Disk Encryption Set of the catalog (what enforce.yml's key and DES plays check)."""
    if not isinstance(keys, dict) or not isinstance(policy, dict):
        raise AnsibleFilterError('cmk_scan_targets: cmk_keys and cmk_policy must be mappings')
    environments = [e for e in environments or [] if e != 'all']
    services = [s for s in services or [] if s != 'all']
    result = []
    if catalog:
        for ref, entry in sorted(keys.items()):
            if not environments or (entry or {}).get('environment') in environments:
                result.append(_estate.key_entry(ref, entry, subscription_id))
        if not services or set(services) & set(DES_USERS):
            for ref, entry in sorted((disk_encryption_sets or {}).items()):
                if not environments or (entry or {}).get('environment') in environments:
                    result.append(_estate.des_entry(ref, entry, keys, subscription_id))
    seen = set()
    for host in hosts or []:
        entry = _estate.target(host, _host_vars(hostvars, host, _estate.HOST_VARS), keys, policy,
                               disk_encryption_sets or {}, bool(allow_shared), subscription_id)
        seen.add(host)
        if entry.get('status') == 'unlabelled' or _selected(entry, environments, services):
            result.append(entry)
    for host in unlabelled or []:
        if host in seen:
            continue
        seen.add(host)
        hv = _host_vars(hostvars, host, _estate.HOST_VARS)
        hv.setdefault('cmk_missing_labels', ['environment', 'classification'])
        entry = _estate.target(host, hv, keys, policy, disk_encryption_sets or {}, bool(allow_shared), subscription_id)
        if not services or entry['service'] in services:
            result.append(entry)
    for host in exceptions or []:
        if host in seen:
            continue
        seen.add(host)
        result.append(_estate.exception_entry(host, _host_vars(hostvars, host, _estate.HOST_VARS + EXCEPTION_VARS)))
    return result


class FilterModule:
    """sovereign.cmk scan filters."""

    def filters(self):
        return {'cmk_scan_targets': cmk_scan_targets}
