"""Entra ID flows of azure-identity against the emulator: secret, certificate, workload identity,
managed identity (App Service protocol), username/password, and the AADSTS errors."""
from __future__ import annotations

import datetime
import uuid

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.mgmt.keyvault import KeyVaultManagementClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from conftest import OPERATOR_CLIENT_ID, RG, SUBSCRIPTION_ID, TENANT_ID, vault_parameters

ARM = "https://management.azure.com/.default"
AZURE_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


def _self_signed() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "azemu-test-app")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _add_app(emu, **fields) -> dict:
    entry = {"object_id": str(uuid.uuid4()), "client_id": str(uuid.uuid4()), "type": "ServicePrincipal",
             "roles": [{"role": "Reader", "scope": f"/subscriptions/{SUBSCRIPTION_ID}"}], **fields}
    emu.load_seed({"principals": [entry]})
    return entry


def _claims(emu, token: str):
    return emu.services.tokens.validate(f"Bearer {token}")


def test_client_secret(emu, credential):
    token = credential.get_token(ARM).token
    record = _claims(emu, token)
    assert record.object_id == "0a11ce00-0000-4000-8000-00000000b001"
    assert record.audience == "https://management.azure.com"


def test_wrong_secret_and_unknown_tenant(emu):
    from azure.identity import ClientSecretCredential
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        ClientSecretCredential(TENANT_ID, OPERATOR_CLIENT_ID, "wrong").get_token(ARM)
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        ClientSecretCredential(TENANT_ID, str(uuid.uuid4()), "x").get_token(ARM)
    with pytest.raises(ClientAuthenticationError, match="Unable to get authority configuration"):
        ClientSecretCredential(str(uuid.uuid4()), OPERATOR_CLIENT_ID, "x").get_token(ARM)
    response = requests.post(f"https://login.microsoftonline.com/{uuid.uuid4()}/oauth2/v2.0/token",
                             data={"grant_type": "client_credentials", "client_id": OPERATOR_CLIENT_ID,
                                   "client_secret": "x", "scope": ARM})
    assert response.status_code == 400
    body = response.json()
    assert body["error_codes"] == [90002] and body["error_description"].startswith("AADSTS90002: Tenant")
    assert body["trace_id"] and body["correlation_id"]


def test_certificate_credential(emu, tmp_path):
    from azure.identity import CertificateCredential
    key_pem, cert_pem = _self_signed()
    app = _add_app(emu, certificates=[cert_pem.decode()])
    (tmp_path / "app.pem").write_bytes(key_pem + cert_pem)
    credential = CertificateCredential(TENANT_ID, app["client_id"], str(tmp_path / "app.pem"))
    assert _claims(emu, credential.get_token(ARM).token).object_id == app["object_id"]
    other_key, other_cert = _self_signed()
    (tmp_path / "other.pem").write_bytes(other_key + other_cert)
    with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
        CertificateCredential(TENANT_ID, app["client_id"], str(tmp_path / "other.pem")).get_token(ARM)


def test_workload_identity_credential(emu, tmp_path):
    from azure.identity import WorkloadIdentityCredential
    app = _add_app(emu, federated_tokens=["header.eyJzdWIiOiJzeXN0ZW06c2EifQ.sig"])
    token_file = tmp_path / "token"
    token_file.write_text("header.eyJzdWIiOiJzeXN0ZW06c2EifQ.sig")
    credential = WorkloadIdentityCredential(tenant_id=TENANT_ID, client_id=app["client_id"],
                                            token_file_path=str(token_file))
    assert _claims(emu, credential.get_token(ARM).token).object_id == app["object_id"]


def test_managed_identity_reads_but_reader_cannot_write(emu, kv_mgmt):
    from azure.identity import ManagedIdentityCredential
    kv_mgmt.vaults.begin_create_or_update(RG, "kv1", vault_parameters()).result()
    credential = ManagedIdentityCredential()
    assert _claims(emu, credential.get_token(ARM).token).object_id == "0a11ce00-0000-4000-8000-00000000b002"
    client = KeyVaultManagementClient(credential, SUBSCRIPTION_ID)
    assert client.vaults.get(RG, "kv1").name == "kv1"
    with pytest.raises(HttpResponseError) as error:
        client.vaults.begin_create_or_update(RG, "kv2", vault_parameters()).result()
    assert error.value.status_code == 403
    assert error.value.error.code == "AuthorizationFailed"
    assert ("does not have authorization to perform action 'Microsoft.KeyVault/vaults/write' over scope "
            f"'/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/kv2'"
            in error.value.message)


def test_user_assigned_managed_identity_by_client_id(emu, credential):
    from azure.identity import ManagedIdentityCredential
    from azure.mgmt.msi import ManagedServiceIdentityClient
    identity = ManagedServiceIdentityClient(credential, SUBSCRIPTION_ID).user_assigned_identities.create_or_update(
        RG, "uai1", {"location": "eastus"})
    token = ManagedIdentityCredential(client_id=identity.client_id).get_token(ARM).token
    assert _claims(emu, token).object_id == identity.principal_id


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_username_password(emu):
    from azure.identity import UsernamePasswordCredential
    emu.load_seed({"principals": [{"object_id": str(uuid.uuid4()), "type": "User", "username": "ada@contoso.test",
                                   "password": "pa55"}]})
    credential = UsernamePasswordCredential(AZURE_CLI, "ada@contoso.test", "pa55", tenant_id=TENANT_ID)
    assert _claims(emu, credential.get_token(ARM).token).audience == "https://management.azure.com"
    vault_token = credential.get_token("https://vault.azure.net/.default").token
    assert _claims(emu, vault_token).audience == "https://vault.azure.net"
    with pytest.raises(ClientAuthenticationError, match="AADSTS50126"):
        UsernamePasswordCredential(AZURE_CLI, "ada@contoso.test", "nope", tenant_id=TENANT_ID).get_token(ARM)
