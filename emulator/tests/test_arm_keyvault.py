"""Microsoft.KeyVault vaults and managed HSMs, user-assigned identities, paging, through the real SDKs."""
from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.keyvault.models import (AccessPolicyEntry, AccessPolicyUpdateKind, ManagedHsm, ManagedHsmProperties,
                                        ManagedHsmSku, Permissions, VaultAccessPolicyParameters,
                                        VaultAccessPolicyProperties, VaultPatchParameters, VaultPatchProperties)

from conftest import RG, SUBSCRIPTION_ID, TENANT_ID, requests_log, vault_parameters


def _policy(object_id: str, *keys: str) -> AccessPolicyEntry:
    return AccessPolicyEntry(tenant_id=TENANT_ID, object_id=object_id, permissions=Permissions(keys_property=list(keys)))


def _update_policies(kv_mgmt, kind: str, *entries: AccessPolicyEntry):
    parameters = VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=list(entries)))
    return kv_mgmt.vaults.update_access_policy(RG, "kv1", AccessPolicyUpdateKind(kind), parameters)


def test_vault_create_get_update(emu, kv_mgmt):
    vault = kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters()).result()
    assert vault.properties.vault_uri == "https://kv1.vault.azure.net/"
    assert vault.properties.enable_rbac_authorization is True
    assert vault.properties.enable_soft_delete is True
    assert vault.properties.soft_delete_retention_in_days == 90
    assert vault.properties.provisioning_state == "Succeeded"
    patch = VaultPatchParameters(properties=VaultPatchProperties(enable_purge_protection=True), tags={"env": "t"})
    updated = kv_mgmt.vaults.update(RG, "kv1", patch)
    assert updated.properties.enable_purge_protection is True and updated.tags == {"env": "t"}
    fetched = kv_mgmt.vaults.get(RG, "kv1")
    assert fetched.id.endswith("/providers/Microsoft.KeyVault/vaults/kv1")
    assert [v.name for v in kv_mgmt.vaults.list()] == ["kv1"]
    assert [v.name for v in kv_mgmt.vaults.list_by_resource_group(RG)] == ["kv1"]


def test_purge_protection_cannot_be_disabled(emu, kv_mgmt):
    with pytest.raises(HttpResponseError) as error:
        kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters(enable_purge_protection=False)).result()
    assert error.value.status_code == 400
    assert "cannot be set to false" in error.value.message
    kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters(enable_purge_protection=True)).result()
    with pytest.raises(HttpResponseError):
        kv_mgmt.vaults.update(RG, "kv1", VaultPatchParameters(
            properties=VaultPatchProperties(enable_purge_protection=False)))
    again = kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters()).result()
    assert again.properties.enable_purge_protection is True


def test_vault_validation(emu, kv_mgmt):
    with pytest.raises(HttpResponseError) as error:
        kv_mgmt.vaults.begin_create_or_update(RG, "k", vault_parameters()).result()
    assert error.value.error.code == "VaultNameNotValid"
    with pytest.raises(HttpResponseError) as error:
        kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters(soft_delete_retention_in_days=3)).result()
    assert error.value.status_code == 400


def test_access_policies_add_replace_remove(emu, kv_mgmt):
    kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters(enable_rbac_authorization=False)).result()
    result = _update_policies(kv_mgmt, "add", _policy("oid1", "get", "wrapKey"))
    assert result.properties.access_policies[0].object_id == "oid1"
    _update_policies(kv_mgmt, "add", _policy("oid1", "unwrapKey", "get"), _policy("oid2", "list"))
    policies = {p.object_id: p.permissions.keys_property for p in kv_mgmt.vaults.get(RG, "kv1").properties.access_policies}
    assert policies == {"oid1": ["get", "wrapKey", "unwrapKey"], "oid2": ["list"]}
    _update_policies(kv_mgmt, "replace", _policy("oid1", "get"))
    _update_policies(kv_mgmt, "remove", _policy("oid2", "list"))
    policies = {p.object_id: p.permissions.keys_property for p in kv_mgmt.vaults.get(RG, "kv1").properties.access_policies}
    assert policies == {"oid1": ["get"]}


def test_not_found_errors(emu, kv_mgmt):
    with pytest.raises(ResourceNotFoundError) as error:
        kv_mgmt.vaults.get(RG, "missing")
    assert error.value.error.code == "ResourceNotFound"
    assert "The Resource 'Microsoft.KeyVault/vaults/missing' under resource group 'rg1' was not found" in error.value.message
    with pytest.raises(ResourceNotFoundError) as error:
        kv_mgmt.vaults.get("nogroup", "missing")
    assert error.value.error.code == "ResourceGroupNotFound"


