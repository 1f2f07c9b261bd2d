"""Microsoft.Sql managed instances: TDE keys and the TDE protector with customer-managed keys."""
from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from cmk_helpers import LOCATION, grant, rotate_key, seed_key, seed_uai, seed_vault, vault_id
from conftest import RG, RG_ID, SUBSCRIPTION_ID, requests_log


@pytest.fixture
def sql(credential):
    from azure.mgmt.sql import SqlManagementClient
    return SqlManagementClient(credential, SUBSCRIPTION_ID)


def instance_body(env, uai=None, **properties):
    uai = uai or env.uai_id
    return {"location": LOCATION, "sku": {"name": "GP_Gen5"},
            "identity": {"type": "UserAssigned", "userAssignedIdentities": {uai: {}}},
            "properties": {"administratorLogin": "azureuser", "administratorLoginPassword": "Secret-123456",
                           "subnetId": f"{RG_ID}/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
                           "vCores": 8, "primaryUserAssignedIdentityId": uai, **properties}}


def key_name(url: str) -> str:
    parts = url.split("/")
    return f"{parts[2].split('.')[0]}_{parts[4]}_{parts[5]}"


def add_key(sql, url: str, mi: str = "mi1"):
    return sql.managed_instance_keys.begin_create_or_update(RG, mi, key_name(url), {"properties": {
        "serverKeyType": "AzureKeyVault", "uri": url}}).result()


def set_protector(sql, name: str, auto: bool = False, mi: str = "mi1"):
    return sql.managed_instance_encryption_protectors.begin_create_or_update(RG, mi, "current", {"properties": {
        "serverKeyType": "AzureKeyVault", "serverKeyName": name, "autoRotationEnabled": auto}}).result()


def test_tde_protector_with_cmk_and_auto_rotation(emu, cmk_env, sql):
    instance = sql.managed_instances.begin_create_or_update(RG, "mi1", instance_body(cmk_env)).result()
    assert instance.primary_user_assigned_identity_id == cmk_env.uai_id
    protector = sql.managed_instance_encryption_protectors.get(RG, "mi1", "current")
    assert protector.server_key_type == "ServiceManaged" and protector.server_key_name == "ServiceManaged"
    key = add_key(sql, cmk_env.key_url)
    assert key.server_key_type == "AzureKeyVault" and key.uri == cmk_env.key_url and key.thumbprint
    assert [e["status"] for e in requests_log(emu, method="PUT") if "/keys/" in e["path"]] == [201]
    protector = set_protector(sql, key.name, auto=True)
    assert protector.server_key_type == "AzureKeyVault" and protector.uri == cmk_env.key_url
    assert protector.auto_rotation_enabled is True and protector.kind == "azurekeyvault"
    newer = rotate_key(emu)
    rotated = sql.managed_instance_encryption_protectors.get(RG, "mi1", "current")
    assert rotated.uri == newer and rotated.server_key_name == key_name(newer)
    assert sorted(k.name for k in sql.managed_instance_keys.list_by_instance(RG, "mi1")) == sorted(
        [key.name, key_name(newer)])
    assert [p.name for p in sql.managed_instance_encryption_protectors.list_by_instance(RG, "mi1")] == ["current"]
    # the key in use cannot be deleted; the old one can
    with pytest.raises(HttpResponseError) as error:
        sql.managed_instance_keys.begin_delete(RG, "mi1", key_name(newer)).result()
    assert error.value.error.code == "AzureKeyVaultKeyInUse"
    sql.managed_instance_keys.begin_delete(RG, "mi1", key.name).result()
    back = sql.managed_instance_encryption_protectors.begin_create_or_update(RG, "mi1", "current", {"properties": {
        "serverKeyType": "ServiceManaged", "serverKeyName": "ServiceManaged"}}).result()
    assert back.server_key_type == "ServiceManaged"


