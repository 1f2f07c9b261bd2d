"""Key Vault / Managed HSM data planes, Azure RBAC REST, HSM local RBAC and effective permissions."""
from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.keys import KeyClient, KeyRotationLifetimeAction, KeyRotationPolicy, KeyRotationPolicyAction
from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.keyvault.models import (AccessPolicyEntry, KeyCreateParameters, KeyProperties, ManagedHsm,
                                        ManagedHsmProperties, ManagedHsmSku, Permissions)

from conftest import RG, RG_ID, SUBSCRIPTION_ID, TENANT_ID, admin, vault_parameters

OPERATOR = "0a11ce00-0000-4000-8000-00000000b001"
RUNNER = "0a11ce00-0000-4000-8000-00000000b002"
VAULT_ID = f"{RG_ID}/providers/Microsoft.KeyVault/vaults/kv1"
CRYPTO_OFFICER = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"


def _role_id(guid: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


def _assign(auth: AuthorizationManagementClient, scope: str, guid: str, principal: str, name: str = ""):
    return auth.role_assignments.create(scope, name or str(uuid.uuid4()), {
        "properties": {"roleDefinitionId": _role_id(guid), "principalId": principal, "principalType": "ServicePrincipal"}})


@pytest.fixture
def auth(credential):
    return AuthorizationManagementClient(credential, SUBSCRIPTION_ID)


@pytest.fixture
def vault(kv_mgmt):
    return kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters(enable_purge_protection=True)).result()


@pytest.fixture
def keys(vault, credential):
    return KeyClient(vault.properties.vault_uri, credential)


def test_rbac_vault_needs_a_data_role(emu, keys, auth):
    with pytest.raises(HttpResponseError) as error:
        keys.create_rsa_key("k1")
    assert error.value.status_code == 403 and "ForbiddenByRbac" in str(error.value.response.json())
    _assign(auth, VAULT_ID, CRYPTO_OFFICER, OPERATOR)
    key = keys.create_rsa_key("k1", size=3072, hardware_protected=True)
    assert key.id.startswith("https://kv1.vault.azure.net/keys/k1/") and len(key.properties.version) == 32
    assert key.key_type == "RSA-HSM" and len(key.key.n) == 384


def test_key_lifecycle(emu, keys, auth, credential):
    _assign(auth, VAULT_ID, CRYPTO_OFFICER, OPERATOR)
    first = keys.create_rsa_key("k1", key_operations=["wrapKey", "unwrapKey"], tags={"a": "1"})
    assert keys.get_key("k1").properties.version == first.properties.version
    updated = keys.update_key_properties("k1", enabled=False, tags={"b": "2"})
    assert updated.properties.enabled is False and updated.properties.tags == {"b": "2"}
    rotated = keys.rotate_key("k1")
    assert rotated.properties.version != first.properties.version
    assert [k.name for k in keys.list_properties_of_keys()] == ["k1"]
    assert len(list(keys.list_properties_of_key_versions("k1"))) == 2
    with pytest.raises(ResourceNotFoundError) as error:
        keys.get_key("missing")
    assert error.value.error.code == "KeyNotFound"
    crypto = CryptographyClient(rotated, credential)
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep, b"k" * 32)
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep, wrapped.encrypted_key).key == b"k" * 32
    deleted = keys.begin_delete_key("k1").result()
    assert deleted.recovery_id == "https://kv1.vault.azure.net/deletedkeys/k1"
    with pytest.raises(HttpResponseError) as error:
        keys.purge_deleted_key("k1")
    assert error.value.status_code == 403 and "purge protection" in error.value.message
    keys.begin_recover_deleted_key("k1").result()
    assert keys.get_key("k1").name == "k1"


def test_hsm_key_type_needs_premium(emu, kv_mgmt, credential, auth):
    vault = kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters(sku="standard")).result()
    _assign(auth, VAULT_ID, CRYPTO_OFFICER, OPERATOR)
    client = KeyClient(vault.properties.vault_uri, credential)
    with pytest.raises(HttpResponseError) as error:
        client.create_rsa_key("k1", hardware_protected=True)
    assert error.value.status_code == 400 and "Premium" in error.value.message
    assert client.create_ec_key("k2").key_type == "EC"
    with pytest.raises(HttpResponseError) as error:  # Azure/azure-sdk-for-net#13437
        client.create_oct_key("k3")
    assert error.value.status_code == 400 and error.value.error.code == "BadParameter"
    assert error.value.response.json()["error"] == {"code": "BadParameter", "message": "Invalid kty value: oct",
                                                    "innererror": {"code": "KeyTypeNotSupported"}}


