"""Microsoft.Storage storage accounts with customer-managed keys."""
from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from cmk_helpers import LOCATION, grant, rotate_key, seed_key, seed_uai, seed_vault, vault_id
from conftest import RG, RG_ID, SUBSCRIPTION_ID, requests_log


@pytest.fixture
def storage(credential):
    from azure.mgmt.storage import StorageManagementClient
    return StorageManagementClient(credential, SUBSCRIPTION_ID)


def cmk_encryption(env, key="k1", version=None, vault="kv1", uai=True):
    encryption = {"keySource": "Microsoft.Keyvault",
                  "keyvaultproperties": {"keyname": key, "keyvaulturi": f"https://{vault}.vault.azure.net/"},
                  "services": {"blob": {"enabled": True, "keyType": "Account"}}}
    if version:
        encryption["keyvaultproperties"]["keyversion"] = version
    if uai:
        encryption["identity"] = {"userAssignedIdentity": env.uai_id}
    return encryption


def account_body(env, encryption=None, identity=None):
    body = {"sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": LOCATION,
            "identity": identity or {"type": "UserAssigned", "userAssignedIdentities": {env.uai_id: {}}},
            "properties": {}}
    if encryption is not None:
        body["properties"]["encryption"] = encryption
    return body


def test_create_with_cmk_follows_latest_version(emu, cmk_env, storage):
    account = storage.storage_accounts.begin_create(RG, "sa1", account_body(cmk_env, cmk_encryption(cmk_env))).result()
    kvp = account.encryption.key_vault_properties
    assert account.encryption.key_source == "Microsoft.Keyvault"
    assert account.encryption.encryption_identity.encryption_user_assigned_identity == cmk_env.uai_id
    assert kvp.key_name == "k1" and kvp.key_version in ("", None)
    assert kvp.current_versioned_key_identifier == cmk_env.key_url
    assert kvp.last_key_rotation_timestamp is not None
    assert account.provisioning_state == "Succeeded"
    codes = [e["status"] for e in requests_log(emu)
             if "storageAccounts/sa1" in e["path"] or "operationResults" in e["path"]]
    assert codes[0] == 202 and codes[-1] == 200
    newer = rotate_key(emu)
    rotated = storage.storage_accounts.get_properties(RG, "sa1").encryption.key_vault_properties
    assert rotated.current_versioned_key_identifier == newer
    assert [a.name for a in storage.storage_accounts.list_by_resource_group(RG)] == ["sa1"]
    assert [a.name for a in storage.storage_accounts.list()] == ["sa1"]


def test_pinned_version_and_update_paths(emu, cmk_env, storage):
    storage.storage_accounts.begin_create(RG, "sa1", account_body(cmk_env)).result()
    assert storage.storage_accounts.get_properties(RG, "sa1").encryption.key_source == "Microsoft.Storage"
    version = cmk_env.key_url.rsplit("/", 1)[1]
    emu.services.log.clear()
    updated = storage.storage_accounts.update(RG, "sa1", {"properties": {
        "encryption": cmk_encryption(cmk_env, version=version)}})
    assert [e["status"] for e in requests_log(emu, method="PATCH")] == [200]
    assert updated.encryption.key_vault_properties.key_version == version
    rotate_key(emu)
    pinned = storage.storage_accounts.get_properties(RG, "sa1").encryption.key_vault_properties
    assert pinned.current_versioned_key_identifier == cmk_env.key_url  # pinned: no auto-rotation
    back = storage.storage_accounts.update(RG, "sa1", {"properties": {"encryption": {
        "keySource": "microsoft.storage"}}})
    assert back.encryption.key_source == "Microsoft.Storage" and back.encryption.key_vault_properties is None


