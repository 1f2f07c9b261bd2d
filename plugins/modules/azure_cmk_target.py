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
    versionless O(key) (or O(auto_rotation=true)) configures no version, so the account follows new key versions
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
    store is one the service supports; the identity holds get, wrapKey and unwrapKey on the key. Each broken link fails
    the task with its name (for example C(identity_access), C(purge_protection), C(key_expired)) and the fix, in
    RV(findings); nothing is written. Every broken link is reported in the same run (the identity link too when the
    task also fails for another reason, for example a running VM). O(grant_access=true) fixes the identity link (the code of
    M(sovereign.cmk.azure_hsm_role)).
  - B(Drift detection) - C(--check --diff) reports RV(compliant), RV(findings) and the before/after settings;
    C(changed) is true only when a real run would change something.
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
  key_vault:
    description: Resource id of the vault or Managed HSM holding O(key), when it should not be found by listing the vaults
      of the subscription.
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
  auto_rotation:
    description:
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
  - The resource must exist; this module does not create storage accounts, disks, VMs, clusters, container groups or
    instances.
  - A storage account's system-assigned identity must exist before it is used for the key (its access must be granted
    and verified before the key is set); or use a user-assigned identity.
  - For V(aks) the cluster identity also needs Reader on the DES (not checked).
requirements:
  - azure-mgmt-keyvault >= 12.0.0
  - azure-mgmt-authorization >= 4.0.0
  - azure-mgmt-storage >= 21.0.0 (storage_account)
  - azure-mgmt-compute >= 33.0.0 (managed_disk, virtual_machine)
  - azure-mgmt-containerservice >= 30.0.0 (aks)
  - azure-mgmt-containerinstance >= 10.1.0 (container_group)
  - azure-mgmt-sql >= 3.0.1 (sql_managed_instance)
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
    auto_rotation: true

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
compliant:
  description:
    - Whether the resource matches the request and its key chain is healthy, as it is at the end of the task (in check
      mode - as it is now, before the changes a real run would make).
  returned: always
  type: bool
findings:
  description:
    - What is wrong or differs. C(severity) V(error) is a broken link (the task fails before any write), V(drift) a
      difference (fixed by a real run, or needing recreation), V(warning) information.
  returned: always
  type: list
  elements: dict
  contains:
    link:
      description:
        - The failed link or setting, for example V(identity_access), V(purge_protection), V(soft_delete),
          V(key_expired), V(key_expiring), V(key_not_yet_valid), V(key_disabled), V(key_type), V(key_size),
          V(key_operations), V(key_store_unsupported), V(key_not_found), V(key_unverified), V(identity_missing),
          V(vm_running), V(region), V(azure_disk_encryption), V(requires_recreate), V(encryption_settings).
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
requires_recreate:
  description: Whether a create-time-only setting differs (AKS DES or node pool host encryption, ACI encryption). It is
    not applied unless the service has an opt-in (O(allow_recreate) for ACI).
  returned: always
  type: bool
changes:
  description: What a real run changes (or changed), for example V(key_version), V(identity), V(tde_protector),
    V(disk_encryption_set:<disk>), V(node_pool:<name>), V(recreated).
  returned: always
  type: list
  elements: str
before:
  description: The encryption settings before the task (shape per service).
  returned: always
  type: dict
after:
  description: The encryption settings after the task (predicted in check mode).
  returned: always
  type: dict
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

from ansible_collections.sovereign.cmk.plugins.module_utils import _des, _services
from ansible_collections.sovereign.cmk.plugins.module_utils._azure_module import AzureCMKModule
from ansible_collections.sovereign.cmk.plugins.module_utils._targets import _chain, adapters
from ansible_collections.sovereign.cmk.plugins.module_utils._targets._base import check_resource_id


def argument_spec():
    return dict(
        service=dict(type='str', required=True, choices=list(_services.TARGET_SERVICES)),
        resource_id=dict(type='str'),
        name=dict(type='str'),
        resource_group=dict(type='str'),
        key=dict(type='str', no_log=False),
        key_vault=dict(type='str', no_log=False),
        disk_encryption_set=dict(type='str'),
        identity=dict(type='str'),
        auto_rotation=dict(type='bool'),
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
    )


def validate(adapter, params, rules):
    """Errors that need no Azure call: key vs DES per service, options of other services, the adapter's own checks."""
    errors = []
    service = adapter.service
    if rules['key_reference'] == 'key':
        if not params.get('key'):
            errors.append('service=%s needs key (the key URI)' % service)
        if params.get('disk_encryption_set'):
            errors.append('service=%s takes the key directly: disk_encryption_set does not apply' % service)
    else:
        if params.get('key'):
            errors.append('service=%s uses a disk encryption set: set disk_encryption_set instead of key (the DES holds '
                          'the key)' % service)
        if not params.get('disk_encryption_set') and service != 'aks':
            errors.append('service=%s needs disk_encryption_set' % service)
        if params.get('disk_encryption_set'):
            errors.extend(check_resource_id(params['disk_encryption_set'], 'Microsoft.Compute', 'diskEncryptionSets',
                                            'disk_encryption_set'))
    for option in adapters.ALL_OPTIONS:
        if option not in adapter.options and params.get(option) not in (None, False):
            errors.append('%s does not apply to service=%s' % (option, service))
    if params.get('resource_id'):
        errors.extend(check_resource_id(params['resource_id'], adapter.namespace, adapter.resource_types[0]))
    errors.extend(adapter.validate(params, rules))
    return errors