def test_rotation_policy(emu, keys, auth):
    _assign(auth, VAULT_ID, CRYPTO_OFFICER, OPERATOR)
    keys.create_rsa_key("k1")
    default = keys.get_key_rotation_policy("k1")
    assert [(a.action, a.time_before_expiry) for a in default.lifetime_actions] == [("Notify", "P30D")]
    policy = keys.update_key_rotation_policy("k1", KeyRotationPolicy(
        expires_in="P1Y", lifetime_actions=[KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate,
                                                                      time_after_create="P90D")]))
    assert [(a.action, a.time_after_create, a.time_before_expiry) for a in policy.lifetime_actions] == [
        ("Rotate", "P90D", None), ("Notify", None, "P30D")]
    assert policy.expires_in == "P1Y"
    for bad in (KeyRotationPolicy(lifetime_actions=[KeyRotationLifetimeAction("Rotate", time_after_create="P3D")]),
                KeyRotationPolicy(lifetime_actions=[KeyRotationLifetimeAction("Rotate", time_before_expiry="P30D")]),
                KeyRotationPolicy(expires_in="P10D")):
        with pytest.raises(HttpResponseError) as error:
            keys.update_key_rotation_policy("k1", bad)
        assert error.value.status_code == 400 and error.value.error.code == "BadParameter"


def test_access_policy_vault(emu, kv_mgmt, credential):
    policy = AccessPolicyEntry(tenant_id=TENANT_ID, object_id=OPERATOR, permissions=Permissions(keys_property=["get"]))
    vault = kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters(
        enable_rbac_authorization=False, access_policies=[policy])).result()
    client = KeyClient(vault.properties.vault_uri, credential)
    with pytest.raises(HttpResponseError) as error:
        client.create_rsa_key("k1")
    body = error.value.response.json()["error"]
    assert body["innererror"]["code"] == "AccessDenied"
    assert "does not have keys create permission on key vault 'kv1;location=eastus'" in body["message"]
    kv_mgmt.vaults.update_access_policy(RG, "kv1", "add", {"properties": {"accessPolicies": [
        {"tenantId": TENANT_ID, "objectId": OPERATOR, "permissions": {"keys": ["create"]}}]}})
    assert client.create_rsa_key("k1").name == "k1"
    access = admin(emu, "GET", f"/_emulator/effective-permissions?principal={OPERATOR}"
                               "&key=https://kv1.vault.azure.net/keys/k1")
    assert (access["get"], access["wrapKey"], access["unwrapKey"]) == (True, False, False)
    assert access["via"][0]["kind"] == "accessPolicy"


def test_azure_rbac_rest(emu, auth, vault):
    key_scope = f"{VAULT_ID}/keys/k1"
    name = str(uuid.uuid4())
    created = _assign(auth, key_scope, ENCRYPTION_USER, RUNNER, name)
    assert created.scope == key_scope and created.principal_type == "ServicePrincipal"
    with pytest.raises(ResourceExistsError) as error:
        _assign(auth, key_scope, ENCRYPTION_USER, RUNNER)
    assert error.value.error.code == "RoleAssignmentExists"
    with pytest.raises(ResourceExistsError) as error:
        _assign(auth, VAULT_ID, ENCRYPTION_USER, RUNNER, name)
    assert error.value.error.code == "RoleAssignmentUpdateNotPermitted"
    with pytest.raises(HttpResponseError) as error:
        _assign(auth, VAULT_ID, ENCRYPTION_USER, str(uuid.uuid4()))
    assert error.value.error.code == "PrincipalNotFound"
    with pytest.raises(HttpResponseError) as error:
        _assign(auth, VAULT_ID, ENCRYPTION_USER, RUNNER, "not-a-guid")
    assert error.value.status_code == 400
    at_vault = [a.name for a in auth.role_assignments.list_for_scope(VAULT_ID, filter="atScope()")]
    assert name not in at_vault and len(at_vault) == 2  # Owner and Reader inherited from the subscription
    assert name in [a.name for a in auth.role_assignments.list_for_scope(VAULT_ID)]
    access = admin(emu, "GET", f"/_emulator/effective-permissions?principal={RUNNER}&key=https://kv1.vault.azure.net/keys/k1")
    assert access["get"] and access["wrapKey"] and access["unwrapKey"] and access["via"][0]["scope"] == key_scope
    other = admin(emu, "GET", f"/_emulator/effective-permissions?principal={RUNNER}&key=https://kv1.vault.azure.net/keys/k2")
    assert not other["get"]
    definitions = list(auth.role_definitions.list(VAULT_ID, filter="roleName eq 'Key Vault Crypto Service Encryption User'"))
    assert [d.name for d in definitions] == [ENCRYPTION_USER]
    assert auth.role_assignments.delete(key_scope, name).name == name


