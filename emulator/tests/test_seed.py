"""The seed format: data-plane `keys`, `hsm_role_assignments`, `${...}` placeholders, `stages`,
`resources[].validate: false`, validation of unknown keys, and the demo estate (in-process and CLI)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys import KeyClient

from conftest import RG, RG_ID, SUBSCRIPTION_ID, TENANT_ID, admin

OPERATOR = "0a11ce00-0000-4000-8000-00000000b001"
RUNNER = "0a11ce00-0000-4000-8000-00000000b002"
EMULATOR_DIR = Path(__file__).resolve().parents[1]
DEMO_SEED = EMULATOR_DIR / "seeds" / "demo-estate.yml"
VAULT_ID = f"{RG_ID}/providers/Microsoft.KeyVault/vaults/kv1"
HSM_ID = f"{RG_ID}/providers/Microsoft.KeyVault/managedHSMs/hsm1"
UAI_ID = f"{RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai1"
ACI_ID = f"{RG_ID}/providers/Microsoft.ContainerInstance/containerGroups/aci1"
DES_ID = f"{RG_ID}/providers/Microsoft.Compute/diskEncryptionSets/des1"
CRYPTO_OFFICER_ROLE = "Key Vault Crypto Officer"


def vault(name: str = "kv1", rbac: bool = True) -> dict:
    return {"id": f"{RG_ID}/providers/Microsoft.KeyVault/vaults/{name}",
            "body": {"location": "eastus", "properties": {"tenantId": TENANT_ID, "sku": {"family": "A", "name": "premium"},
                                                          "enableRbacAuthorization": rbac, "enablePurgeProtection": True}}}


def hsm(name: str = "hsm1") -> dict:
    return {"id": f"{RG_ID}/providers/Microsoft.KeyVault/managedHSMs/{name}",
            "body": {"location": "eastus", "sku": {"family": "B", "name": "Standard_B1"},
                     "properties": {"tenantId": TENANT_ID, "initialAdminObjectIds": [OPERATOR],
                                    "enablePurgeProtection": True}}}


def uai(name: str = "uai1") -> dict:
    return {"id": f"{RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
            "body": {"location": "eastus"}}


def aci_body(vault_base_url: str, key_name: str, version: str) -> dict:
    return {"location": "eastus", "identity": {"type": "UserAssigned", "userAssignedIdentities": {UAI_ID: {}}},
            "properties": {"osType": "Linux", "containers": [
                {"name": "app", "properties": {"image": "mcr.microsoft.com/azuredocs/aci-helloworld",
                                               "resources": {"requests": {"cpu": 1.0, "memoryInGB": 1.5}}}}],
                "encryptionProperties": {"vaultBaseUrl": vault_base_url, "keyName": key_name, "keyVersion": version,
                                         "identity": UAI_ID}}}


@pytest.fixture
def kv_client(emu, credential):
    return KeyClient("https://kv1.vault.azure.net", credential)


# ---------------------------------------------------------------------------------------------- keys
def test_keys_with_versions_visible_in_data_and_management_planes(emu, kv_mgmt, kv_client):
    emu.load_seed({
        "resources": [vault()],
        "keys": [{"vault": "kv1", "name": "k1", "kty": "RSA-HSM", "size": 3072, "ops": ["wrapKey", "unwrapKey"],
                  "tags": {"env": "prod"}, "versions": 3, "exp": "+P365D"}],
        # the data-plane reads below need a role; the keys above were created without one
        "role_assignments": [{"principal_id": OPERATOR, "role": CRYPTO_OFFICER_ROLE, "scope": VAULT_ID}],
    })
    key = kv_client.get_key("k1")
    assert key.key_type == "RSA-HSM" and len(key.key.n) == 384
    assert key.key_operations == ["wrapKey", "unwrapKey"] and key.properties.tags == {"env": "prod"}
    assert key.properties.expires_on.year >= time.gmtime().tm_year
    versions = [v.version for v in kv_client.list_properties_of_key_versions("k1")]
    assert len(versions) == 3 and versions[-1] == key.properties.version
    # the management plane shows the same key and versions (one key store)
    mgmt = kv_mgmt.keys.get(RG, "kv1", "k1")
    assert mgmt.properties.key_uri_with_version.endswith("/keys/k1/" + key.properties.version)
    assert mgmt.properties.key_size == 3072 and mgmt.tags == {"env": "prod"}
    assert {v.name for v in kv_mgmt.keys.list_versions(RG, "kv1", "k1")} == set(versions)
    assert kv_client.get_key("k1", versions[0]).properties.version == versions[0]


def test_key_rotations_and_rotation_policy(emu, kv_mgmt, kv_client):
    emu.load_seed({
        "resources": [vault()],
        "role_assignments": [{"principal_id": OPERATOR, "role": CRYPTO_OFFICER_ROLE, "scope": VAULT_ID}],
        "keys": [{"vault": "https://kv1.vault.azure.net/", "name": "k1", "rotations": 2,
                  "rotation_policy": {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"},
                                                           "action": {"type": "rotate"}}],
                                      "attributes": {"expiryTime": "P1Y"}}}],
    })
    assert len(list(kv_client.list_properties_of_key_versions("k1"))) == 3
    assert kv_client.get_key("k1").properties.expires_on is not None  # rotated versions expire per the policy
    policy = kv_client.get_key_rotation_policy("k1")
    assert policy.expires_in == "P1Y"
    assert {(a.action.lower(), a.time_after_create) for a in policy.lifetime_actions} >= {("rotate", "P90D")}
    rotation = kv_mgmt.keys.get(RG, "kv1", "k1").properties.rotation_policy
    assert rotation.attributes.expiry_time == "P1Y"
    # a later entry for the same key adds versions (rotations only: rotates it)
    emu.load_seed({"keys": [{"vault": "kv1", "name": "k1", "rotations": 1}]})
    assert len(list(kv_client.list_properties_of_key_versions("k1"))) == 4


def test_key_versions_with_their_own_attributes(emu, kv_client):
    emu.load_seed({
        "resources": [vault()],
        "role_assignments": [{"principal_id": OPERATOR, "role": CRYPTO_OFFICER_ROLE, "scope": VAULT_ID}],
        "keys": [{"vault": "kv1", "name": "k1", "size": 2048,
                  "versions": [{"enabled": False, "exp": "2020-01-01T00:00:00Z"}, {"tags": {"v": "2"}}]}],
    })
    first, second = list(kv_client.list_properties_of_key_versions("k1"))
    assert first.enabled is False and first.expires_on.year == 2020
    assert second.enabled is True and second.tags == {"v": "2"}


def test_hsm_key_and_local_rbac_assignments(emu, credential):
    from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultRoleScope
    emu.load_seed({"resources": [hsm(), uai()], "keys": [{"hsm": "hsm1", "name": "k1", "size": 3072}]})
    keys = KeyClient("https://hsm1.managedhsm.azure.net", credential)
    with pytest.raises(HttpResponseError) as error:  # the administrator holds no key role yet
        keys.get_key("k1")
    assert error.value.status_code == 403
    emu.load_seed({"hsm_role_assignments": [
        {"hsm": "hsm1", "principal_id": OPERATOR, "role": "Managed HSM Crypto User", "scope": "/keys"},
        {"hsm": "https://hsm1.managedhsm.azure.net", "principal_id": f"${{principal:{UAI_ID}}}",
         "role": "33413926-3206-4cdd-b39a-83574fe37a17", "scope": "/keys/k1"},
    ]})
    key = keys.get_key("k1")
    assert key.key_type == "RSA-HSM" and key.id.startswith("https://hsm1.managedhsm.azure.net/keys/k1/")
    control = KeyVaultAccessControlClient("https://hsm1.managedhsm.azure.net", credential)
    on_keys = list(control.list_role_assignments(KeyVaultRoleScope.KEYS))
    assert [(a.properties.principal_id, a.properties.role_definition_id.rsplit("/", 1)[1]) for a in on_keys] == [
        (OPERATOR, "21dbd100-6940-42c2-9190-5d6cb909625b")]
    principal = emu.state.resources.get(UAI_ID)["properties"]["principalId"]
    on_key = list(control.list_role_assignments("/keys/k1"))
    assert [a.properties.principal_id for a in on_key] == [principal]
    access = admin(emu, "GET", f"/_emulator/effective-permissions?principal={principal}"
                               f"&key=https://hsm1.managedhsm.azure.net/keys/k1")
    assert access["wrapKey"] and access["unwrapKey"] and access["get"]
    # the same entry again is the same assignment (names are derived from its content)
    emu.load_seed({"hsm_role_assignments": [
        {"hsm": HSM_ID, "principal_id": OPERATOR, "role": "Managed HSM Crypto User", "scope": "/keys"}]})
    assert len(list(control.list_role_assignments(KeyVaultRoleScope.KEYS))) == 1


# ---------------------------------------------------------------------------------------------- placeholders
def test_placeholders_resolve_in_order(emu, credential):
    from azure.mgmt.compute import ComputeManagementClient
    emu.load_seed({
        "resources": [vault(), uai()],
        "keys": [{"vault": "kv1", "name": "k1", "versions": 2}],
        "stages": [{
            "role_assignments": [{"principal_id": f"${{principal:{UAI_ID}}}", "role": "Key Vault Crypto Service "
                                  "Encryption User", "scope": f"{VAULT_ID}/keys/k1"}],
            "resources": [
                {"id": DES_ID, "body": {"location": "eastus",
                                        "identity": {"type": "UserAssigned", "userAssignedIdentities": {UAI_ID: {}}},
                                        "tags": {"first": "${key_version:kv1/k1@1}", "latest": "${key_version:kv1/k1}",
                                                 "literal": "$${key:kv1/k1}"},
                                        "properties": {"activeKey": {"keyUrl": "${key:kv1/k1@1}"}}}},
                # a later entry refers to what an earlier entry of the same list created
                {"id": f"{RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai2",
                 "body": {"location": "eastus", "tags": {"des": f"${{principal:{UAI_ID}}}"}}},
            ],
        }],
    })
    ring = emu.state.namespace("keyvault.keys")["microsoft.keyvault/vaults:kv1"].get("k1")
    first, latest = ring.versions[0].version, ring.versions[1].version
    des = ComputeManagementClient(credential, SUBSCRIPTION_ID).disk_encryption_sets.get(RG, "des1")
    assert des.tags == {"first": first, "latest": latest, "literal": "${key:kv1/k1}"}
    assert des.active_key.key_url == f"https://kv1.vault.azure.net/keys/k1/{first}"
    principal = emu.state.resources.get(UAI_ID)["properties"]["principalId"]
    assert emu.state.resources.get(f"{RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai2")[
        "tags"] == {"des": principal}
    access = admin(emu, "GET", f"/_emulator/effective-permissions?principal={principal}"
                               f"&key=https://kv1.vault.azure.net/keys/k1")
    assert access["wrapKey"] and access["via"][0]["kind"] == "rbac"


@pytest.mark.parametrize("value, message", [
    ("${nope:x}", "unknown placeholder"),
    ("${principal:/subscriptions/x/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/no}",
     "no such resource"),
    ("${key:kv1/missing}", "no key 'missing'"),
    ("${key:kv1/k1@3}", "has 1 version"),
    ("${key:kv1/k1@x}", "must be an integer"),
    ("${key:nowhere/k1}", "no vault or hsm named 'nowhere'"),
])
def test_placeholder_errors(emu, value, message):
    emu.load_seed({"resources": [vault()], "keys": [{"vault": "kv1", "name": "k1"}]})
    with pytest.raises(ValueError) as error:
        emu.load_seed({"resources": [{"id": f"{RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u",
                                      "body": {"location": "eastus", "tags": {"a": value}}}]})
    assert message in str(error.value) and "seed.resources[0]" in str(error.value)


# ---------------------------------------------------------------------------------------------- validate: false
def test_validate_false_stores_state_the_service_now_refuses(emu, credential):
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient
    emu.load_seed({"resources": [hsm(), uai()], "keys": [{"hsm": "hsm1", "name": "k1"}]})
    body = aci_body("https://hsm1.managedhsm.azure.net", "k1", "${key_version:hsm1/k1}")
    with pytest.raises(ValueError) as error:
        emu.load_seed({"resources": [{"id": ACI_ID, "body": body}]})
    assert "InvalidEncryptionProperties" in str(error.value) and "Managed HSM" in str(error.value)
    emu.load_seed({"resources": [{"id": ACI_ID, "body": body, "validate": False}]})
    group = ContainerInstanceManagementClient(credential, SUBSCRIPTION_ID).container_groups.get(RG, "aci1")
    version = emu.state.namespace("keyvault.keys")["microsoft.keyvault/managedhsms:hsm1"].get("k1").latest.version
    assert group.encryption_properties.vault_base_url == "https://hsm1.managedhsm.azure.net"
    assert group.encryption_properties.key_version == version
    assert group.provisioning_state == "Succeeded"  # computed fields as usual
    principal = emu.state.resources.get(UAI_ID)["properties"]["principalId"]
    assert group.identity.user_assigned_identities[UAI_ID].principal_id == principal
    # unresolvable keys still fail: the model computes fields from them
    with pytest.raises(ValueError) as error:
        emu.load_seed({"resources": [{"id": ACI_ID.replace("aci1", "aci2"), "validate": False,
                                      "body": aci_body("https://hsm1.managedhsm.azure.net", "nokey", "0" * 32)}]})
    assert "not found" in str(error.value)


# ---------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("seed, message", [
    ({"resource": []}, "seed: unknown keys ['resource']"),
    ({"keys": [{"vault": "kv1", "name": "k1", "size": 2048, "colour": "red"}]}, "unknown keys ['colour']"),
    ({"keys": [{"vault": "kv1", "hsm": "hsm1", "name": "k1"}]}, "exactly one of 'vault' or 'hsm'"),
    ({"keys": [{"vault": "kv1", "name": "k1", "versions": 2, "rotations": 1}]}, "not both"),
    ({"keys": [{"vault": "kv1", "name": "k1", "versions": 0}]}, "'versions' must be"),
    ({"keys": [{"vault": "kv1", "name": "k1", "exp": "soon"}]}, "is not a time"),
    ({"keys": [{"vault": "kv1", "name": "k1", "size": 1024}]}, "Invalid key size 1024"),
    ({"keys": [{"vault": "kv1", "name": "k1", "kty": "oct-HSM"}]}, "Invalid kty value: oct-HSM"),
    ({"keys": [{"vault": "kv1", "name": "k1", "rotation_policy": {"lifetimeActions": [
        {"trigger": {"timeAfterCreate": "P1D"}, "action": {"type": "Rotate"}}]}}]}, "at least 7 days"),
    ({"hsm_role_assignments": [{"hsm": "kv1", "principal_id": OPERATOR, "role": "Managed HSM Crypto User"}]},
     "no hsm named 'kv1'"),
    ({"hsm_role_assignments": [{"hsm": HSM_ID, "principal_id": OPERATOR, "role": "Owner"}]},
     "unknown Managed HSM role"),
    ({"hsm_role_assignments": [{"hsm": HSM_ID, "principal_id": OPERATOR, "role": "Managed HSM Crypto User",
                                "scope": "/secrets"}]}, "is not '/', '/keys' or '/keys/<name>'"),
    ({"hsm_role_assignments": [{"hsm": HSM_ID, "principal": OPERATOR, "role": "Managed HSM Crypto User"}]},
     "unknown keys ['principal']"),
    ({"resources": [{"id": VAULT_ID, "body": {}, "validat": False}]}, "unknown keys ['validat']"),
    ({"resources": [{"id": VAULT_ID, "body": {}, "validate": "no"}]}, "'validate' must be true or false"),
    ({"role_assignments": [{"principal_id": OPERATOR, "role": "Reader", "scope": RG_ID, "extra": 1}]},
     "unknown keys ['extra']"),
    ({"stages": [{"keys": [{"vault": "kv1"}]}]}, "seed.stages[0].keys[0]: missing name"),
    ({"stages": {"keys": []}}, "seed.stages: expected a list"),
])
def test_seed_errors_are_clear(emu, seed, message):
    emu.load_seed({"resources": [vault(), hsm()]})
    with pytest.raises(ValueError) as error:
        emu.load_seed(seed)
    assert message in str(error.value)


def test_admin_seed_reports_errors(emu):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{emu.admin_url}/seed", data=json.dumps({"keys": [{"name": "k1"}]}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as error:
        opener.open(request)
    assert error.value.code == 400 and "exactly one of 'vault' or 'hsm'" in json.loads(error.value.read())["error"]


def test_legacy_resource_shorthand_still_works(emu):
    emu.load_seed({"resources": [{"id": f"{RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai-legacy",
                                  "location": "eastus", "tags": {"a": "1"}}]})
    assert emu.state.resources.get(f"{RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai-legacy")[
        "tags"] == {"a": "1"}


# ---------------------------------------------------------------------------------------------- the demo estate
def _check_demo_estate(dump: dict) -> None:
    resources = {key.rsplit("/", 1)[-1]: value for key, value in dump["resources"].items()}
    for name in ("aci-prod-pii", "aci-dev", "stprodgen", "stprodpii", "des-prod-gen", "des-test", "vm-prod-gen",
                 "vm-test", "aks-prod-gen", "sqlmi-test", "current", "kv-test-cmk"):
        assert name in resources, name
    assert resources["aci-prod-pii"]["properties"]["encryptionProperties"]["vaultBaseUrl"] == \
        "https://hsm-prod-pii.managedhsm.azure.net"
    rings = dump["data"]["keyvault.keys"]
    general = rings["microsoft.keyvault/vaults:kv-prod-gen"]["keys"]["general-cmk"]["versions"]
    assert len(general) == 2
    kvp = resources["stprodgen"]["properties"]["encryption"]["keyvaultproperties"]
    assert kvp["keyversion"] == general[0]["version"]
    policies = resources["kv-test-cmk"]["properties"]["accessPolicies"]
    assert resources["des-test"]["identity"]["principalId"] in {p["objectId"] for p in policies}
    assignments = dump["data"]["managedhsm.rbac"]["microsoft.keyvault/managedhsms:hsm-prod-pii"]
    assert len(assignments) == 2  # the initial administrator and the seeded Crypto Officer


def test_demo_estate_in_process(emu):
    emu.load_seed(DEMO_SEED)
    _check_demo_estate(admin(emu, "GET", "/_emulator/resources"))


def test_demo_estate_from_the_command_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(EMULATOR_DIR))
    process = subprocess.Popen([sys.executable, "-m", "azemu", "--state-dir", str(tmp_path), "--seed", str(DEMO_SEED)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        info_file = tmp_path / "emulator.json"
        deadline = time.monotonic() + 60
        while not info_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert info_file.exists(), process.stderr.read().decode() if process.poll() is not None else "timeout"
        info = json.loads(info_file.read_text())
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        _check_demo_estate(json.loads(opener.open(f"{info['admin_url']}/resources").read()))
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