def _des_chain(azmod, adapter, rules, params, current):
    """(des state, chain) for DES-based services; the DES's key is the key of the chain."""
    des_id = params.get('disk_encryption_set')
    if not des_id and adapter.service == 'aks':
        des_id = ((current['resource'].get('properties') or {}).get('diskEncryptionSetID'))
        if not des_id:
            return None, None
    des = _des.read_des(azmod, des_id)
    if des is None:
        azmod.fail('Disk encryption set %s does not exist' % des_id)
    if not des.get('key_url'):
        azmod.fail('Disk encryption set %s has no active key' % des_id)
    chain = _chain.resolve_chain_key(azmod, rules, des['key_url'], params.get('key_vault'),
                                     federated=_chain.is_federated(des.get('federated_client_id')))
    return des, chain


def plan_and_verify(azmod, adapter, params, current, chain, des, findings):
    """The adapter's plan, then the identity link of the chain; adds every finding to ``findings``.

    The identity link is checked whenever the key itself is sound, even when the adapter found another blocking
    problem (a running VM, ...), so that one run reports every broken link. Returns the plan.
    """
    ctx = {'chain': chain, 'des': des}
    planned = adapter.plan(current, params, ctx)
    key_broken = bool(_chain.blocking(findings))
    findings.extend(planned['findings'])
    if chain is not None and not key_broken:
        chain['findings'] = []
        _chain.check_identities(azmod, chain, adapter.principals(azmod, current, planned, ctx), params['grant_access'])
        findings.extend(chain['findings'])
        chain['findings'] = findings
    return planned


def main():
    azmod = AzureCMKModule(argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[('resource_id', 'name')],
                           required_one_of=[('resource_id', 'name')],
                           required_by={'name': ('resource_group',)})
    params = azmod.params
    adapter = adapters.get(params['service'])
    rules = adapter.rules(params)
    errors = validate(adapter, params, rules)
    if errors:
        azmod.fail('; '.join(errors))

    resource_id = adapter.resource_id(params, azmod.subscription_id)
    current = adapter.read(azmod, resource_id)
    if current is None:
        azmod.fail('%s %s does not exist (this module configures existing resources)' % (rules['title'], resource_id))

    des = None
    if rules['key_reference'] == 'key':
        chain = _chain.resolve_chain_key(azmod, rules, params['key'], params.get('key_vault'),
                                         federated=_chain.is_federated(params.get('federated_client_id')))
    else:
        des, chain = _des_chain(azmod, adapter, rules, params, current)
    findings = list(chain['findings']) if chain else []
    if chain and not _chain.blocking(findings) and chain['key'] is None and not chain['parsed']['version'] \
            and adapter.service in ('container_group', 'sql_managed_instance'):
        azmod.fail('The current version of key %s could not be read: give the versioned key URI' % chain['parsed']['id'],
                   findings=findings)

    planned = plan_and_verify(azmod, adapter, params, current, chain, des, findings)
    if _chain.blocking(findings):
        azmod.fail('%s %s: the key chain is broken or the change is not possible: %s'
                   % (rules['title'], current['parsed']['name'], _chain.summarize(_chain.blocking(findings))),
                   findings=findings, compliant=False, chain=_chain.chain_result(chain),
                   requires_recreate=bool(planned['recreate']), before=planned['before'])

    for reason in planned['recreate']:
        findings.append(_chain.finding('requires_recreate', reason, adapter.recreate_fix, _chain.DRIFT))
        azmod.warn('Requires recreate (not applied): %s' % reason)
    access_changed, access = _chain.apply_grants(azmod, chain) if chain else (False, [])
    changed = access_changed or bool(planned['changes'])
    # nothing to change: the settings stay as read (a --diff shows only real changes, never a respelling)
    after = planned['after'] if planned['changes'] else planned['before']
    if planned['changes']:
        if azmod.check_mode:
            findings.append(_chain.finding('encryption_settings', '%s %s differs: %s.' % (
                rules['title'], current['parsed']['name'], ', '.join(planned['changes'])),
                'Run the task without check mode.', _chain.DRIFT))
        else:
            adapter.apply(azmod, resource_id, current, planned, params)
            after = adapter.plan(adapter.read(azmod, resource_id), params, {'chain': chain, 'des': des})['before']
    if chain is not None:
        chain['findings'] = findings
    result = dict(
        id=current['resource'].get('id') or resource_id,
        service=adapter.service,
        compliant=not [f for f in findings if f['severity'] in (_chain.ERROR, _chain.DRIFT)],
        findings=findings,
        requires_recreate=bool(planned['recreate']) or 'recreated' in planned['changes'],
        changes=planned['changes'],
        access=access,
        chain=_chain.chain_result(chain),
    )
    if des is not None:
        fields = ('id', 'key_url', 'key_version', 'auto_key_rotation', 'encryption_type')
        result['disk_encryption_set'] = dict((k, des.get(k)) for k in fields)
    result.update(adapter.result_extras(current, dict(planned, after=after)))
    _chain.exit_with_states(azmod, changed, planned['before'], after, **result)


if __name__ == '__main__':
    main()
