#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: azure_cmk_target
short_description: Point an Azure resource at a customer-managed key and verify the whole key chain
version_added: 0.1.0
description:
  - Makes one existing resource encrypt at rest with a customer-managed key, directly (O(key)) or through a Disk
    Encryption Set (O(disk_encryption_set)), and verifies every link of the key chain.
  - One module for every service, chosen with O(service); each service is an adapter behind the same interface (read
    the current settings, compute the desired ones, validate, apply). The rules per service (key stores, identity kinds,
    key sizes, rotation model, create-time-only settings) come from one table, rendered in the collection's
    C(docs/targets.md).
  - V(storage_account) - C(encryption.keySource=Microsoft.Keyvault) with the vault URI, key name and version. A
    versionless O(key) (or O(auto_key_rotation=true)) configures no version, so the account follows new key versions
    (RV(current_versioned_key_identifier) shows the one in use, and a newer one is not drift). Identity - a
    user-assigned identity (O(identity)) or the account's existing system-assigned identity (O(identity=SystemAssigned)).
  - V(managed_disk) - disk C(encryption{type, diskEncryptionSetId}).
  - V(virtual_machine) - every managed disk of the VM (OS and data) through the DES, and encryption at host
    (O(encryption_at_host)). Both need the VM deallocated; a running VM fails the task with that explanation unless
    O(allow_deallocate=true) lets the task deallocate it, apply the change and start it again. The same applies to a
    V(managed_disk) attached to a running VM.
  - V(aks) - the cluster's C(diskEncryptionSetID) and host encryption of B(every) agent pool. Both are set at creation
    only, so a difference is reported as RV(requires_recreate), never patched. O(node_pool) creates a new pool with host
    encryption.
  - V(container_group) (Azure Container Instances) - C(encryptionProperties) with a versioned Key Vault key and a
    user-assigned identity. A Managed HSM key is rejected (ACI does not support it). Encryption is set at deployment
    only - a difference requires recreating the group, done only with O(allow_recreate=true).
  - V(sql_managed_instance) - adds the key to the instance (C(<vault>_<key>_<version>)), then sets the TDE protector
    (C(serverKeyType=AzureKeyVault), C(autoRotationEnabled)) and C(primaryUserAssignedIdentityId). Key sizes 2048 and
    3072 only. With auto-rotation a protector on a newer version of the same key is not drift.
  - B(Key chain) - before any write and in check mode - the key exists, is enabled, not expired, valid now, RSA of a
    size the service accepts, allows wrapKey and unwrapKey; the vault has soft delete and purge protection; the key
    store is one the service supports; the identity exists and holds get, wrapKey and unwrapKey on the key. Each broken
    link is a finding named by the link (for example C(identity_access), C(identity_missing), C(purge_protection),
    C(key_expired)) with the fix, in RV(findings); a link the task cannot fix fails it before any write. Every broken
    link is reported in the same run (the identity link too when the task also fails for another reason, for example a
    running VM). O(grant_access=true) fixes the identity link (the code of M(sovereign.cmk.azure_hsm_role)) - the
    missing access is then a C(drift) finding in check mode, and the grant is listed in RV(changes) as
    C(access:<principal id>).
  - B(Drift detection) - C(--check --diff) reports the estate as it is now - RV(status), RV(compliant), RV(findings) and
    RV(chain) never count a fix the real run would make - and what a real run would do in C(changed), RV(changes) and
    the diff.
author:
  - sovereign.cmk maintainers (@sovereign-cmk)