def test_pinned_protector_does_not_rotate(emu, cmk_env, sql):
    sql.managed_instances.begin_create_or_update(RG, "mi1", instance_body(cmk_env)).result()
    set_protector(sql, add_key(sql, cmk_env.key_url).name, auto=False)
    rotate_key(emu)
    assert sql.managed_instance_encryption_protectors.get(RG, "mi1", "current").uri == cmk_env.key_url


def test_protector_needs_key_added_first(emu, cmk_env, sql):
    sql.managed_instances.begin_create_or_update(RG, "mi1", instance_body(cmk_env)).result()
    with pytest.raises(ResourceNotFoundError) as error:
        set_protector(sql, key_name(cmk_env.key_url))
    assert error.value.error.code == "ServerKeyNotFound"
    assert sql.managed_instance_encryption_protectors.get(RG, "mi1", "current").server_key_type == "ServiceManaged"


def test_instance_key_id_at_creation(emu, cmk_env, sql):
    body = instance_body(cmk_env, keyId=cmk_env.key_url)
    instance = sql.managed_instances.begin_create_or_update(RG, "mi1", body).result()
    assert instance.key_id == cmk_env.key_url
    protector = sql.managed_instance_encryption_protectors.get(RG, "mi1", "current")
    assert protector.server_key_name == key_name(cmk_env.key_url)
    patched = sql.managed_instances.begin_update(RG, "mi1", {"tags": {"env": "t"}}).result()
    assert patched.tags == {"env": "t"}


@pytest.mark.parametrize("case", ["no_access", "rsa4096", "ec", "no_purge", "bad_name", "missing_key"])
def test_key_rules(emu, cmk_env, sql, case):
    sql.managed_instances.begin_create_or_update(RG, "mi1", instance_body(cmk_env)).result()
    url, name = cmk_env.key_url, None
    if case == "no_access":
        other = seed_uai(emu, "uai2")
        sql.managed_instances.begin_create_or_update(RG, "mi2", instance_body(cmk_env, uai=other["id"])).result()
    elif case == "rsa4096":
        url = seed_key(emu, name="big", size=4096)
    elif case == "ec":
        url = seed_key(emu, name="ec1", kty="EC", size=None)
    elif case == "no_purge":
        seed_vault(emu, "kv2", purge_protection=False)
        grant(emu, cmk_env.uai_principal, vault_id("kv2"))
        url = seed_key(emu, "kv2", "k2")
    elif case == "bad_name":
        name = "kv1_k1_wrong"
    else:
        url = url.replace("/k1/", "/nokey/")
    mi = "mi2" if case == "no_access" else "mi1"
    expected = {"no_access": (401, "AzureKeyVaultMissingPermissions"),
                "rsa4096": (400, "AzureKeyVaultRsaKeyNotSupported"), "ec": (400, "AzureKeyVaultRsaKeyNotSupported"),
                "no_purge": (400, "SecurityInvalidAzureKeyVaultRecoveryLevel"),
                "bad_name": (400, "InvalidKeyName"), "missing_key": (409, "AzureKeyVaultKeyNameNotFound")}[case]
    error_type = ClientAuthenticationError if expected[0] == 401 else HttpResponseError
    with pytest.raises(error_type) as error:
        sql.managed_instance_keys.begin_create_or_update(RG, mi, name or key_name(url), {"properties": {
            "serverKeyType": "AzureKeyVault", "uri": url}}).result()
    assert (error.value.status_code, error.value.error.code) == expected
    assert list(sql.managed_instance_keys.list_by_instance(RG, mi)) == []


def test_managed_hsm_key(emu, cmk_env, sql):
    from cmk_helpers import grant_hsm, seed_hsm
    hsm = seed_hsm(emu)
    url = seed_key(emu, "hsm1", "hk1", kty="RSA-HSM", size=2048, hsm=True)
    grant_hsm(emu, hsm, cmk_env.uai_principal)
    sql.managed_instances.begin_create_or_update(RG, "mi1", instance_body(cmk_env)).result()
    key = add_key(sql, url)
    assert key.name == key_name(url) and key.name.startswith("hsm1_hk1_")
    assert set_protector(sql, key.name).uri == url
