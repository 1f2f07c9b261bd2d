"""Token checks on ARM: missing, invalid, expired, wrong audience."""
from __future__ import annotations

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.mgmt.keyvault import KeyVaultManagementClient

from conftest import RG, SUBSCRIPTION_ID, admin

VAULTS = f"https://management.azure.com/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults"


class StaticToken:
    def __init__(self, token: str):
        self.token = token

    def get_token(self, *scopes, **kwargs):
        return AccessToken(self.token, 4102444800)


def test_bad_token_is_401(emu):
    client = KeyVaultManagementClient(StaticToken("not-a-token"), SUBSCRIPTION_ID)
    with pytest.raises(ClientAuthenticationError) as error:
        client.vaults.get(RG, "kv1")
    assert error.value.error.code == "InvalidAuthenticationToken"


def test_missing_header_and_api_version(emu, credential):
    response = requests.get(f"{VAULTS}/kv1?api-version=2026-05-15")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationFailed"
    assert response.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    token = credential.get_token("https://management.azure.com/.default").token
    response = requests.get(f"{VAULTS}/kv1", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MissingApiVersionParameter"


def test_wrong_audience_and_expired(emu, credential):
    vault_token = credential.get_token("https://vault.azure.net/.default").token
    client = KeyVaultManagementClient(StaticToken(vault_token), SUBSCRIPTION_ID)
    with pytest.raises(ClientAuthenticationError) as error:
        client.vaults.get(RG, "kv1")
    assert error.value.error.code == "InvalidAuthenticationTokenAudience"
    arm_token = credential.get_token("https://management.azure.com/.default").token
    admin(emu, "POST", "/_emulator/tokens/expire")
    with pytest.raises(ClientAuthenticationError) as error:
        KeyVaultManagementClient(StaticToken(arm_token), SUBSCRIPTION_ID).vaults.get(RG, "kv1")
    assert error.value.error.code == "ExpiredAuthenticationToken"


def test_metadata_endpoints(emu):
    body = requests.get("https://management.usgovcloudapi.net/metadata/endpoints?api-version=2022-09-01").json()
    assert body["suffixes"]["keyVaultDns"] == "vault.usgovcloudapi.net"
    assert body["authentication"]["loginEndpoint"] == "https://login.microsoftonline.us"
