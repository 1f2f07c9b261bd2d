# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""The service rules: one entry per Azure service that can encrypt at rest with a customer-managed key.

This table is the one source of truth for what each service accepts. The modules validate input with it
(``azure_des``, ``azure_cmk_target``), ``docs/targets.md`` embeds its rendering (a unit test checks that the
two agree), and the drift report reads it. Pure data and pure helpers: no SDK imports.

Where Microsoft's current documentation and the organisation's seed document differ, the seed is the
default and the Microsoft behaviour is an option (``variants``): SQL Managed Instance requires a
user-assigned identity by the seed; Microsoft also allows the system-assigned identity
(``azure_cmk_target`` option ``sql_identity_mode=microsoft``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

KEY_VAULT = 'key_vault'
MANAGED_HSM = 'managed_hsm'
USER_ASSIGNED = 'user_assigned'
SYSTEM_ASSIGNED = 'system_assigned'

# Rotation models.
ROTATION_VERSIONLESS = 'versionless'        # no key version configured = the service follows the latest version
ROTATION_FLAG = 'flag'                      # an explicit switch makes the service follow new versions
ROTATION_VIA_DES = 'via_des'                # follows the disk encryption set's key
ROTATION_NONE = 'none'                      # a fixed, versioned key; rotating means redeploying

RSA_TYPES = ('RSA', 'RSA-HSM')
ALL_RSA_SIZES = (2048, 3072, 4096)

SERVICES = {
    'disk_encryption_set': {
        'title': 'Disk Encryption Set',
        'resource_type': 'Microsoft.Compute/diskEncryptionSets',
        'api_version': '2026-03-02',
        'key_sources': (KEY_VAULT, MANAGED_HSM),
        'key_reference': 'key',
        'identity_kinds': (SYSTEM_ASSIGNED, USER_ASSIGNED),
        'identity_at_creation': (SYSTEM_ASSIGNED, USER_ASSIGNED),
        'key_types': RSA_TYPES,
        'key_sizes': ALL_RSA_SIZES,
        'rotation': ROTATION_FLAG,
        'rotation_setting': 'rotationToLatestKeyVersionEnabled',
        'versioned_key': 'resolved',
        'create_time_only': ('encryptionType',),
        'purge_protection': 'required',
        'trusted_service': True,
        'federated_client_id': True,
        'notes': 'Its own identity (system-assigned, user-assigned or both); never switched from user- to '
                 'system-assigned in place. Disks follow a new key version within about an hour when auto-rotation '
                 'is on.',
    },
    'storage_account': {
        'title': 'Storage account',
        'resource_type': 'Microsoft.Storage/storageAccounts',
        'api_version': '2026-09-01',
        'key_sources': (KEY_VAULT, MANAGED_HSM),
        'key_reference': 'key',
        'identity_kinds': (USER_ASSIGNED, SYSTEM_ASSIGNED),
        'identity_at_creation': (USER_ASSIGNED,),
        'key_types': RSA_TYPES,
        'key_sizes': ALL_RSA_SIZES,
        'rotation': ROTATION_VERSIONLESS,
        'rotation_setting': 'keyvaultproperties.keyversion omitted',
        'versioned_key': 'optional',
        'create_time_only': ('encryption.services.queue.keyType', 'encryption.services.table.keyType'),
        'purge_protection': 'required',
        'trusted_service': True,
        'federated_client_id': True,
        'notes': 'Without a key version the account follows the latest version (checked daily; '
                 'currentVersionedKeyIdentifier shows the version in use). A user-assigned identity is required '
                 'when the key is set at account creation.',
    },
    'managed_disk': {
        'title': 'Managed disk',
        'resource_type': 'Microsoft.Compute/disks',
        'api_version': '2026-03-02',
        'key_sources': (KEY_VAULT, MANAGED_HSM),
        'key_reference': 'disk_encryption_set',
        'identity_kinds': ('disk_encryption_set',),
        'identity_at_creation': ('disk_encryption_set',),
        'key_types': RSA_TYPES,
        'key_sizes': ALL_RSA_SIZES,
        'rotation': ROTATION_VIA_DES,
        'rotation_setting': None,
        'versioned_key': 'via_des',
        'create_time_only': (),
        'purge_protection': 'required',
        'trusted_service': True,
        'federated_client_id': False,
        'notes': 'Changing the disk encryption set of a disk attached to a running VM needs the VM deallocated. '
                 'Disks that ever used Azure Disk Encryption cannot switch to customer-managed keys.',
    },
    'virtual_machine': {
        'title': 'Virtual machine (OS and data disks)',
        'resource_type': 'Microsoft.Compute/virtualMachines',
        'api_version': '2026-04-01',
        'key_sources': (KEY_VAULT, MANAGED_HSM),
        'key_reference': 'disk_encryption_set',
        'identity_kinds': ('disk_encryption_set',),
        'identity_at_creation': ('disk_encryption_set',),
        'key_types': RSA_TYPES,
        'key_sizes': ALL_RSA_SIZES,
        'rotation': ROTATION_VIA_DES,
        'rotation_setting': None,
        'versioned_key': 'via_des',
        'create_time_only': (),
        'purge_protection': 'required',
        'trusted_service': True,
        'federated_client_id': False,
        'notes': 'Changing the disk encryption set of the disks or encryption at host needs the VM deallocated '
                 '(allow_deallocate).',
    },
    'aks': {
        'title': 'AKS cluster (node OS disks, host encryption)',
        'resource_type': 'Microsoft.ContainerService/managedClusters',
        'api_version': '2026-08-01',
        'key_sources': (KEY_VAULT, MANAGED_HSM),
        'key_reference': 'disk_encryption_set',
        'disk_encryption_set_optional': True,   # host encryption alone can be checked; else the cluster's own DES
        'identity_kinds': ('disk_encryption_set',),
        'identity_at_creation': ('disk_encryption_set',),
        'key_types': RSA_TYPES,
        'key_sizes': ALL_RSA_SIZES,
        'rotation': ROTATION_VIA_DES,
        'rotation_setting': None,
        'versioned_key': 'via_des',
        'create_time_only': ('diskEncryptionSetID', 'agentPoolProfiles[].enableEncryptionAtHost'),
        'purge_protection': 'required',
        'trusted_service': True,
        'federated_client_id': False,
        'notes': 'The disk encryption set can only be set when the cluster is created; host encryption only when a '
                 'node pool is created (every pool is checked). The cluster identity needs Reader on the DES.',
    },
    'container_group': {
        'title': 'Container group (Azure Container Instances)',
        'resource_type': 'Microsoft.ContainerInstance/containerGroups',
        'api_version': '2023-05-01',
        'key_sources': (KEY_VAULT,),
        'key_reference': 'key',
        'identity_kinds': (USER_ASSIGNED,),
        'identity_at_creation': (USER_ASSIGNED,),
        'key_types': RSA_TYPES,
        'key_sizes': ALL_RSA_SIZES,
        'rotation': ROTATION_NONE,
        'rotation_setting': None,
        'versioned_key': 'pinned',
        'create_time_only': ('encryptionProperties', 'identity'),
        'purge_protection': 'recommended',
        'trusted_service': False,   # not in Key Vault's trusted services table
        'federated_client_id': False,
        'notes': 'Managed HSM is not supported. The key is set only at deployment: a change means recreating the '
                 'group (allow_recreate).',
    },
    'sql_managed_instance': {
        'title': 'SQL Managed Instance (TDE protector)',
        'resource_type': 'Microsoft.Sql/managedInstances',
        'api_version': '2025-01-01',
        'key_sources': (KEY_VAULT, MANAGED_HSM),
        'key_reference': 'key',
        'identity_kinds': (USER_ASSIGNED,),
        'identity_at_creation': (USER_ASSIGNED,),
        'key_types': RSA_TYPES,
        'key_sizes': (2048, 3072),
        'rotation': ROTATION_FLAG,
        'rotation_setting': 'encryptionProtector autoRotationEnabled',
        'versioned_key': 'resolved',
        'create_time_only': (),
        'purge_protection': 'required',
        'trusted_service': True,
        'federated_client_id': False,
        'variants': {
            'sql_identity_mode': {
                'seed': {'identity_kinds': (USER_ASSIGNED,)},
                'microsoft': {'identity_kinds': (USER_ASSIGNED, SYSTEM_ASSIGNED)},
            },
        },
        'notes': 'The seed requires a user-assigned identity; Microsoft also allows the system-assigned identity '
                 '(sql_identity_mode=microsoft). The key is added to the instance as <vault>_<key>_<version> before '
                 'it becomes the TDE protector. TDE cannot be removed, only switched back to service-managed.',
    },
}

# Services azure_cmk_target manages (the disk encryption set has its own module, azure_des).
TARGET_SERVICES = ('storage_account', 'managed_disk', 'virtual_machine', 'aks', 'container_group',
                   'sql_managed_instance')

_LABELS = {
    KEY_VAULT: 'Key Vault', MANAGED_HSM: 'Managed HSM', USER_ASSIGNED: 'user-assigned',
    SYSTEM_ASSIGNED: 'system-assigned', 'disk_encryption_set': 'the DES identity',
    ROTATION_VERSIONLESS: 'versionless key URI follows the latest version',
    ROTATION_FLAG: 'auto-rotation switch', ROTATION_VIA_DES: 'through the DES', ROTATION_NONE: 'none (versioned key)',
}


def rules(service, **variants):
    """The rules of ``service`` with the named variants applied (e.g. ``sql_identity_mode='microsoft'``).

    Raises KeyError for an unknown service or variant value.
    """
    entry = copy.deepcopy(SERVICES[service])
    for name, value in variants.items():
        options = (entry.get('variants') or {}).get(name)
        if options is None or value is None:
            continue
        entry.update(copy.deepcopy(options[value]))
    return entry


def versionless_key_accepted(entry):
    """False when ``entry`` (a rules dict) needs the key option itself to name a version (``versioned_key: required``).

    ``resolved``: Azure takes a versioned key and a versionless key option is resolved to the current version;
    ``pinned``: as ``resolved`` when the key is deployed, and a resource already on any version of the same key is
    not drift (it never follows rotations: ACI); ``optional``: a versionless key follows the latest version;
    ``via_des``: the key is the DES's.
    """
    return entry['versioned_key'] != 'required'


# Whether the service reaches a vault or HSM through its firewall as a "trusted Microsoft service" (networkAcls.bypass
# AzureServices). Sources: Key Vault's "Trusted services" table (learn.microsoft.com/azure/key-vault/general/
# overview-vnet-service-endpoints#trusted-services: Azure Storage customer-managed keys, Azure SQL TDE with BYOK, Azure
# Disk Encryption sets for managed disks - which AKS node OS disks use); Azure Container Instances is not in it, so a
# container group needs the vault reachable from the public network (or the group's own network rule).
def trusted_service(entry):
    return bool(entry.get('trusted_service'))


def needs_key_version(entry):
    """True when the service is written with a versioned key (``resolved``, ``pinned``, ``required``): a versionless
    key option is resolved to the current version, which must then be readable."""
    return entry['versioned_key'] in ('resolved', 'pinned', 'required')


def key_store_allowed(service, kind):
    return kind in SERVICES[service]['key_sources']


def identity_allowed(service, kind, creating=False, **variants):
    entry = rules(service, **variants)
    allowed = entry['identity_at_creation'] if creating else entry['identity_kinds']
    return kind in allowed


def key_type_allowed(service, key_type):
    return (key_type or '').upper() in SERVICES[service]['key_types']


def key_size_allowed(service, key_size):
    return key_size in SERVICES[service]['key_sizes']


def purge_protection_required(service):
    return SERVICES[service]['purge_protection'] == 'required'


def label(value):
    return _LABELS.get(value, value)


def render_markdown():
    """The rules as a Markdown table (embedded in docs/targets.md; a unit test keeps them equal)."""
    lines = ['| service | key stores | identity | identity at creation | key types / sizes | rotation | '
             'create-time only | purge protection | trusted service |',
             '|---|---|---|---|---|---|---|---|---|']
    for service in ('disk_encryption_set',) + TARGET_SERVICES:
        entry = SERVICES[service]
        variants = ''
        sql = (entry.get('variants') or {}).get('sql_identity_mode')
        if sql:
            variants = ' (seed; `sql_identity_mode=microsoft`: %s)' % ', '.join(
                label(k) for k in sql['microsoft']['identity_kinds'])
        lines.append('| `%s` (%s) | %s | %s%s | %s | %s / %s | %s | %s | %s | %s |' % (
            service, entry['title'],
            ', '.join(label(k) for k in entry['key_sources']),
            ', '.join(label(k) for k in entry['identity_kinds']), variants,
            ', '.join(label(k) for k in entry['identity_at_creation']),
            ', '.join(entry['key_types']), ', '.join(str(s) for s in entry['key_sizes']),
            label(entry['rotation']) + (' (`%s`)' % entry['rotation_setting'] if entry['rotation_setting'] else ''),
            ', '.join('`%s`' % s for s in entry['create_time_only']) or '-',
            entry['purge_protection'], 'yes' if entry.get('trusted_service') else 'no'))
    return '\n'.join(lines) + '\n'
