"""Fixtures: one emulator per test session, reset before every test; the real SDKs talk to it
through HTTPS_PROXY (set in-process) and nothing else."""
from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from azemu import Emulator  # noqa: E402
from azemu.seed import OPERATOR_CLIENT_ID, OPERATOR_SECRET, SUBSCRIPTION_ID, TENANT_ID  # noqa: E402

RG = "rg1"
RG_ID = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{RG}"
FAST = {"lro_retry_after_ms": 20, "lro_timeout": None}  # operations complete by polls only, never by the clock


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    saved = dict(os.environ)
    with Emulator(state_dir=tmp_path_factory.mktemp("azemu"), settings=FAST) as emu:
        os.environ.update(emu.env())
        yield emu
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    """The session emulator, back at its seed (plus resource group rg1), empty log, no faults."""
    if os.environ.get("HTTPS_PROXY") != emulator.url or not emulator.url.startswith("http://127.0.0.1:"):
        pytest.fail("HTTPS_PROXY is not the emulator's loopback URL: refusing to send traffic anywhere else")
    emulator.reset()
    emulator.services.faults.clear(seed=0)
    emulator.load_seed({"resources": [{"id": RG_ID, "body": {"location": "eastus"}}]})
    emulator.services.log.clear()
    return emulator


def admin(emu: Emulator, method: str, path: str, body: Optional[Any] = None) -> Any:
    """Call the admin API directly (never through a proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{emu.url}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with opener.open(request) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture
def credential(emu: Emulator):
    from azure.identity import ClientSecretCredential
    return ClientSecretCredential(TENANT_ID, OPERATOR_CLIENT_ID, OPERATOR_SECRET)


@pytest.fixture
def kv_mgmt(credential):
    from azure.mgmt.keyvault import KeyVaultManagementClient
    return KeyVaultManagementClient(credential, SUBSCRIPTION_ID)


@pytest.fixture
def compute(credential):
    from azure.mgmt.compute import ComputeManagementClient
    return ComputeManagementClient(credential, SUBSCRIPTION_ID)


@pytest.fixture
def cmk_env(emu):
    """kv1 (RBAC, purge protection) with RSA-2048 key k1; uai1 holding Crypto Service Encryption User on kv1
    (`cmk_helpers.CmkEnv`)."""
    from cmk_helpers import new_cmk_env
    return new_cmk_env(emu)


def vault_parameters(sku: str = "premium", **properties: Any):
    from azure.mgmt.keyvault.models import Sku, VaultCreateOrUpdateParameters, VaultProperties
    return VaultCreateOrUpdateParameters(
        location="eastus", properties=VaultProperties(tenant_id=TENANT_ID, sku=Sku(family="A", name=sku), **properties))


def requests_log(emu: Emulator, **filters: Any) -> list[dict]:
    return [entry for entry in emu.services.log.entries()
            if all(str(entry.get(key)) == str(value) for key, value in filters.items())]
