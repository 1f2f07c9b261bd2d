# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""The adapter registry: service name -> adapter. A sixth service is one import and one entry here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils import _services
from ansible_collections.sovereign.cmk.plugins.module_utils._targets.aks import AksAdapter
from ansible_collections.sovereign.cmk.plugins.module_utils._targets.container_group import ContainerGroupAdapter
from ansible_collections.sovereign.cmk.plugins.module_utils._targets.managed_disk import ManagedDiskAdapter
from ansible_collections.sovereign.cmk.plugins.module_utils._targets.sql_managed_instance import SqlManagedInstanceAdapter
from ansible_collections.sovereign.cmk.plugins.module_utils._targets.storage_account import StorageAccountAdapter
from ansible_collections.sovereign.cmk.plugins.module_utils._targets.virtual_machine import VirtualMachineAdapter

ADAPTERS = dict((cls.service, cls()) for cls in (
    StorageAccountAdapter, ManagedDiskAdapter, VirtualMachineAdapter, AksAdapter, ContainerGroupAdapter,
    SqlManagedInstanceAdapter))

# Every per-service option of azure_cmk_target, to reject options another service would ignore.
ALL_OPTIONS = sorted(set(option for adapter in ADAPTERS.values() for option in adapter.options))


def get(service):
    return ADAPTERS[service]


def argument_spec():
    """The options of azure_cmk_target (also how the bulk scan validates each resource's parameters)."""
    return dict(
        service=dict(type='str', required=True, choices=list(_services.TARGET_SERVICES)),
        resource_id=dict(type='str'),
        name=dict(type='str'),
        resource_group=dict(type='str'),
        key=dict(type='str', no_log=False),
        vault=dict(type='str'),
        disk_encryption_set=dict(type='str'),
        identity=dict(type='str'),
        auto_key_rotation=dict(type='bool'),
        federated_client_id=dict(type='str'),
        disk_encryption_type=dict(type='str', choices=['EncryptionAtRestWithCustomerKey',
                                                       'EncryptionAtRestWithPlatformAndCustomerKeys']),
        encryption_at_host=dict(type='bool'),
        node_pool=dict(type='dict', options=dict(
            name=dict(type='str', required=True),
            vm_size=dict(type='str'),
            count=dict(type='int', default=1),
            mode=dict(type='str', default='User', choices=['User', 'System']),
        )),
        allow_deallocate=dict(type='bool', default=False),
        allow_recreate=dict(type='bool', default=False),
        sql_identity_mode=dict(type='str', choices=['seed', 'microsoft']),
        grant_access=dict(type='bool', default=False),
        journal_dir=dict(type='path'),
        create_identity=dict(type='bool', default=False),
        create=dict(type='dict', options=dict(
            location=dict(type='str', required=True),
            sku=dict(type='str', default='Standard_LRS'),
            kind=dict(type='str', default='StorageV2', choices=['StorageV2', 'BlockBlobStorage', 'FileStorage']),
            infrastructure_encryption=dict(type='bool', default=False),
            tags=dict(type='dict'),
        )),
    )
