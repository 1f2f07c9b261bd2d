#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: azure_hsm_role
short_description: Give an identity get, wrapKey and unwrapKey on a customer-managed key (and only that)
version_added: 0.1.0
description:
  - Grants (or revokes) a principal the access a service needs to use a customer-managed key - get, wrap key and
    unwrap key - in the access model the vault or HSM uses.
  - B(Key Vault with Azure RBAC) - an Azure role assignment, by default of the built-in role
    C(Key Vault Crypto Service Encryption User), at the scope of the key (least privilege) or, with O(scope=vault),
    of the whole vault.
  - B(Managed HSM) - a Managed HSM local RBAC role assignment on the HSM data plane (azure-keyvault-administration),
    by default of C(Managed HSM Crypto Service Encryption User), at C(/keys/<name>) (default), C(/keys) (O(scope=keys))
    or C(/) (O(scope=vault)).
  - A grant on one key (the default scope) is refused, before any write, when the key does not exist in the vault or
    HSM (finding C(key_not_found)); the vault or HSM itself must exist in every case.
  - B(Key Vault with access policies) - the key permissions C(get), C(wrapKey) and C(unwrapKey) are merged into the
    principal's access policy entry; the other permissions of the principal and every other principal's entry are kept.
  - Idempotent - an existing equivalent assignment (same principal, role and scope, compared case-insensitively)
    is found and kept instead of creating a duplicate; a new assignment gets a deterministic name derived from
    scope, principal and role, so two concurrent runs cannot create two assignments, and an Azure
    C(RoleAssignmentExists) answer is treated as "already there".
  - O(state=absent) removes only the assignment (or the three access policy permissions) the task describes.
  - Returns the principal's effective access to the key (RV(effective_access)) - which assignments or access
    policies give it get, wrapKey and unwrapKey, and which of them are broader than needed - so drift checks can
    find vault-wide or administrative grants where key scope would do.
author:
  - sovereign.cmk maintainers (@sovereign-cmk)
