#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: azure_cmk_key
short_description: Customer-managed key in Azure Key Vault Premium or Managed HSM
version_added: 0.1.0
description:
  - Ensures that a customer-managed key (CMK) for encryption at rest exists as specified in an Azure Key Vault or
    Managed HSM, and returns everything a consumer needs (versionless and versioned key id, vault kind, purge protection).
  - Manages the key type and size, key operations, enabled flag, activation and expiry date, tags and the key
    rotation policy; rotates the key on demand; soft-deletes (and, only when asked, purges) it.
  - Checks the vault prerequisites of customer-managed keys before any change - soft delete and purge protection on,
    and a Premium vault (or a Managed HSM) for HSM-protected keys - and fails with a message naming the fix
    (purge protection can be turned on with O(enable_purge_protection)).
  - B(Why the data plane.) The key is managed with the Key Vault data plane (azure-keyvault-keys), not with the
    Resource Manager C(Microsoft.KeyVault/vaults/keys) resource, because its PUT only creates a key that does not exist
    yet and returns an existing key unchanged, so it cannot update attributes, create versions (rotate) or set the
    rotation policy of an existing key. The vault or HSM itself (SKU, soft delete, purge protection, RBAC or access
    policies) is read from Resource Manager. The identity running the task therefore needs a data-plane permission
    on the keys (for example Key Vault Crypto Officer, an access policy with key management permissions, or Managed
    HSM Crypto Officer/User) in addition to read access to the vault resource.
  - Attributes that the task does not set are left alone on an existing key.
author:
  - sovereign.cmk maintainers (@sovereign-cmk)
