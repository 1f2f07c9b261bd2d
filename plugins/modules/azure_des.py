#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: azure_des
short_description: Manage an Azure Disk Encryption Set that points at a customer-managed key
version_added: 0.1.0
description:
  - Creates, updates or deletes a Disk Encryption Set (DES), the object managed disks, virtual machines and AKS node
    pools use to encrypt with a customer-managed key.
  - The key is given as its Key Vault or Managed HSM URI, with or without version. The source vault is found from the
    URI (by listing the vaults or HSMs of the subscription) or given with O(vault).
  - B(Key URL) - the Compute API documents C(activeKey.keyUrl) as a fully versioned URL, also with auto-rotation on
    (Terraform sends a versionless one). A versionless O(key) is resolved to the key's current version and the
    versioned URL is sent.
  - B(Auto-rotation) - with O(auto_key_rotation=true) the DES follows new key versions by itself; a newer key version
    in use is not drift, and the task does not move the DES back to the version it was given.
    Without auto-rotation, a versionless O(key) means the current version; after the key is rotated the next run
    moves the DES to the new version.
  - B(Key chain) - before any write (and in check mode) the task verifies the key (exists, enabled, not expired, valid
    now, RSA 2048/3072/4096, wrapKey and unwrapKey allowed), the vault (soft delete and purge protection) and that each
    existing identity of the DES holds get, wrapKey and unwrapKey on the key. A broken link fails the task with the
    link's name and the fix (RV(findings)), and nothing is written.
  - With O(grant_access=true) the task also grants the DES identities access to the key (the same code as
    M(sovereign.cmk.azure_hsm_role)), including a system-assigned identity created by this task, so one task gives a
    working DES. In check mode a missing grant is still reported as it is now - finding C(identity_access) with
    severity C(drift), RV(compliant) and C(chain.healthy) false - and the grant the real run makes is listed in
    RV(changes) (C(access:<principal id>)).
  - The same workflow as M(sovereign.cmk.azure_cmk_target) (the DES is one of its adapters) and the same results -
    RV(status), RV(compliant), RV(findings), RV(changes), RV(before), RV(after).
  - B(Create-time-only settings) - the encryption type cannot change, and a DES is never switched from a user-assigned
    to a system-assigned identity (or the reverse) in place. Such a difference is reported (RV(requires_recreate), a finding in
    RV(findings)), never applied and never silently ignored.
author:
  - sovereign.cmk maintainers (@sovereign-cmk)