def test_contributor_cannot_assign_roles(emu, auth):
    contributor = str(uuid.uuid4())
    emu.load_seed({"principals": [{"object_id": contributor, "client_id": "contrib-app", "secrets": ["s"],
                                   "roles": [{"role": "Contributor", "scope": f"/subscriptions/{SUBSCRIPTION_ID}"}]}]})
    from azure.identity import ClientSecretCredential
    client = AuthorizationManagementClient(ClientSecretCredential(TENANT_ID, "contrib-app", "s"), SUBSCRIPTION_ID)
    with pytest.raises(HttpResponseError) as error:
        _assign(client, RG_ID, ENCRYPTION_USER, RUNNER)
    assert error.value.status_code == 403 and "Microsoft.Authorization/roleAssignments/write" in error.value.message


def test_management_plane_keys(emu, kv_mgmt, keys, auth):
    parameters = KeyCreateParameters(properties=KeyProperties(kty="RSA", key_size=2048, key_ops=["wrapKey", "unwrapKey"]))
    key = kv_mgmt.keys.create_if_not_exist(RG, "kv1", "k1", parameters)
    assert key.properties.key_uri == "https://kv1.vault.azure.net:443/keys/k1"
    again = kv_mgmt.keys.create_if_not_exist(RG, "kv1", "k1", parameters)
    assert again.properties.key_uri_with_version == key.properties.key_uri_with_version
    _assign(auth, VAULT_ID, CRYPTO_OFFICER, OPERATOR)
    keys.rotate_key("k1")
    assert len(list(kv_mgmt.keys.list_versions(RG, "kv1", "k1"))) == 2
    assert [k.name for k in kv_mgmt.keys.list(RG, "kv1")] == ["k1"]
    version = key.properties.key_uri_with_version.rsplit("/", 1)[1]
    assert kv_mgmt.keys.get_version(RG, "kv1", "k1", version).properties.kty == "RSA"


def test_managed_hsm_local_rbac(emu, kv_mgmt, credential):
    from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultRoleScope
    hsm = kv_mgmt.managed_hsms.begin_create_or_update(RG, "hsm1", ManagedHsm(
        location="eastus", sku=ManagedHsmSku(family="B", name="Standard_B1"),
        properties=ManagedHsmProperties(tenant_id=TENANT_ID, initial_admin_object_ids=[OPERATOR],
                                        enable_purge_protection=True))).result()
    url = hsm.properties.hsm_uri
    control = KeyVaultAccessControlClient(url, credential)
    definitions = {d.role_name: d for d in control.list_role_definitions(KeyVaultRoleScope.GLOBAL)}
    user = definitions["Managed HSM Crypto User"]
    assert user.id == "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b"
    keys = KeyClient(url, credential)
    with pytest.raises(HttpResponseError) as error:
        keys.create_rsa_key("k1", hardware_protected=True)
    assert error.value.status_code == 403
    assignment = control.create_role_assignment(KeyVaultRoleScope.KEYS, user.id, OPERATOR)
    assert assignment.properties.scope == "/keys"
    key = keys.create_rsa_key("k1", hardware_protected=True)
    assert key.id.startswith("https://hsm1.managedhsm.azure.net/keys/k1/")
    with pytest.raises(HttpResponseError) as error:
        keys.create_rsa_key("k2")
    assert error.value.status_code == 400
    encryption_user = definitions["Managed HSM Crypto Service Encryption User"]
    control.create_role_assignment("/keys/k1", encryption_user.id, RUNNER)
    access = admin(emu, "GET", f"/_emulator/effective-permissions?principal={RUNNER}&key={url}keys/k1")
    assert access["wrapKey"] and access["via"][0]["kind"] == "managedHsmLocalRbac"
    assert {a.name for a in control.list_role_assignments(KeyVaultRoleScope.KEYS)} == {assignment.name}
    control.delete_role_assignment(KeyVaultRoleScope.KEYS, assignment.name)
    assert list(control.list_role_assignments(KeyVaultRoleScope.KEYS)) == []


def test_data_plane_challenge(emu, vault):
    import requests
    response = requests.post("https://kv1.vault.azure.net/keys/k1/create?api-version=2025-07-01", json={"kty": "RSA"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{TENANT_ID}", resource="https://vault.azure.net"')