options:
  vault:
    description:
      - The Key Vault or Managed HSM that holds the key.
      - A resource id (C(/subscriptions/.../providers/Microsoft.KeyVault/vaults/<name>) or
        C(.../Microsoft.KeyVault/managedHSMs/<name>)), a name together with O(resource_group), or the data-plane URI
        (V(https://<name>.vault.azure.net), V(https://<name>.managedhsm.azure.net), or the sovereign cloud suffixes).
      - Key Vault and Managed HSM are told apart by the resource type or the host name, never by the public cloud suffix.
      - For a URI, the vault resource is found in O(resource_group) when given, otherwise by listing the vaults (or
        HSMs) of the subscription.
    type: str
    required: true
  resource_group:
    description:
      - The resource group of the vault. Required when O(vault) is a name; optional (saves a subscription-wide
        listing) when O(vault) is a URI.
    type: str
  name:
    description:
      - The key name (1-127 letters, digits and dashes).
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the key. V(absent) soft-deletes it (it stays recoverable for the vault's
        retention period); add O(purge=true) to purge it as well.
      - A key in the soft-deleted state is recovered by V(present) rather than created again.
      - The rotation policy of a deleted key cannot be read. With O(rotation_policy) set, the requested sub-options
        are validated before the recovery and the policy merged with the recovered key's policy is validated after
        it, before it is written; when that merge is invalid the task fails with a message that the key was recovered
        and its rotation policy left unchanged. After a recovery the policy is always written (V(rotation_policy_updated) in RV(changes)
        is V(true), in check mode too).
    type: str
    default: present
    choices: [present, absent]
  key_type:
    description:
      - V(RSA-HSM) (HSM-protected) or V(RSA) (software-protected). Other key types (EC, oct) are rejected with an
        error because Azure services accept only RSA customer-managed keys.
      - Defaults to V(RSA-HSM) when the key is created. V(RSA-HSM) in a Key Vault needs the Premium SKU.
      - A Managed HSM only holds HSM-protected keys, so V(RSA) fails for a Managed HSM (use V(RSA-HSM)).
      - When the existing key has another type, a new key version with this type is created (the type of a key
        version cannot change).
    type: str
  key_size:
    description:
      - RSA key size in bits, 2048, 3072 or 4096 (other sizes fail). Defaults to V(3072) when the key is created.
      - When the existing key has another size, a new key version with this size is created.
    type: int
  key_operations:
    description:
      - Permitted key operations. Must include V(wrapKey) and V(unwrapKey) (services wrap their data encryption key).
      - Defaults to V(wrapKey) and V(unwrapKey) when the key is created; an existing key's operations are left alone
        when not set. Order does not matter.
    type: list
    elements: str
  enabled:
    description:
      - Whether the key (its current version) is enabled. New keys are enabled unless V(false).
      - Disabling a key in use makes the services that use it lose access to their data.
    type: bool
  not_before:
    description:
      - Activation date-time (ISO 8601, for example V(2026-01-01T00:00:00Z) or V(2026-01-01)) of the current version.
      - A date in the future is accepted (a key prepared in advance) with a warning that services cannot use the key
        until then.
    type: str
  expires:
    description:
      - Expiry of the current key version, absolute (ISO 8601 date-time, for example V(2028-01-31T00:00:00Z)) or
        relative (ISO 8601 duration, for example V(P2Y) or V(P18M)).
      - A relative expiry counts from the creation time of the current key version, not from the time the task
        runs, so that the task stays idempotent; it is met when the expiry is within one hour of that target.
        After a rotation the new version gets its expiry from the rotation policy
        (O(rotation_policy.expiry_time)); a relative O(expires) then applies to the new version.
      - An expired key makes the services that use it lose access to their data (VMs shut down, databases become
        inaccessible), so the task fails before any change, in check mode too, when it would set an expiry in the
        past - an absolute date in the past, or a relative expiry that, counted from the creation of an existing
        version, is already over (use O(rotate=true) to create a new version whose relative expiry counts from now,
        or an absolute date).
      - An expiry cannot be removed with this module.
    type: str
  tags:
    description:
      - Tags of the key. Not changed when not set.
    type: dict
  purge_tags:
    description:
      - With V(true), tags not listed in O(tags) are removed; with V(false) they are kept. Only used when O(tags) is set.
    type: bool
    default: true
  rotation_policy:
    description:
      - The key's automatic rotation policy. Sub-options that are not set keep their current value.
      - A key has one rotation trigger, O(rotation_policy.rotate_after_create) or
        O(rotation_policy.rotate_before_expiry); setting one replaces the other.
      - Durations are ISO 8601 (V(P90D), V(P18M), V(P2Y), V(PT12H)). Triggers are at least 7 days. Key Vault and
        Managed HSM add a notification 30 days before expiry when none is given.
    type: dict
    suboptions:
      rotate_after_create:
        description:
          - Rotate automatically this long after a version is created (at least V(P7D)).
        type: str
      rotate_before_expiry:
        description:
          - Rotate automatically this long before a version expires (at least V(P7D)). Needs O(rotation_policy.expiry_time).
        type: str
      notify_before_expiry:
        description:
          - Send an Event Grid "near expiry" notification this long before a version expires (at least V(P7D)).
            Needs O(rotation_policy.expiry_time).
        type: str
      expiry_time:
        description:
          - The expiry given to new versions created by rotation, as a duration from their creation.
          - At least V(P28D) (Key Vault and Managed HSM). Triggers must be shorter than this.
        type: str
  rotate:
    description:
      - With V(true), creates a new key version (rotation) on every run; the task then reports a change.
      - The new version keeps the key type, size, operations and tags, is enabled, has no O(not_before), and expires
        O(rotation_policy.expiry_time) after its creation (no expiry when the policy has none); O(not_before) and
        O(expires), when set, are then applied to it.
      - Never done in check mode (check mode reports that a new version would be created).
      - Not done right after the key is created by the same task.
    type: bool
    default: false
  enable_purge_protection:
    description:
      - With V(true), turns purge protection on for the vault or HSM when it is off (irreversible). Purge
        protection is never turned off.
      - With V(false) (default), a vault without purge protection makes the task fail with a message naming the fix.
    type: bool
    default: false
  purge:
    description:
      - With O(state=absent), also purge the deleted key (irreversible). Fails before any change when the vault has
        purge protection, which forbids purging. Only valid with O(state=absent).
    type: bool
    default: false
extends_documentation_fragment:
  - sovereign.cmk.azure
attributes:
  check_mode:
    description: Predicts the result, including the diff, with read requests only.
    support: full
    details:
      - The version of a key that would be created or rotated is not known in check mode
        (RV(versioned_key_id) and RV(version) are V(null)).
  diff_mode:
    description: Shows the key attributes, the rotation policy and the vault's purge protection before and after.
    support: full
  idempotent:
    description: A second run with the same options changes nothing and sends no write request.
    support: partial
    details:
      - O(rotate=true) creates a new version on every run by design.
      - A relative O(expires) is compared with a one-hour tolerance.
notes:
  - The identity running the task needs read access to the vault resource (for example Reader) and, on the data
    plane, permission to read, create and update keys and their rotation policy (Key Vault Crypto Officer, an
    access policy with C(get), C(create), C(update), C(rotate), C(getrotationpolicy), C(setrotationpolicy), C(delete),
    C(recover) and C(purge) as needed, or Managed HSM Crypto Officer).
  - O(enable_purge_protection) needs write access to the vault resource (for example Key Vault Contributor).
requirements:
  - azure-keyvault-keys >= 4.10.0
seealso:
  - module: sovereign.cmk.azure_hsm_role
    description: Give an identity get/wrapKey/unwrapKey on the key.
  - name: Customer-managed keys overview
    description: Requirements Azure services place on customer-managed keys.
    link: https://learn.microsoft.com/azure/storage/common/customer-managed-keys-overview
  - name: Configure key auto-rotation in Azure Key Vault
    description: Rotation policy rules.
    link: https://learn.microsoft.com/azure/key-vault/keys/how-to-configure-key-rotation
'''

EXAMPLES = r'''
- name: HSM-protected 3072-bit key with a rotation policy, in a Premium vault
  sovereign.cmk.azure_cmk_key:
    vault: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-prod
    name: storage-cmk
    expires: P2Y
    rotation_policy:
      rotate_after_create: P18M
      notify_before_expiry: P30D
      expiry_time: P2Y
    tags:
      owner: platform
  register: cmk

- name: Use the versionless key id so the service follows rotations
  ansible.builtin.debug:
    msg: "{{ cmk.key_id }}"

- name: Key in a Managed HSM named by its URI, turning purge protection on if needed
  sovereign.cmk.azure_cmk_key:
    vault: https://hsm-prod.managedhsm.azure.net
    resource_group: rg-keys
    name: disk-cmk
    key_size: 4096
    enable_purge_protection: true
    rotation_policy:
      rotate_before_expiry: P30D
      expiry_time: P1Y

- name: Rotate now (creates a new version)
  sovereign.cmk.azure_cmk_key:
    vault: kv-prod
    resource_group: rg-keys
    name: storage-cmk
    rotate: true

- name: Soft-delete a key
  sovereign.cmk.azure_cmk_key:
    vault: https://kv-prod.vault.azure.net
    name: old-cmk
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
key_id:
  description:
    - Versionless key identifier. Give it to services that should follow rotations automatically.
  returned: when O(state=present)
  type: str
  sample: https://kv-prod.vault.azure.net/keys/storage-cmk
versioned_key_id:
  description:
    - Identifier of the current key version.
    - V(null) in check mode when the task would create the key or a new version.
  returned: when O(state=present)
  type: str
  sample: https://kv-prod.vault.azure.net/keys/storage-cmk/0123456789abcdef0123456789abcdef
version:
  description: Current key version (V(null) in check mode when a new version would be created).
  returned: when O(state=present)
  type: str
  sample: 0123456789abcdef0123456789abcdef
key_type:
  description: Key type of the current version.
  returned: when O(state=present)
  type: str
  sample: RSA-HSM
key_size:
  description: RSA key size in bits.
  returned: when O(state=present)
  type: int
  sample: 3072
key_operations:
  description: Permitted operations.
  returned: when O(state=present)
  type: list
  elements: str
  sample: [wrapKey, unwrapKey]
enabled:
  description: Whether the current version is enabled.
  returned: when O(state=present)
  type: bool
  sample: true
not_before:
  description: Activation date-time (ISO 8601 UTC), V(null) when none.
  returned: when O(state=present)
  type: str
  sample: '2026-01-01T00:00:00Z'
expires:
  description: Expiry date-time (ISO 8601 UTC), V(null) when none.
  returned: when O(state=present)
  type: str
  sample: '2028-01-31T00:00:00Z'
created:
  description: Creation date-time of the current version (ISO 8601 UTC).
  returned: when O(state=present)
  type: str
  sample: '2026-01-31T10:00:00Z'
tags:
  description: Tags of the key.
  returned: when O(state=present)
  type: dict
  sample: {owner: platform}
rotation_policy:
  description:
    - The key rotation policy, V(null) when the key has none or it cannot be read (a warning says so).
  returned: when O(state=present)
  type: dict
  contains:
    rotate_after_create:
      description: Automatic rotation this long after creation.
      type: str
      sample: P18M
    rotate_before_expiry:
      description: Automatic rotation this long before expiry.
      type: str
      sample: P30D
    notify_before_expiry:
      description: Near-expiry notification this long before expiry.
      type: str
      sample: P30D
    expiry_time:
      description: Expiry of new versions, from their creation.
      type: str
      sample: P2Y
vault_kind:
  description: V(key_vault) or V(managed_hsm).
  returned: always
  type: str
  sample: key_vault
vault_id:
  description: Resource id of the vault or Managed HSM.
  returned: always
  type: str
  sample: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-prod
vault_uri:
  description: Data-plane URI of the vault or Managed HSM (no trailing slash).
  returned: always
  type: str
  sample: https://kv-prod.vault.azure.net
purge_protection:
  description: Whether purge protection is on (after the task, or as predicted in check mode).
  returned: always
  type: bool
  sample: true
vault_access_model:
  description:
    - How access to keys is granted. V(rbac) (Azure RBAC), V(access_policies) (vault access policies) or
      V(local_rbac) (Managed HSM local RBAC).
  returned: always
  type: str
  sample: rbac
'''

from ansible_collections.sovereign.cmk.plugins.module_utils import _catalog
from ansible_collections.sovereign.cmk.plugins.module_utils._azure_module import AzureCMKModule


def main():
    azmod = AzureCMKModule(_catalog.key_argument_spec(), supports_check_mode=True)
    azmod.execute(_catalog.run_key, azmod, azmod.params)


if __name__ == '__main__':
    main()
