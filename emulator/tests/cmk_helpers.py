"""Shared helpers for the CMK target provider tests (DES, disks, VMs, AKS, storage, ACI, SQL MI).

Their fixtures (`cmk_env`, `compute`) live in conftest.py, so test modules do not import them.
Keys are created through the emulator's own key store (`seed_key`), identities and vaults through the SDKs.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Optional

from conftest import RG_ID, TENANT_ID

LOCATION = "eastus"
CRYPTO_SERVICE_ENCRYPTION_USER = "Key Vault Crypto Service Encryption User"


def vault_id(name: str) -> str:
    return f"{RG_ID}/providers/Microsoft.KeyVault/vaults/{name}"


def uai_id(name: str) -> str:
    return f"{RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"


def seed_vault(emu, name: str = "kv1", purge_protection: bool = True, rbac: bool = True, policies=()) -> dict:
    properties = {"tenantId": TENANT_ID, "sku": {"family": "A", "name": "premium"},
                  "enableRbacAuthorization": rbac, "accessPolicies": list(policies)}
    if purge_protection:
        properties["enablePurgeProtection"] = True
    return emu.services.arm_system_put(vault_id(name), {"location": LOCATION, "properties": properties})


def seed_key(emu, vault: str = "kv1", name: str = "k1", kty: str = "RSA", size: Optional[int] = 2048,
             enabled: bool = True, exp: Optional[int] = None, ops=("wrapKey", "unwrapKey", "encrypt", "decrypt"),
             hsm: bool = False) -> str:
    """Add a key version through the emulator's key store (what the data plane's create does); returns its URL.
    (`size` is the RSA size; EC keys use curve P-256.)"""
    from azemu.providers import keystore
    owner_type = "managedHSMs" if hsm else "vaults"
    owner = emu.state.resources.get(f"{RG_ID}/providers/Microsoft.KeyVault/{owner_type}/{vault}")
    spec = {"kty": kty, "key_ops": list(ops), "attributes": {"enabled": enabled}}
    if exp:
        spec["attributes"]["exp"] = exp
    if kty.startswith("RSA"):
        spec["key_size"] = size
    else:
        spec["crv"] = "P-256"
    if size and kty.startswith("RSA") and size not in keystore.RSA_SIZES:  # too small for the data plane: force it
        key, version = keystore.create_key(emu.state, owner, name, dict(spec, key_size=2048))
        version.size = size
    else:
        key, version = keystore.create_key(emu.state, owner, name, spec)
    suffix = "managedhsm.azure.net" if hsm else "vault.azure.net"
    return f"https://{vault}.{suffix}/keys/{name}/{version.version}"


def rotate_key(emu, vault: str = "kv1", name: str = "k1", credential=None) -> str:
    """Rotate through the real data plane (azure-keyvault-keys `rotate_key`) as the operator; returns the new URL."""
    from azure.identity import ClientSecretCredential
    from azure.keyvault.keys import KeyClient
    from azemu.seed import OPERATOR_CLIENT_ID, OPERATOR_OBJECT_ID, OPERATOR_SECRET
    grant(emu, OPERATOR_OBJECT_ID, vault_id(vault), role="Key Vault Crypto Officer")
    credential = credential or ClientSecretCredential(TENANT_ID, OPERATOR_CLIENT_ID, OPERATOR_SECRET)
    rotated = KeyClient(f"https://{vault}.vault.azure.net/", credential).rotate_key(name)
    return rotated.id


def seed_uai(emu, name: str = "uai1") -> dict:
    return emu.services.arm_system_put(uai_id(name), {"location": LOCATION})


def grant(emu, principal_id: str, scope: str, role: str = CRYPTO_SERVICE_ENCRYPTION_USER) -> None:
    from azemu.seed import add_role_assignment
    add_role_assignment(emu.services, {"principal_id": principal_id, "role": role, "scope": scope})


@dataclass
class CmkEnv:
    """kv1 (RBAC, purge protection) with RSA-2048 key k1; uai1 holding Crypto Service Encryption User on kv1."""
    emu: object
    key_url: str
    uai: dict
    vault: dict
    extra: dict = field(default_factory=dict)

    @property
    def uai_id(self) -> str:
        return self.uai["id"]

    @property
    def uai_principal(self) -> str:
        return self.uai["properties"]["principalId"]


def new_cmk_env(emu) -> CmkEnv:
    """What the `cmk_env` fixture returns."""
    vault = seed_vault(emu)
    key_url = seed_key(emu)
    uai = seed_uai(emu)
    grant(emu, uai["properties"]["principalId"], vault["id"])
    return CmkEnv(emu, key_url, uai, vault)


HSM_CRYPTO_SERVICE_ENCRYPTION_USER = "33413926-3206-4cdd-b39a-83574fe37a17"


def seed_hsm(emu, name: str = "hsm1") -> dict:
    return emu.services.arm_system_put(f"{RG_ID}/providers/Microsoft.KeyVault/managedHSMs/{name}", {
        "location": LOCATION, "sku": {"family": "B", "name": "Standard_B1"},
        "properties": {"tenantId": TENANT_ID, "initialAdminObjectIds": ["0a11ce00-0000-4000-8000-00000000b001"],
                       "enablePurgeProtection": True}})


def grant_hsm(emu, hsm: dict, principal_id: str, scope: str = "/keys",
              role: str = HSM_CRYPTO_SERVICE_ENCRYPTION_USER) -> None:
    """A Managed HSM local role assignment (what KeyVaultAccessControlClient.create_role_assignment stores)."""
    from azemu.providers.kvaccess import hsm_assignments
    from azemu.rbac import RoleAssignment
    name = str(uuid.uuid4())
    hsm_assignments(emu.state, hsm)[name] = RoleAssignment(name, scope, role, principal_id)
