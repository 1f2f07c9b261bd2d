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
    URI (by listing the vaults or HSMs of the subscription) or given with O(key_vault).
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
    working DES.
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
  key_vault:
    description:
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
  - azure-mgmt-compute >= 33.0.0
  - azure-mgmt-keyvault >= 12.0.0
  - azure-mgmt-authorization >= 4.0.0
  - azure-keyvault-administration >= 4.5.0 (Managed HSM keys with O(grant_access=true))
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
changes:
  description:
    - What the task changed (or, in check mode, would change) on the disk encryption set, for example V(created),
      V(key_url), V(auto_key_rotation), V(identity), V(tags); V(access) when it granted its identity access to the key.
  returned: always
  type: list
  elements: str
  sample: [key_url]
requires_recreate:
  description: Whether a requested create-time-only setting (encryption type, user-to-system identity switch) differs
    and was not applied.
  returned: always
  type: bool
compliant:
  description:
    - Whether the DES matches the request and its key chain is healthy, as it is at the end of the task (in check mode
      - as it is now).
  returned: always
  type: bool
findings:
  description:
    - What is wrong or differs. C(severity) V(error) is a broken key chain link (the task fails), V(drift) a difference a
      real run fixes or that needs recreation, V(warning) information.
  returned: always
  type: list
  elements: dict
  contains:
    link:
      description: The link or setting, for example V(identity_access), V(purge_protection), V(key_expired),
        V(key_disabled), V(key_type), V(key_size), V(key_operations), V(key_store_unsupported), V(requires_recreate),
        V(encryption_settings).
      type: str
    code:
      description: Same as RV(findings[].link).
      type: str
    severity:
      description: V(error), V(drift) or V(warning).
      type: str
    message:
      description: What is wrong.
      type: str
    fix:
      description: How to fix it.
      type: str
access:
  description: The access grants made (predicted in check mode) with O(grant_access=true).
  returned: always
  type: list
  elements: dict
chain:
  description: The key chain - the key (attributes of the version read), vault, purge protection and each identity's access.
  returned: when O(state=present)
  type: dict
before:
  description: Encryption settings before the task (V(null) when the DES did not exist).
  returned: always
  type: dict
after:
  description: Encryption settings after the task (predicted in check mode; V(null) when deleted).
  returned: always
  type: dict