def test_cmk_at_creation_requires_user_assigned_identity(emu, cmk_env, storage):
    body = account_body(cmk_env, cmk_encryption(cmk_env, uai=False), identity={"type": "SystemAssigned"})
    with pytest.raises(HttpResponseError) as error:
        storage.storage_accounts.begin_create(RG, "sa1", body).result()
    assert error.value.status_code == 400
    assert "Missing pre-requisites to enable EncryptionAtRest/Customer Managed Key" in error.value.error.message
    assert emu.state.resources.get(f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/sa1") is None


def test_existing_account_can_use_system_assigned_identity(emu, cmk_env, storage):
    account = storage.storage_accounts.begin_create(RG, "sa1", account_body(
        cmk_env, identity={"type": "SystemAssigned"})).result()
    principal = account.identity.principal_id
    assert emu.state.principal(principal) is not None
    with pytest.raises(HttpResponseError) as error:
        storage.storage_accounts.update(RG, "sa1", {"properties": {"encryption": cmk_encryption(cmk_env, uai=False)}})
    assert error.value.error.code == "KeyVaultAuthenticationFailure"
    grant(emu, principal, cmk_env.vault["id"])
    updated = storage.storage_accounts.update(RG, "sa1", {"properties": {
        "encryption": cmk_encryption(cmk_env, uai=False)}})
    assert updated.encryption.key_vault_properties.current_versioned_key_identifier == cmk_env.key_url
    both = storage.storage_accounts.update(RG, "sa1", {"identity": {
        "type": "SystemAssigned,UserAssigned", "userAssignedIdentities": {cmk_env.uai_id: {}}}})
    assert both.identity.type == "SystemAssigned,UserAssigned" and both.identity.principal_id == principal


@pytest.mark.parametrize("case", ["no_access", "no_purge", "ec", "small", "missing", "unknown_uai"])
def test_cmk_rules(emu, cmk_env, storage, case):
    encryption, identity = cmk_encryption(cmk_env), None
    if case == "no_access":
        other = seed_uai(emu, "uai2")
        identity = {"type": "UserAssigned", "userAssignedIdentities": {other["id"]: {}}}
        encryption["identity"] = {"userAssignedIdentity": other["id"]}
    elif case == "no_purge":
        seed_vault(emu, "kv2", purge_protection=False)
        seed_key(emu, "kv2", "k1")
        grant(emu, cmk_env.uai_principal, vault_id("kv2"))
        encryption = cmk_encryption(cmk_env, vault="kv2")
    elif case == "ec":
        seed_key(emu, name="ec1", kty="EC", size=None)
        encryption = cmk_encryption(cmk_env, key="ec1")
    elif case == "small":
        seed_key(emu, name="small", size=1024)
        encryption = cmk_encryption(cmk_env, key="small")
    elif case == "missing":
        encryption = cmk_encryption(cmk_env, key="nokey")
    else:
        encryption["identity"] = {"userAssignedIdentity": seed_uai(emu, "uai3")["id"]}
    expected = {"no_access": "KeyVaultAuthenticationFailure",
                "no_purge": "KeyVaultPolicyError",
                "ec": "KeyVaultKeyTypeNotSupported", "small": "KeyVaultKeyTypeNotSupported",
                "missing": "KeyVaultKeyNotFound", "unknown_uai": "InvalidEncryptionIdentity"}[case]
    with pytest.raises(HttpResponseError) as error:
        storage.storage_accounts.begin_create(RG, "sa1", account_body(cmk_env, encryption, identity)).result()
    assert error.value.status_code == 400 and error.value.error.code == expected
    if case == "no_purge":  # Azure/azure-cli#12346, #17914
        assert error.value.error.message == "Keyvault policy recoverable is not set"


def test_cmk_without_keyvault_properties(emu, cmk_env, storage):
    encryption = cmk_encryption(cmk_env)
    del encryption["keyvaultproperties"]
    with pytest.raises(HttpResponseError) as error:
        storage.storage_accounts.begin_create(RG, "sa1", account_body(cmk_env, encryption)).result()
    assert error.value.status_code == 400 and error.value.error.code == "MissingKeyvaultProperties"
    assert error.value.error.message == "The encryption keyvault properties are missing from the request."


def test_names(emu, cmk_env, storage):
    with pytest.raises(HttpResponseError) as error:
        storage.storage_accounts.begin_create(RG, "Bad_Name", account_body(cmk_env)).result()
    assert error.value.error.code == "AccountNameInvalid"
    storage.storage_accounts.begin_create(RG, "sa1", account_body(cmk_env)).result()
    rg2 = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg2"
    emu.load_seed({"resources": [{"id": rg2, "body": {"location": LOCATION}}]})
    with pytest.raises(ResourceExistsError) as error:
        storage.storage_accounts.begin_create("rg2", "sa1", account_body(cmk_env)).result()
    assert error.value.error.code == "StorageAccountAlreadyTaken"
    wanted = {"name": "sa1", "type": "Microsoft.Storage/storageAccounts"}
    assert storage.storage_accounts.check_name_availability(wanted).name_available is False
    storage.storage_accounts.delete(RG, "sa1")
    assert storage.storage_accounts.check_name_availability(wanted).name_available is True


def _keys(result) -> dict:
    listed = getattr(result, "keys_property", None) or result.keys  # azure-mgmt-storage 25 names it keys_property
    return {key.key_name: key for key in listed}


def test_list_and_regenerate_keys(emu, cmk_env, storage):
    account = storage.storage_accounts.begin_create(RG, "sa1", account_body(cmk_env)).result()
    emu.services.log.clear()
    keys = _keys(storage.storage_accounts.list_keys(RG, "sa1"))
    assert sorted(keys) == ["key1", "key2"]
    assert all(k.permissions == "Full" and len(k.value) == 88 and k.creation_time for k in keys.values())
    assert keys["key1"].value != keys["key2"].value
    again = _keys(storage.storage_accounts.list_keys(RG, "sa1"))
    assert {n: k.value for n, k in again.items()} == {n: k.value for n, k in keys.items()}
    assert account.key_creation_time.key1 == keys["key1"].creation_time
    log = requests_log(emu, method="POST")
    assert [e["path"].rsplit("/", 1)[1] for e in log if e["host"] == "management.azure.com"] == ["listKeys", "listKeys"]
    assert not any(e["write"] for e in log)
    assert storage.storage_accounts.check_name_availability({"name": "sa1", "type": "Microsoft.Storage/storageAccounts"}).name_available is False
    assert not any(e["write"] for e in requests_log(emu, method="POST"))  # checkNameAvailability reads too
    # a re-PUT (update) keeps the keys; another account has its own
    storage.storage_accounts.begin_create(RG, "sa1", account_body(cmk_env)).result()
    assert _keys(storage.storage_accounts.list_keys(RG, "sa1"))["key1"].value == keys["key1"].value
    storage.storage_accounts.begin_create(RG, "sa2", account_body(cmk_env)).result()
    assert _keys(storage.storage_accounts.list_keys(RG, "sa2"))["key1"].value != keys["key1"].value

    regenerated = _keys(storage.storage_accounts.regenerate_key(RG, "sa1", {"keyName": "key2"}))
    assert regenerated["key1"].value == keys["key1"].value and regenerated["key2"].value != keys["key2"].value
    assert regenerated["key2"].creation_time >= keys["key2"].creation_time
    assert [e["write"] for e in requests_log(emu, method="POST") if e["path"].endswith("/regenerateKey")] == [True]
    assert storage.storage_accounts.get_properties(RG, "sa1").key_creation_time.key2 == regenerated["key2"].creation_time
    with pytest.raises(HttpResponseError) as error:
        storage.storage_accounts.regenerate_key(RG, "sa1", {"keyName": "key3"})
    assert error.value.status_code == 400


def test_list_keys_needs_the_action(emu, cmk_env, storage):
    """Reader holds */read only: listKeys is `Microsoft.Storage/storageAccounts/listkeys/action`."""
    from azure.identity import ManagedIdentityCredential
    from azure.mgmt.storage import StorageManagementClient
    storage.storage_accounts.begin_create(RG, "sa1", account_body(cmk_env)).result()
    reader = StorageManagementClient(ManagedIdentityCredential(), SUBSCRIPTION_ID)  # the runner: Reader
    assert reader.storage_accounts.get_properties(RG, "sa1").name == "sa1"
    with pytest.raises(HttpResponseError) as error:
        reader.storage_accounts.list_keys(RG, "sa1")
    assert error.value.status_code == 403 and error.value.error.code == "AuthorizationFailed"
    assert "Microsoft.Storage/storageAccounts/listkeys/action" in error.value.message
