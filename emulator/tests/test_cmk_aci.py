"""Microsoft.ContainerInstance container groups with customer-managed keys."""
from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from cmk_helpers import LOCATION, seed_key, seed_uai
from conftest import RG, SUBSCRIPTION_ID, TENANT_ID, requests_log


@pytest.fixture
def aci(credential):
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient
    return ContainerInstanceManagementClient(credential, SUBSCRIPTION_ID)


def group_body(env, vault_url="https://kv1.vault.azure.net", key="k1", version=None, identity_id=None, omit=()):
    identity_id = identity_id or env.uai_id
    encryption = {"vaultBaseUrl": vault_url, "keyName": key,
                  "keyVersion": version or env.key_url.rsplit("/", 1)[1], "identity": identity_id}
    for name in omit:
        encryption.pop(name)
    return {"location": LOCATION, "identity": {"type": "UserAssigned", "userAssignedIdentities": {identity_id: {}}},
            "properties": {"osType": "Linux", "sku": "Standard",
                           "containers": [{"name": "app", "properties": {
                               "image": "mcr.microsoft.com/azuredocs/aci-helloworld",
                               "resources": {"requests": {"cpu": 1.0, "memoryInGB": 1.5}}}}],
                           "encryptionProperties": encryption}}


def test_group_with_cmk(emu, cmk_env, aci):
    group = aci.container_groups.begin_create_or_update(RG, "cg1", group_body(cmk_env)).result()
    assert group.encryption_properties.key_name == "k1"
    assert group.encryption_properties.key_version == cmk_env.key_url.rsplit("/", 1)[1]
    assert group.encryption_properties.identity == cmk_env.uai_id
    assert group.provisioning_state == "Succeeded"
    assert [e["status"] for e in requests_log(emu, method="PUT")] == [201]
    tagged = aci.container_groups.update(RG, "cg1", {"tags": {"env": "t"}})
    assert tagged.tags == {"env": "t"}
    same = aci.container_groups.begin_create_or_update(RG, "cg1", group_body(cmk_env)).result()
    assert same.encryption_properties.key_name == "k1"
    assert [g.name for g in aci.container_groups.list_by_resource_group(RG)] == ["cg1"]
    assert [g.name for g in aci.container_groups.list()] == ["cg1"]
    aci.container_groups.begin_delete(RG, "cg1").result()
    assert list(aci.container_groups.list()) == []


def test_encryption_is_deployment_time_only(emu, cmk_env, aci):
    aci.container_groups.begin_create_or_update(RG, "cg1", group_body(cmk_env)).result()
    newer = seed_key(emu)
    with pytest.raises(ResourceExistsError) as error:
        aci.container_groups.begin_create_or_update(RG, "cg1", group_body(
            cmk_env, version=newer.rsplit("/", 1)[1])).result()
    assert error.value.error.code == "InvalidContainerGroupUpdate"
    assert "delete it first" in error.value.error.message


def test_managed_hsm_key_is_rejected(emu, cmk_env, aci):
    with pytest.raises(HttpResponseError) as error:
        aci.container_groups.begin_create_or_update(RG, "cg1", group_body(
            cmk_env, vault_url="https://hsm1.managedhsm.azure.net")).result()
    assert error.value.status_code == 400
    assert "Managed HSM is not supported" in error.value.error.message


@pytest.mark.parametrize("case", ["no_access", "no_version", "ec", "missing_key"])
def test_cmk_rules(emu, cmk_env, aci, case):
    kwargs = {}
    if case == "no_access":
        kwargs["identity_id"] = seed_uai(emu, "uai2")["id"]
    elif case == "no_version":
        kwargs["omit"] = ("keyVersion",)
    elif case == "ec":
        url = seed_key(emu, name="ec1", kty="EC", size=None)
        kwargs.update(key="ec1", version=url.rsplit("/", 1)[1])
    else:
        kwargs["key"] = "nokey"
    body = group_body(cmk_env, **kwargs)
    if case == "no_version":  # the SDK model requires keyVersion: send the raw body
        body["properties"]["encryptionProperties"].pop("keyVersion", None)
    with pytest.raises(HttpResponseError) as error:
        aci.container_groups.begin_create_or_update(RG, "cg1", body).result()
    assert error.value.status_code == 400
    expected = "KeyVaultAccessDenied" if case == "no_access" else "InvalidEncryptionProperties"
    assert error.value.error.code == expected


def test_first_party_principal_when_no_identity(emu, cmk_env, aci):
    from azemu.seed import add_principal
    from cmk_helpers import grant
    body = group_body(cmk_env)
    body["properties"]["encryptionProperties"].pop("identity")
    body.pop("identity")
    with pytest.raises(HttpResponseError):
        aci.container_groups.begin_create_or_update(RG, "cg1", body).result()
    aci_sp = add_principal(emu.services, {"client_id": "6bb8e274-af5d-4df2-98a3-4fd78b4cafd9", "tenant_id": TENANT_ID,
                                          "display_name": "Azure Container Instance Service"})
    grant(emu, aci_sp.object_id, cmk_env.vault["id"])
    assert aci.container_groups.begin_create_or_update(RG, "cg1", body).result().encryption_properties.key_name == "k1"