'''

from ansible_collections.sovereign.cmk.plugins.module_utils import _access, _des
from ansible_collections.sovereign.cmk.plugins.module_utils._azure_module import AzureCMKModule
from ansible_collections.sovereign.cmk.plugins.module_utils._targets import _chain


def argument_spec():
    return dict(
        name=dict(type='str', required=True),
        resource_group=dict(type='str', required=True),
        location=dict(type='str'),
        key=dict(type='str', no_log=False),
        key_vault=dict(type='str', no_log=False),
        encryption_type=dict(type='str', choices=list(_des.ENCRYPTION_TYPES)),
        identity_type=dict(type='str', choices=list(_des.IDENTITY_TYPES)),
        user_assigned_identities=dict(type='list', elements='str'),
        auto_key_rotation=dict(type='bool'),
        federated_client_id=dict(type='str'),
        grant_access=dict(type='bool', default=False),
        tags=dict(type='dict'),
        purge_tags=dict(type='bool', default=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
    )


def _absent(azmod, params, resource_id, current):
    before = _des.settings(current)
    if current is not None and not azmod.check_mode:
        _des.delete(azmod, params['resource_group'], params['name'])
    _chain.exit_with_states(azmod, current is not None, before, None, id=resource_id, requires_recreate=False,
                            compliant=True, findings=[], access=[])


def _principals(azmod, current, planned_after):
    """The identities that must reach the key: existing ones, plus user-assigned identities being added."""
    principals = _des.des_principals(current)
    known = dict((k.lower(), v) for k, v in ((current or {}).get('user_assigned_identities') or {}).items())
    for uai in planned_after.get('user_assigned_identities') or []:
        if uai.lower() not in known:
            principals.append({'principal_id': _chain.resolve_identity_principal(azmod, uai),
                               'what': 'user-assigned identity %s' % uai})
    return principals


def main():
    azmod = AzureCMKModule(argument_spec(), supports_check_mode=True, required_if=[('state', 'present', ('key',))])
    params = azmod.params
    errors = _des.validate(params)
    if errors:
        azmod.fail('; '.join(errors))
    subscription = azmod.subscription_id
    resource_id = _des.des_id(subscription, params['resource_group'], params['name'])
    current = _des.read_des(azmod, resource_id)
    if params['state'] == 'absent':
        _absent(azmod, params, resource_id, current)
        return

    chain = _chain.resolve_chain_key(azmod, _des.RULES, params['key'], params.get('key_vault'),
                                     federated=_chain.is_federated(params.get('federated_client_id')))
    parsed = chain['parsed']
    key_url = parsed['id'] if parsed['version'] else (chain['key'] or {}).get('versioned_key_id')
    if not key_url and not _chain.blocking(chain['findings']):
        azmod.fail('The current version of key %s could not be read (%s): give the versioned key URL'
                   % (parsed['id'], _chain.summarize(chain['findings'])))
    source_vault = _des.source_vault_for(chain['vault'], subscription)
    if current is None and not params.get('location'):
        params['location'] = _des.resource_group_location(azmod, subscription, params['resource_group'])
    planned = _des.plan(current, params, key_url, source_vault)
    if not _chain.blocking(chain['findings']):
        _chain.check_identities(azmod, chain, _principals(azmod, current, planned['after']), params['grant_access'])
    findings = chain['findings']
    if _chain.blocking(findings):
        azmod.fail('The key chain of disk encryption set %s is broken: %s' % (params['name'], _chain.summarize(
            _chain.blocking(findings))), findings=findings, compliant=False, chain=_chain.chain_result(chain),
            requires_recreate=bool(planned['recreate']))

    new_system = ('SystemAssigned' in planned['after']['identity_type']
                  and not (current or {}).get('principal_id'))
    for reason in planned['recreate']:
        findings.append(_chain.finding('requires_recreate', reason, 'Recreate the disk encryption set.', _chain.DRIFT))
        azmod.warn('Requires recreate (not applied): %s' % reason)

    # Grants first (the service checks the identity's access when the key changes), then the DES.
    access_changed, access = _chain.apply_grants(azmod, chain)
    changed = access_changed or planned['body'] is not None
    state = current
    if planned['body'] is not None and not azmod.check_mode:
        _des.write(azmod, params['resource_group'], params['name'], planned)
        state = _des.read_des(azmod, resource_id)
    if new_system and chain['vault'] is not None:
        principal = (state or {}).get('principal_id') if not azmod.check_mode else None
        if params['grant_access']:
            if principal:
                did, _b, _a, details = _access.ensure_key_access(azmod, parsed['versionless_id'], principal,
                                                                 info=chain['vault'])
                changed = changed or did
                access.append({'principal_id': principal, 'what': 'new system-assigned identity', 'changed': did,
                               'scope': details.get('scope'), 'role_name': details.get('role_name'),
                               'grant': None})
            else:
                changed = True
                access.append({'principal_id': None, 'what': 'new system-assigned identity (created by this task)',
                               'changed': True, 'scope': None, 'role_name': None, 'grant': None})
        else:
            findings.append(_chain.finding(
                'identity_access', 'The system-assigned identity created for DES %s has no access to key %s yet.'
                % (params['name'], parsed['versionless_id']),
                'Set grant_access=true, or run sovereign.cmk.azure_hsm_role with principal=%s.' % resource_id,
                _chain.DRIFT))
    if azmod.check_mode and planned['body'] is not None:
        findings.append(_chain.finding('encryption_settings', 'Disk encryption set %s %s: %s.' % (
            params['name'], 'does not exist' if current is None else 'differs', ', '.join(planned['changes'])),
            'Run the task without check mode.', _chain.DRIFT))

    before = _des.settings(current)
    after = planned['after'] if azmod.check_mode else _des.settings(state)
    final = state if not azmod.check_mode else current
    final = final or {}
    users = final.get('user_assigned_identities') or {}
    principal_ids = [p for p in [final.get('principal_id')] + [v.get('principal_id') for v in users.values()] if p]
    compliant = not [f for f in findings if f['severity'] in (_chain.ERROR, _chain.DRIFT)]
    _chain.exit_with_states(
        azmod, changed, before, after,
        id=final.get('id') or resource_id,
        principal_id=final.get('principal_id'),
        principal_ids=principal_ids,
        user_assigned_identities=users,
        key_url=after.get('key_url') if after else None,
        key_version=_chain.key_version(after.get('key_url') if after else None),
        auto_key_rotation=after.get('auto_key_rotation') if after else None,
        encryption_type=after.get('encryption_type') if after else None,
        requires_recreate=bool(planned['recreate']),
        changes=list(planned['changes']) + (['access'] if any(a.get('changed') for a in access) else []),
        compliant=compliant,
        findings=findings,
        access=access,
        chain=_chain.chain_result(chain),
    )


if __name__ == '__main__':
    main()
