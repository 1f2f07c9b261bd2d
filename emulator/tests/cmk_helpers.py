"""Shared fixtures and helpers for the CMK target provider tests (DES, disks, VMs, AKS, storage, ACI, SQL MI).

Import the fixtures you need into a test module: `from cmk_helpers import cmk_env, compute  # noqa: F401`.
Keys are created through the emulator's own key store (`seed_key`), identities and vaults through the SDKs.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Optional

import pytest

from conftest import RG, RG_ID, SUBSCRIPTION_ID, TENANT_ID

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
             created: Optional[int] = None) -> str:
    """Add a key version (the management-plane form `vaults/{v}/keys/{k}/versions/{ver}`); returns its URL."""
    version = uuid.uuid4().hex
    created = created or int(time.time())
    existing = emu.state.resources.under(f"{vault_id(vault)}/keys/{name}/versions")
    created = max([created] + [r["properties"]["attributes"]["created"] + 1 for r in existing])
    attributes = {"enabled": enabled, "created": created, "updated": created, "recoveryLevel": "Recoverable"}
    if exp:
        attributes["exp"] = exp
    key_uri = f"https://{vault}.vault.azure.net/keys/{name}"
    properties = {"kty": kty, "keyOps": list(ops), "attributes": attributes, "keyUri": key_uri,
                  "keyUriWithVersion": f"{key_uri}/{version}"}
    if size:
        properties["keySize"] = size
    base = f"{vault_id(vault)}/keys/{name}"
    emu.state.resources.put({"id": base, "name": name, "type": "Microsoft.KeyVault/vaults/keys",
                             "location": LOCATION, "properties": dict(properties, keyUriWithVersion=f"{key_uri}/{version}")})
    emu.state.resources.put({"id": f"{base}/versions/{version}", "name": version,
                             "type": "Microsoft.KeyVault/vaults/keys/versions", "location": LOCATION,
                             "properties": properties})
    return f"{key_uri}/{version}"


def rotate_key(emu, vault: str = "kv1", name: str = "k1", **kwargs) -> str:
    return seed_key(emu, vault, name, **kwargs)


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


@pytest.fixture
def cmk_env(emu) -> CmkEnv:
    vault = seed_vault(emu)
    key_url = seed_key(emu)
    uai = seed_uai(emu)
    grant(emu, uai["properties"]["principalId"], vault["id"])
    return CmkEnv(emu, key_url, uai, vault)


@pytest.fixture
def compute(credential):
    from azure.mgmt.compute import ComputeManagementClient
    return ComputeManagementClient(credential, SUBSCRIPTION_ID)