options:
  service:
    description: The kind of resource, which selects the adapter.
    type: str
    required: true
    choices: [storage_account, managed_disk, virtual_machine, aks, container_group, sql_managed_instance]
  resource_id:
    description: Resource id of the resource. Alternatively O(name) and O(resource_group).
    type: str
  name:
    description: Name of the resource (with O(resource_group)).
    type: str
  resource_group:
    description: Resource group of the resource (with O(name)).
    type: str
  key:
    description:
      - The key URI (Key Vault or Managed HSM), with or without version. Required for V(storage_account),
        V(container_group) and V(sql_managed_instance); not used by the DES-based services.
      - A versionless URI is resolved to the key's current version where the service needs a version (ACI, SQL MI).
        V(container_group) never follows key rotations - with a versionless URI a group already on any version of the
        key is not drift (a newer version is a warning, never a redeploy); give the versioned URI to redeploy on it.
    type: str
  vault:
    description:
      - The Key Vault or Managed HSM holding the key (a resource id, or its URI), when it should not be found by listing
        the vaults of the subscription (for example a vault in another subscription). The same option as in the other
        sovereign.cmk modules (it was C(key_vault) before 0.2.0).
    type: str
  disk_encryption_set:
    description:
      - Resource id of the Disk Encryption Set, for V(managed_disk) and V(virtual_machine) (required) and V(aks)
        (optional; without it the cluster's own DES, if any, is verified).
      - Its key and identities are the key chain that is verified.
    type: str
  identity:
    description:
      - The identity the resource uses to reach the key. A user-assigned identity resource id (added to the resource's
        identities when missing), or V(SystemAssigned) for the resource's existing system-assigned identity
        (V(storage_account); V(sql_managed_instance) with O(sql_identity_mode=microsoft)).
      - Required for V(container_group). Unset keeps the identity the resource uses now.
    type: str
  auto_key_rotation:
    description:
      - Whether the resource follows new versions of its key (the same option as in M(sovereign.cmk.azure_des); it was
        C(auto_rotation) before 0.2.0). Unset leaves the current behaviour (or follows the form of O(key)); no role or
        playbook of the collection sets it unless asked.
      - V(storage_account) - V(true) requires a versionless O(key) (no version configured); V(false) with a versionless
        O(key) pins the current version. Unset follows the form of O(key).
      - V(sql_managed_instance) - C(autoRotationEnabled) of the TDE protector. Unset keeps the current value (a new
        protector gets V(true) for a versionless O(key)).
    type: bool
  federated_client_id:
    description:
      - V(storage_account) - C(encryption.identity.federatedIdentityClientId) for a key in another tenant. V(None)
        clears it. The key chain of a cross-tenant key cannot be verified from this tenant (reported as a warning).
    type: str
  disk_encryption_type:
    description:
      - V(managed_disk), V(virtual_machine) - the disk encryption type. Defaults to the one matching the DES's type.
    type: str
    choices: [EncryptionAtRestWithCustomerKey, EncryptionAtRestWithPlatformAndCustomerKeys]
  encryption_at_host:
    description:
      - V(virtual_machine) - C(securityProfile.encryptionAtHost) (needs the VM deallocated).
      - V(aks) - V(true) requires host encryption on every agent pool; pools without it are reported as requiring
        recreation.
    type: bool
  node_pool:
    description:
      - V(aks) - create this agent pool with host encryption (C(enableEncryptionAtHost)) when the cluster has no pool of
        that name. Existing pools are never changed; an existing pool of that name without host encryption is reported
        as requiring recreation (RV(requires_recreate)).
      - The name must be a valid agent pool name (lowercase letters and digits, starting with a letter, at most 12
        characters); it is checked before any call.
      - The new pool copies C(vnetSubnetID), C(podSubnetID), C(orchestratorVersion), C(osDiskType), C(osType) and
        C(osSKU) from an existing pool of the cluster (one of the same mode, else the first) - on a custom-VNet cluster
        Azure needs the subnet on every pool.
    type: dict
    suboptions:
      name:
        description: Pool name.
        type: str
        required: true
      vm_size:
        description: VM size of the nodes. Unset copies the size of an existing pool of the cluster.
        type: str
      count:
        description: Number of nodes.
        type: int
        default: 1
      mode:
        description: Pool mode.
        type: str
        default: User
        choices: [User, System]
  allow_deallocate:
    description:
      - V(managed_disk), V(virtual_machine) - let the task deallocate a running VM, apply the change and start it again.
        Without it a running VM fails the task with the explanation (finding C(vm_running)).
    type: bool
    default: false
  allow_recreate:
    description:
      - V(container_group) - let the task delete and redeploy the container group with the key when its encryption
        differs (containers restart). Without it the difference is reported as RV(requires_recreate).
    type: bool
    default: false
  sql_identity_mode:
    description:
      - V(sql_managed_instance) - V(seed) (default, the organisation's policy) requires a user-assigned identity;
        V(microsoft) also accepts the instance's system-assigned identity, as Microsoft's documentation does.
    type: str
    choices: [seed, microsoft]
  grant_access:
    description:
      - Grant the identity (for DES-based services - the DES identities) get, wrapKey and unwrapKey on the key when it
        lacks them, instead of failing with the C(identity_access) finding. Predicted in check mode.
    type: bool
    default: false
  create_identity:
    description:
      - Step 2 of the pattern for a bare resource - with O(grant_access=true), create the user-assigned O(identity)
        when it does not exist (in its resource group, in the resource's region), or, for V(storage_account) with
        O(identity=SystemAssigned), enable the account's system-assigned identity; then grant it access to the key
        before the key is set. Check mode reports the missing identity (finding C(identity_missing), severity
        C(drift)) and the changes C(identity_created:<id>) or C(identity:system-assigned).
      - Without it a missing identity fails the task (finding C(identity_missing)).
      - V(storage_account), V(container_group), V(sql_managed_instance).
    type: bool
    default: false
  create:
    description:
      - V(storage_account) - create the account when it does not exist, encrypted with O(key) from its first byte -
        blob, file, B(queue and table) services on the account key (C(keyType=Account), which can only be set at
        creation), the user-assigned O(identity) Azure requires when the key is set at creation (granted access to the
        key before the account is created, with O(grant_access=true)), TLS 1.2, HTTPS only, no public blob access.
        An existing account is never re-created or changed by these settings (only its key settings are managed).
      - For the services whose creation belongs to other tooling (VMs, AKS, SQL Managed Instance), the collection's
        C(docs/targets.md) shows how to create them with the key or Disk Encryption Set prepared here, and this module
        verifies the result.
    type: dict
    suboptions:
      location:
        description: Azure region of the new account.
        type: str
        required: true
      sku:
        description: The account SKU.
        type: str
        default: Standard_LRS
      kind:
        description: The account kind.
        type: str
        default: StorageV2
        choices: [StorageV2, BlockBlobStorage, FileStorage]
      infrastructure_encryption:
        description: C(requireInfrastructureEncryption) - a second layer of encryption with platform keys (set at
          creation only).
        type: bool
        default: false
      tags:
        description: Tags of the new account.
        type: dict
  journal_dir:
    description:
      - The directory of the recovery journal, on the host that runs the module (the controller for tasks on
        localhost). Before a destructive or multi-step change - deleting a container group to recreate it with its key
        (O(allow_recreate)), deallocating a VM to change its disks (O(allow_deallocate)) - the task writes what the next
        run needs to finish it there (written atomically and fsynced, readable only by the owner), and removes it once
        the change is confirmed. A run that finds an entry finishes the change first - recreates a container group an
        interrupted run deleted, starts a VM an interrupted run left deallocated - and says so (RV(changes)
        C(recreated_from_journal), C(vm_started_after_interrupted_run)); check mode reports that it would.
      - Defaults to E(SOVEREIGN_CMK_JOURNAL_DIR), else C(~/.ansible/sovereign_cmk/journal). Keep it on persistent
        storage (in AWX, a persistent volume or the default on the execution node, not a temporary container path).
    type: path
extends_documentation_fragment:
  - sovereign.cmk.azure
attributes:
  check_mode:
    description: Reads only; verifies the key chain and predicts the changes, the diff, the findings and the grants.
    support: full
  diff_mode:
    description: Shows the encryption settings of the resource before and after.
    support: full
  idempotent:
    description:
      - A second run sends no write. Ids and URLs are compared case-insensitively; under auto-rotation a newer key
        version in use is not a change.
    support: full
notes:
  - The resource must exist, except a storage account with O(create); this module does not create disks, VMs, clusters,
    container groups or instances (C(docs/targets.md) shows how to create them with the key).
  - A storage account's system-assigned identity must exist before it is used for the key (its access must be granted
    and verified before the key is set); or use a user-assigned identity.
  - For V(aks) the cluster identity also needs Reader on the DES (not checked).
requirements:
  - azure-mgmt-authorization >= 4.0.0
  - azure-keyvault-administration >= 4.5.0 (keys in a Managed HSM)
seealso:
  - module: sovereign.cmk.azure_des
    description: The Disk Encryption Set for disks, VMs and AKS.
  - module: sovereign.cmk.azure_cmk_key
    description: The key.
  - module: sovereign.cmk.azure_hsm_role
    description: Grant an identity access to the key.
  - name: Customer-managed keys support matrix
    description: Which services support Key Vault and Managed HSM keys.
    link: https://learn.microsoft.com/azure/security/fundamentals/encryption-customer-managed-keys-support
'''

EXAMPLES = r'''
- name: Storage account follows the latest key version, user-assigned identity granted access
  sovereign.cmk.azure_cmk_target:
    service: storage_account
    name: stprod001
    resource_group: rg-data
    key: https://kv-prod.vault.azure.net/keys/storage-cmk
    identity: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-storage
    grant_access: true

- name: VM disks through a DES (deallocating the VM when needed)
  sovereign.cmk.azure_cmk_target:
    service: virtual_machine
    name: vm-app-01
    resource_group: rg-app
    disk_encryption_set: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-disks/providers/Microsoft.Compute/diskEncryptionSets/des-prod
    encryption_at_host: true
    allow_deallocate: true

- name: AKS drift check (DES and host encryption on every pool)
  sovereign.cmk.azure_cmk_target:
    service: aks
    name: aks-prod
    resource_group: rg-aks
    disk_encryption_set: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-disks/providers/Microsoft.Compute/diskEncryptionSets/des-prod
    encryption_at_host: true
  check_mode: true
  register: aks_drift

- name: SQL Managed Instance TDE protector with auto-rotation
  sovereign.cmk.azure_cmk_target:
    service: sql_managed_instance
    name: sqlmi-prod
    resource_group: rg-sql
    key: https://hsm-prod.managedhsm.azure.net/keys/sql-cmk
    identity: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-sql
    auto_key_rotation: true

- name: Container group, recreated with the key when needed
  sovereign.cmk.azure_cmk_target:
    service: container_group
    name: aci-batch
    resource_group: rg-aci
    key: https://kv-prod.vault.azure.net/keys/aci-cmk/0123456789abcdef0123456789abcdef
    identity: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-aci
    allow_recreate: true
'''

RETURN = r'''
status:
  description:
    - One word for the result, the same in every sovereign.cmk module. V(compliant) - nothing to change and nothing
      broken. V(changed) - a real run changed something. V(drift) - in check mode, something differs or is broken that
      a real run would change; after a real run, something is left that the task cannot fix (see RV(findings)).
      V(requires_recreate) - a create-time-only setting differs (never applied silently). V(failed) - the task failed
      (also set in the failure result, with RV(findings) when a link is broken).
  returned: always
  type: str
  sample: compliant
compliant:
  description:
    - Whether the resource matches the request and nothing in RV(findings) is an error or a drift - as it is at the end
      of the task; in check mode B(as it is now), before the changes a real run would make (a predicted fix never hides
      a broken link).
  returned: always
  type: bool
findings:
  description:
    - What is broken or differs, as it is now in check mode and as it is at the end of a real run. The codes are the
      same in every sovereign.cmk module and are listed in the collection's C(docs/findings.md).
  returned: always
  type: list
  elements: dict
  contains:
    code:
      description:
        - The failed link or setting, for example V(identity_access), V(identity_missing), V(purge_protection),
          V(soft_delete), V(key_expired), V(key_expiring), V(key_not_yet_valid), V(key_disabled), V(key_type),
          V(key_size), V(key_operations), V(key_store_unsupported), V(key_not_found), V(key_unverified), V(vm_running),
          V(requires_recreate), V(encryption_settings), V(key_settings).
      type: str
    link:
      description: Same as RV(findings[].code) (its former name).
      type: str
    severity:
      description:
        - V(error) - a broken link the task cannot fix (the task fails before any write); V(drift) - a difference or a
          broken link a real run fixes (or could not fix); V(warning) - information.
      type: str
    message:
      description: What is wrong.
      type: str
    fix:
      description: How to fix it.
      type: str
changes:
  description:
    - What the task changed, or in check mode would change (for example V(created), V(key_version), V(identity),
      V(access:<principal id>), V(recreated)). Empty when nothing changes.
  returned: always
  type: list
  elements: str
requires_recreate:
  description: Whether a create-time-only setting differs. It is never applied silently.
  returned: always
  type: bool
before:
  description: The managed settings before the task (V(null) when absent). The same as C(diff.before).
  returned: always
  type: dict
after:
  description:
    - The managed settings after the task (V(null) when absent); in check mode the prediction, where a value only Azure
      knows after the change (a new key version, its creation time) is V((known after apply)). The same as
      C(diff.after).
  returned: always
  type: dict
id:
  description: Resource id of the resource.
  returned: always
  type: str
  sample: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stprod001
service:
  description: The service (adapter) used.
  returned: always
  type: str
  sample: storage_account
current_versioned_key_identifier:
  description: V(storage_account) - the key version the account uses now (Azure moves it under auto-rotation).
  returned: when O(service=storage_account)
  type: str
access:
  description: The grants made (predicted in check mode) with O(grant_access=true).
  returned: always
  type: list
  elements: dict
chain:
  description:
    - The key chain - C(key) (attributes of the key version read), C(key_uri), C(key_store), C(vault_id),
      C(purge_protection), C(soft_delete), C(access_model), C(identities) (each principal and whether it has access),
      C(healthy). V(null) for an AKS cluster checked for host encryption only.
  returned: always
  type: dict
disk_encryption_set:
  description: The DES used (id, key URL, auto-rotation, encryption type), for DES-based services.
  returned: when O(disk_encryption_set) is used
  type: dict
'''

from ansible_collections.sovereign.cmk.plugins.module_utils import _workflow
from ansible_collections.sovereign.cmk.plugins.module_utils._azure_module import AzureCMKModule
from ansible_collections.sovereign.cmk.plugins.module_utils._targets import adapters


def main():
    azmod = AzureCMKModule(adapters.argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[('resource_id', 'name')],
                           required_one_of=[('resource_id', 'name')],
                           required_by={'name': ('resource_group',)})
    adapter = adapters.get(azmod.params['service'])
    azmod.execute(_workflow.run, azmod, adapter, azmod.params, adapters.ALL_OPTIONS)


if __name__ == '__main__':
    main()