def test_soft_delete_and_purge(emu, kv_mgmt):
    kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters()).result()
    kv_mgmt.vaults.delete(RG, "kv1")
    deleted = kv_mgmt.vaults.get_deleted("kv1", "eastus")
    assert deleted.properties.vault_id.endswith("/vaults/kv1")
    assert [d.name for d in kv_mgmt.vaults.list_deleted()] == ["kv1"]
    with pytest.raises(ResourceExistsError):
        kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters()).result()
    kv_mgmt.vaults.begin_purge_deleted("kv1", "eastus").result()
    assert list(kv_mgmt.vaults.list_deleted()) == []
    kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters()).result()


def test_global_vault_names(emu, kv_mgmt):
    emu.load_seed({"resources": [{"id": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg2", "body": {"location": "westus"}}]})
    kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters()).result()
    with pytest.raises(ResourceExistsError) as error:
        kv_mgmt.vaults.begin_create_or_update("rg2", "kv1", vault_parameters()).result()
    assert error.value.error.code == "VaultAlreadyExists"
    assert kv_mgmt.vaults.check_name_availability({"name": "kv1", "type": "Microsoft.KeyVault/vaults"}).name_available is False


def test_paging_with_next_link(emu, kv_mgmt):
    emu.state.settings.page_size = 2
    for index in range(5):
        kv_mgmt.vaults.begin_create_or_update(RG, f"kv{index}", vault_parameters()).result()
    emu.services.log.clear()
    assert sorted(v.name for v in kv_mgmt.vaults.list_by_resource_group(RG)) == [f"kv{i}" for i in range(5)]
    pages = requests_log(emu, method="GET")
    assert len(pages) == 3 and "skiptoken=4" in pages[-1]["query"]
    assert len(list(kv_mgmt.vaults.list(top=4))) == 5


def test_managed_hsm_create_polls_lro(emu, kv_mgmt):
    hsm = ManagedHsm(location="eastus", sku=ManagedHsmSku(family="B", name="Standard_B1"),
                     properties=ManagedHsmProperties(tenant_id=TENANT_ID, initial_admin_object_ids=["oid1"],
                                                     enable_purge_protection=True))
    # The SDK polls in a background thread: hold the operation so that the GET below sees it in progress
    # however slow the machine is (and no wall-clock completion either).
    emu.state.settings.update({"lro_hold": True, "lro_timeout": None})
    poller = kv_mgmt.managed_hsms.begin_create_or_update(RG, "hsm1", hsm)
    assert kv_mgmt.managed_hsms.get(RG, "hsm1").properties.provisioning_state == "Provisioning"
    assert not poller.done()
    emu.state.settings.lro_hold = False
    result = poller.result()
    assert result.properties.hsm_uri == "https://hsm1.managedhsm.azure.net/"
    assert result.properties.provisioning_state == "Succeeded"
    monitors = [e["status"] for e in requests_log(emu, method="GET") if "/operationResults/" in e["path"]]
    # in progress while held (as often as the poller asked), then lro_polls (1) more time, then done
    assert monitors[-2:] == [202, 200] and set(monitors[:-1]) == {202}
    kv_mgmt.managed_hsms.begin_delete(RG, "hsm1").result()
    assert [h.name for h in kv_mgmt.managed_hsms.list_deleted()] == ["hsm1"]


def test_operations_nobody_polls_complete_after_lro_timeout(emu, kv_mgmt):
    hsm = ManagedHsm(location="eastus", sku=ManagedHsmSku(family="B", name="Standard_B1"),
                     properties=ManagedHsmProperties(tenant_id=TENANT_ID, initial_admin_object_ids=["oid1"],
                                                     enable_purge_protection=True))
    emu.state.settings.lro_timeout = None  # never on their own
    kv_mgmt.managed_hsms.begin_create_or_update(RG, "hsm1", hsm, polling=False)  # the PUT only, nobody polls
    assert kv_mgmt.managed_hsms.get(RG, "hsm1").properties.provisioning_state == "Provisioning"
    emu.state.settings.update({"lro_timeout": 0, "lro_hold": True})  # held operations do not time out
    assert kv_mgmt.managed_hsms.get(RG, "hsm1").properties.provisioning_state == "Provisioning"
    emu.state.settings.lro_hold = False  # 0 s: the next request completes every operation started before it
    assert kv_mgmt.managed_hsms.get(RG, "hsm1").properties.provisioning_state == "Succeeded"
    assert not [e for e in requests_log(emu) if "/operationResults/" in e["path"]]


def test_user_assigned_identity_becomes_a_principal(emu, credential):
    from azure.mgmt.msi import ManagedServiceIdentityClient
    client = ManagedServiceIdentityClient(credential, SUBSCRIPTION_ID)
    identity = client.user_assigned_identities.create_or_update(RG, "uai1", {"location": "eastus"})
    assert identity.tenant_id == TENANT_ID and identity.principal_id and identity.client_id
    assert emu.state.principal(identity.principal_id).resource_id == identity.id
    again = client.user_assigned_identities.create_or_update(RG, "uai1", {"location": "eastus", "tags": {"a": "b"}})
    assert again.principal_id == identity.principal_id and again.tags == {"a": "b"}
