"""A Key Vault / Managed HSM host name that names no vault or HSM does not resolve: the proxy refuses the CONNECT."""
from __future__ import annotations

import http.client

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.keyvault.keys import KeyClient
from azure.mgmt.keyvault.models import ManagedHsm, ManagedHsmProperties, ManagedHsmSku

from cmk_helpers import seed_hsm
from conftest import RG, TENANT_ID, requests_log, vault_parameters


def connect(emu, host: str) -> int:
    """The status the emulator's proxy answers to `CONNECT host:443`."""
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    try:
        connection.request("CONNECT", f"{host}:443")
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture
def kv1(kv_mgmt):
    return kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters(enable_purge_protection=True)).result()


@pytest.mark.parametrize("host", ["nokv.vault.azure.net", "nohsm.managedhsm.azure.net", "nokv.vault.azure.cn",
                                  "nokv.vault.usgovcloudapi.net", "nohsm.managedhsm.usgovcloudapi.net",
                                  "nokv.vault.local.azurestack.external"])
def test_unknown_vault_host_is_refused(emu, host):
    assert connect(emu, host) == 502
    entry = requests_log(emu, method="CONNECT")[-1]
    assert entry["host"] == host and entry["status"] == 502 and entry["write"] is False
    assert entry["service"] == ("kv" if ".vault." in host else "mhsm")


def test_existing_vault_resolves_in_its_own_cloud_only(emu, kv1):
    assert kv1.properties.vault_uri == "https://kv1.vault.azure.net/"
    assert connect(emu, "kv1.vault.azure.net") == 200
    assert connect(emu, "KV1.Vault.Azure.Net") == 200
    assert connect(emu, "kv1.vault.azure.cn") == 502
    assert connect(emu, "kv1.managedhsm.azure.net") == 502


def test_deleted_vault_no_longer_resolves(emu, kv_mgmt, kv1):
    kv_mgmt.vaults.delete(RG, "kv1")
    assert connect(emu, "kv1.vault.azure.net") == 502


def test_managed_hsm_resolves_once_provisioned(emu, kv_mgmt):
    emu.state.settings.lro_hold = True
    poller = kv_mgmt.managed_hsms.begin_create_or_update(RG, "hsm1", ManagedHsm(
        location="eastus", sku=ManagedHsmSku(family="B", name="Standard_B1"),
        properties=ManagedHsmProperties(tenant_id=TENANT_ID, initial_admin_object_ids=["0a11ce00-0000-4000-8000-00000000b001"],
                                        enable_purge_protection=True)))
    try:
        assert connect(emu, "hsm1.managedhsm.azure.net") == 502
    finally:
        emu.state.settings.lro_hold = False
    poller.result()
    assert connect(emu, "hsm1.managedhsm.azure.net") == 200
    seed_hsm(emu, "hsm2")
    assert connect(emu, "hsm2.managedhsm.azure.net") == 200


def test_sdk_sees_a_connection_error_not_an_http_status(emu, credential, kv1):
    """What azure-core raises for a mistyped vault: ServiceRequestError wrapping requests' ProxyError
    (azure-core retries it: `retry_total=0` keeps the test fast)."""
    client = KeyClient("https://nokv.vault.azure.net/", credential, retry_total=0)
    emu.services.log.clear()
    with pytest.raises(ServiceRequestError) as error:
        client.get_key("k1")
    assert not isinstance(error.value, HttpResponseError)
    assert isinstance(error.value.inner_exception, requests.exceptions.ProxyError)
    assert "Tunnel connection failed: 502" in str(error.value)
    assert not requests_log(emu, host="login.microsoftonline.com")  # refused before any token was asked for
    # the real vault answers over the same client stack
    with pytest.raises(HttpResponseError) as answered:
        KeyClient(kv1.properties.vault_uri, credential, retry_total=0).get_key("k1")
    assert answered.value.status_code == 403
