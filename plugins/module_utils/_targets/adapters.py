# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""The adapter registry: service name -> adapter. A sixth service is one import and one entry here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