options:
  key:
    description:
      - The key, as its identifier (V(https://<vault>.vault.azure.net/keys/<name>), with or without version, or the
        Managed HSM form) or as a name together with O(vault).
      - For an identifier, the vault resource is found in O(resource_group) when given, otherwise by listing the
        vaults (or HSMs) of the subscription.
    type: str
    required: true
  vault:
    description:
      - The vault or Managed HSM (resource id, name with O(resource_group), or URI), when O(key) is a name.
    type: str
  resource_group:
    description:
      - Resource group of the vault, when O(vault) is a name (optional with a URI or key identifier).
    type: str
  principal:
    description:
      - Who gets access. One of
      - an object (principal) id, for example the principal id of a managed identity or service principal;
      - the resource id of a user-assigned managed identity (its principal id is read);
      - the resource id of any resource whose system-assigned identity should get access, for example a disk
        encryption set, a storage account or a SQL managed instance (its C(identity.principalId) is read; the task
        fails when it has no system-assigned identity).
    type: str
    required: true
  principal_type:
    description:
      - The type of the principal, recorded in an Azure role assignment (lets Azure accept a just-created identity).
      - Not used for Managed HSM local RBAC or access policies.
    type: str
    default: ServicePrincipal
    choices: [ServicePrincipal, User, Group, ForeignGroup, Device]
  role:
    description:
      - The role, by name (case-insensitive) or role definition id (GUID or full id).
      - Defaults to C(Key Vault Crypto Service Encryption User) (V(e147488a-f6f5-4113-8e2d-b22465e65bf6)) for a
        Key Vault and C(Managed HSM Crypto Service Encryption User) (V(33413926-3206-4cdd-b39a-83574fe37a17)) for a
        Managed HSM.
      - An unknown name fails with the list of roles that give the needed permissions. Not valid for a vault that
        uses access policies.
    type: str
  scope:
    description:
      - Where the assignment applies. V(key) (default) - only this key. V(vault) - every key in the vault (Azure
        RBAC at vault scope) or HSM (local RBAC at C(/)). V(keys) - every key of a Managed HSM (C(/keys)), Managed
        HSM only.
      - A vault using access policies always grants vault-wide; only V(vault) (or no value) is accepted there.
    type: str
    choices: [key, keys, vault]
  state:
    description:
      - V(present) grants, V(absent) removes the described assignment or access policy permissions.
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - sovereign.cmk.azure
attributes:
  check_mode:
    description: Predicts the change, the diff and the effective access with read requests only.
    support: full
  diff_mode:
    description: Shows the managed role assignment or access policy entry before and after.
    support: full
  idempotent:
    description: A second run finds the assignment or access policy and sends no write request.
    support: full
notes:
  - Azure RBAC assignments need Owner, User Access Administrator or Role Based Access Control Administrator on the
    scope; Managed HSM local RBAC needs Managed HSM Administrator (or a role with role assignment write) on the HSM;
    access policies need write access to the vault resource (for example Key Vault Contributor).
  - Effective access considers direct assignments to the principal only, not those it inherits through group
    membership.
  - In a vault that uses access policies, Azure RBAC data roles are ignored by Key Vault (and the other way round);
    the effective access follows the vault's model.
requirements:
  - azure-mgmt-authorization >= 4.0.0
  - azure-keyvault-administration >= 4.5.0
seealso:
  - module: sovereign.cmk.azure_cmk_key
    description: Create the key.
  - name: Azure built-in roles for Key Vault data plane operations
    description: Key Vault Crypto Service Encryption User and related roles.
    link: https://learn.microsoft.com/azure/key-vault/general/rbac-guide
  - name: Managed HSM local RBAC built-in roles
    description: Managed HSM Crypto Service Encryption User and related roles.
    link: https://learn.microsoft.com/azure/key-vault/managed-hsm/built-in-roles
'''

EXAMPLES = r'''
- name: Let a disk encryption set's system-assigned identity use a key (key scope)
  sovereign.cmk.azure_hsm_role:
    key: https://kv-prod.vault.azure.net/keys/disk-cmk
    principal: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-disks/providers/Microsoft.Compute/diskEncryptionSets/des-prod
  register: access

- name: Fail when the identity has vault-wide or administrative access
  ansible.builtin.assert:
    that: not access.effective_access.over_broad

- name: User-assigned identity on a Managed HSM key
  sovereign.cmk.azure_hsm_role:
    key: storage-cmk
    vault: https://hsm-prod.managedhsm.azure.net
    resource_group: rg-keys
    principal: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-storage

- name: Object id with a role given by name, at vault scope
  sovereign.cmk.azure_hsm_role:
    key: sql-cmk
    vault: kv-prod
    resource_group: rg-keys
    principal: 11111111-2222-3333-4444-555555555555
    role: Key Vault Crypto Service Encryption User
    scope: vault

- name: Revoke
  sovereign.cmk.azure_hsm_role:
    key: https://kv-prod.vault.azure.net/keys/disk-cmk
    principal: 11111111-2222-3333-4444-555555555555
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
principal_id:
  description: The object id that gets (or loses) access.
  returned: always
  type: str
  sample: 11111111-2222-3333-4444-555555555555
key_id:
  description: Versionless identifier of the key.
  returned: always
  type: str
  sample: https://kv-prod.vault.azure.net/keys/disk-cmk
vault_id:
  description: Resource id of the vault or Managed HSM.
  returned: always
  type: str
  sample: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-prod
vault_kind:
  description: V(key_vault) or V(managed_hsm).
  returned: always
  type: str
  sample: key_vault
vault_access_model:
  description: V(rbac), V(access_policies) or V(local_rbac) (Managed HSM).
  returned: always
  type: str
  sample: rbac
scope:
  description: The scope of the managed grant (an ARM id, a Managed HSM scope such as C(/keys/disk-cmk), or the vault id
    for access policies).
  returned: always
  type: str
  sample: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-prod/keys/disk-cmk
role_definition_id:
  description: The role definition id of the managed assignment (V(null) for access policies).
  returned: always
  type: str
  sample: /subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6
role_name:
  description: The role name (V(null) for access policies).
  returned: always
  type: str
  sample: Key Vault Crypto Service Encryption User
assignment:
  description:
    - The managed role assignment after the task (V(null) when absent). In check mode a predicted assignment has
      RV(assignment.id) V(null).
  returned: when the vault uses Azure RBAC or is a Managed HSM
  type: dict
  contains:
    id:
      description: Assignment id.
      type: str
    name:
      description: Assignment name (a GUID).
      type: str
    scope:
      description: Assignment scope.
      type: str
    principal_id:
      description: Principal object id.
      type: str
    role_definition_id:
      description: Role definition id.
      type: str
access_policy:
  description: The principal's access policy entry after the task (V(null) when it has none).
  returned: when the vault uses access policies
  type: dict
  contains:
    object_id:
      description: Principal object id.
      type: str
    key_permissions:
      description: The key permissions of the entry.
      type: list
      elements: str
effective_access:
  description:
    - The principal's effective access to the key after the task (predicted in check mode).
  returned: always
  type: dict
  contains:
    principal_id:
      description: Principal object id.
      type: str
    key_id:
      description: Versionless key identifier.
      type: str
    model:
      description: V(rbac), V(access_policies) or V(local_rbac).
      type: str
    get:
      description: Whether the principal can read the key.
      type: bool
    wrap_key:
      description: Whether the principal can wrap with the key.
      type: bool
    unwrap_key:
      description: Whether the principal can unwrap with the key.
      type: bool
    sufficient:
      description: Whether it has all of get, wrapKey and unwrapKey.
      type: bool
    over_broad:
      description: Whether any grant is broader than needed (scope above the key, administrative role, extra permissions).
      type: bool
    grants:
      description: Each assignment or access policy that gives at least one of the three permissions.
      type: list
      elements: dict
      contains:
        source:
          description: V(role_assignment), V(hsm_role_assignment) or V(access_policy).
          type: str
        id:
          description: Assignment id (V(null) for an access policy).
          type: str
        name:
          description: Assignment name.
          type: str
        scope:
          description: Scope of the grant.
          type: str
        scope_level:
          description: V(key), V(keys), V(vault), V(resource_group), V(subscription), V(management_group) or V(root).
          type: str
        role_definition_id:
          description: Role definition id.
          type: str
        role_name:
          description: Role name when known.
          type: str
        permissions:
          description: Which of get, wrapKey, unwrapKey it gives.
          type: list
          elements: str
        extra_permissions:
          description: Permissions beyond the three.
          type: list
          elements: str
        over_broad:
          description: Whether this grant is broader than needed.
          type: bool
        reasons:
          description: Why it is broader than needed (and, for access policies, that they apply vault-wide).
          type: list
          elements: str
'''

from ansible_collections.sovereign.cmk.plugins.module_utils import _catalog
from ansible_collections.sovereign.cmk.plugins.module_utils._azure_module import AzureCMKModule


def main():
    azmod = AzureCMKModule(_catalog.role_argument_spec(), supports_check_mode=True)
    azmod.execute(_catalog.run_role, azmod, azmod.params)


if __name__ == '__main__':
    main()