options:
  name:
    description: Name of the disk encryption set.
    type: str
    required: true
  resource_group:
    description: Resource group of the disk encryption set.
    type: str
    required: true
  location:
    description:
      - Azure region, when the DES is created. Defaults to the location of O(resource_group).
      - The key's vault must be in the same region.
    type: str
  key:
    description:
      - The key URI, V(https://<vault>.vault.azure.net/keys/<name>[/<version>]) or the Managed HSM form
        V(https://<hsm>.managedhsm.azure.net/keys/<name>[/<version>]).
      - Required with O(state=present).
    type: str
  vault:
    description:
      - The same option as in the other sovereign.cmk modules (it was C(key_vault) before 0.2.0).
      - Resource id of the Key Vault or Managed HSM that holds O(key), when it should not be looked up by listing the
        vaults of the subscription (for example a vault in another subscription).
      - A Key Vault in the DES's subscription is sent as C(activeKey.sourceVault.id).
    type: str
  encryption_type:
    description:
      - The encryption type. Set at creation only; a different value on an existing DES is reported as
        RV(requires_recreate). Defaults to V(EncryptionAtRestWithCustomerKey) when the DES is created.
    type: str
    choices: [EncryptionAtRestWithCustomerKey, EncryptionAtRestWithPlatformAndCustomerKeys, ConfidentialVmEncryptedWithCustomerKey]
  identity_type:
    description:
      - The DES's own identity. Defaults to V(SystemAssigned) on creation and to the current type on update.
      - Adding an identity is done in place; removing the user-assigned identity to use the system-assigned one only is
        never done in place (reported as RV(requires_recreate)).
      - V(UserAssigned) on a DES with a system-assigned identity adds the user-assigned identity, but the system-assigned
        one is never removed in place - the DES keeps both and the difference is reported as RV(requires_recreate) (not
        compliant) on this and every later run.
    type: str
    choices: [SystemAssigned, UserAssigned, 'SystemAssigned, UserAssigned']
  user_assigned_identities:
    description:
      - Resource ids of user-assigned identities for the DES (required when O(identity_type) includes V(UserAssigned)).
      - Identities not listed are kept.
    type: list
    elements: str
  auto_key_rotation:
    description:
      - C(rotationToLatestKeyVersionEnabled). When true the DES (and its disks, within about an hour) follows new
        versions of the key. Unset leaves the current value (false on creation).
    type: bool
  federated_client_id:
    description:
      - Application (client) id of a multi-tenant application, for a key in another tenant (cross-tenant CMK).
        V(None) clears it.
      - With a cross-tenant key the key and the identity access cannot be verified from this tenant; give a versioned
        O(key).
    type: str
  grant_access:
    description:
      - Grant the DES identities get, wrapKey and unwrapKey on the key when they lack it (role assignment at key scope,
        Managed HSM local role, or access policy, following the vault's model).
      - Without it, an existing identity without access fails the task (finding C(identity_access)); a system-assigned
        identity created by this task is reported as a finding.
    type: bool
    default: false
  tags:
    description: Tags of the DES. Unset leaves them alone.
    type: dict
  purge_tags:
    description: Remove tags not listed in O(tags).
    type: bool
    default: true
  state:
    description: V(present) creates or updates, V(absent) deletes the DES (the key is not touched).
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - sovereign.cmk.azure
attributes:
  check_mode:
    description: Reads only; predicts the change, the diff, the findings and the access grants a real run would make.
    support: full
  diff_mode:
    description: Shows the encryption settings (key URL, encryption type, auto-rotation, identity, federated client id,
      tags) before and after.
    support: full
  idempotent:
    description:
      - A second run sends no write. Ids are compared case-insensitively; with auto-rotation a newer key version is not
        a change.
    support: full
notes:
  - Deleting a DES that disks still use fails with Azure's error.
requirements:
  - azure-mgmt-authorization >= 4.0.0
  - azure-keyvault-administration >= 4.5.0 (keys in a Managed HSM)
seealso:
  - module: sovereign.cmk.azure_cmk_key
    description: Create the key.
  - module: sovereign.cmk.azure_hsm_role
    description: Grant an identity access to the key.
  - module: sovereign.cmk.azure_cmk_target
    description: Point disks, VMs and AKS at the DES.
  - name: Server-side encryption of Azure Disk Storage
    description: Customer-managed keys for managed disks.
    link: https://learn.microsoft.com/azure/virtual-machines/disk-encryption
'''

EXAMPLES = r'''
- name: One task, a working DES (system-assigned identity, auto-rotation, access granted)
  sovereign.cmk.azure_des:
    name: des-prod
    resource_group: rg-disks
    key: https://kv-prod.vault.azure.net/keys/disk-cmk
    auto_key_rotation: true
    grant_access: true
  register: des

- name: Show the version in use
  ansible.builtin.debug:
    msg: "{{ des.key_version }} (configured {{ des.key_url }})"

- name: DES with a user-assigned identity and a Managed HSM key
  sovereign.cmk.azure_des:
    name: des-hsm
    resource_group: rg-disks
    location: westeurope
    key: https://hsm-prod.managedhsm.azure.net/keys/disk-cmk/0123456789abcdef0123456789abcdef
    identity_type: UserAssigned
    user_assigned_identities:
      - /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-des

- name: Drift check (run with --check --diff)
  sovereign.cmk.azure_des:
    name: des-prod
    resource_group: rg-disks
    key: https://kv-prod.vault.azure.net/keys/disk-cmk
    auto_key_rotation: true
  check_mode: true
  register: drift

- name: Delete
  sovereign.cmk.azure_des:
    name: des-old
    resource_group: rg-disks
    state: absent
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
  description: Resource id of the DES (predicted in check mode when it would be created).
  returned: always
  type: str
  sample: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-disks/providers/Microsoft.Compute/diskEncryptionSets/des-prod
principal_id:
  description:
    - Object id of the system-assigned identity (V(null) when it has none, or in check mode before it is created).
    - Pass it to M(sovereign.cmk.azure_hsm_role) as C(principal) to grant access separately.
  returned: when O(state=present)
  type: str
  sample: 11111111-2222-3333-4444-555555555555
principal_ids:
  description: Object ids of every identity of the DES (system-assigned and user-assigned).
  returned: when O(state=present)
  type: list
  elements: str
user_assigned_identities:
  description: User-assigned identities, resource id to C(principal_id) and C(client_id).
  returned: when O(state=present)
  type: dict
key_url:
  description: The key URL configured in C(activeKey.keyUrl) after the task (versioned).
  returned: when O(state=present)
  type: str
  sample: https://kv-prod.vault.azure.net/keys/disk-cmk/0123456789abcdef0123456789abcdef
key_version:
  description: The key version in use (from C(activeKey)); with auto-rotation Azure moves it to new versions.
  returned: when O(state=present)
  type: str
  sample: 0123456789abcdef0123456789abcdef
auto_key_rotation:
  description: Whether the DES follows new key versions (C(rotationToLatestKeyVersionEnabled)).
  returned: when O(state=present)
  type: bool
encryption_type:
  description: The encryption type.
  returned: when O(state=present)
  type: str
  sample: EncryptionAtRestWithCustomerKey
access:
  description: The access grants made (predicted in check mode) with O(grant_access=true).
  returned: always
  type: list
  elements: dict
chain:
  description: The key chain - the key (attributes of the version read), vault, purge protection and each identity's access.
  returned: when O(state=present)
  type: dict
'''

from ansible_collections.sovereign.cmk.plugins.module_utils import _des, _workflow
from ansible_collections.sovereign.cmk.plugins.module_utils._azure_module import AzureCMKModule
from ansible_collections.sovereign.cmk.plugins.module_utils._targets.disk_encryption_set import (
    DiskEncryptionSetAdapter, argument_spec as des_argument_spec)


def absent(azmod, params):
    """state=absent: delete the DES when it exists."""
    errors = _des.validate(params)
    if errors:
        azmod.fail('; '.join(errors))
    resource_id = _des.des_id(azmod.subscription_id, params['resource_group'], params['name'])
    current = _des.read_des(azmod, resource_id)
    if current is not None and not azmod.check_mode:
        _des.delete(azmod, resource_id)
    changes = ['deleted'] if current is not None else []
    azmod.exit(current is not None, _des.settings(current), None, changes=changes, compliant=current is None,
               id=resource_id, access=[])


def main():
    azmod = AzureCMKModule(des_argument_spec(), supports_check_mode=True, required_if=[('state', 'present', ('key',))])
    if azmod.params['state'] == 'absent':
        azmod.execute(absent, azmod, azmod.params)
    else:
        azmod.execute(_workflow.run, azmod, DiskEncryptionSetAdapter(), azmod.params)


if __name__ == '__main__':
    main()
