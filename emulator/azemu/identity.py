"""Entra ID (token endpoints, OIDC discovery, user realm) and the App Service managed identity endpoint.

Access tokens are JWT-shaped (HS256 with a per-run secret) so clients that peek at claims see `oid`,
`tid`, `aud`, `appid`; the emulator itself validates them by lookup in its token table.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from .clouds import Endpoint, normalise_audience
from .http import Request, Response, json_response
from .state import Principal, State

AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
PUBLIC_CLIENT_IDS = {AZURE_CLI_CLIENT_ID, "1950a258-227b-4e31-a9cf-717495945fc2"}  # Azure CLI, Azure PowerShell
_OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class TokenRecord:
    object_id: str
    tenant_id: str
    audience: str  # normalised (see clouds.normalise_audience)
    app_id: str
    expires_on: float

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_on


class TokenError(Exception):
    def __init__(self, kind: str, record: Optional[TokenRecord] = None):
        super().__init__(kind)
        self.kind = kind  # "missing" | "invalid" | "expired"
        self.record = record


class Tokens:
    """Issued access tokens. Survives `reset` so clients' cached tokens stay usable."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._tokens: dict[str, TokenRecord] = {}
        self._refresh: dict[str, tuple[str, str, str]] = {}  # refresh token -> (oid, tenant, client id)

    def _jwt(self, claims: dict) -> str:
        header = b64url(json.dumps({"typ": "JWT", "alg": "HS256", "kid": "azemu"}).encode())
        payload = b64url(json.dumps(claims).encode())
        signature = hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{b64url(signature)}"

    def issue(self, principal: Principal, audience: str, lifetime: int, issuer_host: str) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "aud": audience, "iss": f"https://sts.windows.net/{principal.tenant_id}/", "iat": now, "nbf": now,
            "exp": now + lifetime, "oid": principal.object_id, "tid": principal.tenant_id, "sub": principal.object_id,
            "appid": principal.client_id or AZURE_CLI_CLIENT_ID, "idtyp": "user" if principal.type == "User" else "app",
            "uti": uuid.uuid4().hex, "ver": "1.0", "azemu_login_host": issuer_host,
        }
        if principal.username:
            claims["upn"] = principal.username
        token = self._jwt(claims)
        with self._lock:
            self._tokens[token] = TokenRecord(principal.object_id, principal.tenant_id, normalise_audience(audience),
                                              claims["appid"], now + lifetime)
        return token, lifetime

    def issue_refresh(self, principal: Principal, client_id: str) -> str:
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._refresh[token] = (principal.object_id, principal.tenant_id, client_id)
        return token

    def redeem_refresh(self, token: str) -> Optional[tuple[str, str, str]]:
        with self._lock:
            return self._refresh.get(token)

    def validate(self, authorization: str) -> TokenRecord:
        scheme, _space, token = authorization.strip().partition(" ")
        if not authorization:
            raise TokenError("missing")
        with self._lock:
            record = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if record is None:
            raise TokenError("invalid")
        if record.expired:
            raise TokenError("expired", record)
        return record

    def peek(self, authorization: str) -> Optional[TokenRecord]:
        try:
            return self.validate(authorization)
        except TokenError as exc:
            return exc.record

    def expire_all(self) -> None:
        """Test helper: every issued token is now expired."""
        with self._lock:
            for record in self._tokens.values():
                record.expires_on = 0


class AadError(Exception):
    def __init__(self, status: int, error: str, code: int, message: str):
        super().__init__(message)
        self.status, self.error, self.code, self.message = status, error, code, message

    def response(self) -> Response:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        description = (f"AADSTS{self.code}: {self.message} Trace ID: {trace} Correlation ID: {correlation} "
                       f"Timestamp: {stamp}")
        return json_response(self.status, {
            "error": self.error, "error_description": description, "error_codes": [self.code],
            "timestamp": stamp, "trace_id": trace, "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        })


def _tenant_not_found(tenant: str) -> AadError:
    return AadError(400, "invalid_request", 90002,
                    f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
                    "in to the correct cloud. Check with your subscription administrator, this may happen if there "
                    "are no active subscriptions for the tenant.")


def _resource_from_scopes(scope: str) -> str:
    resources = [item for item in scope.split() if item.lower() not in _OIDC_SCOPES]
    if not resources:
        raise AadError(400, "invalid_scope", 70011,
                       f"The provided request must include a 'scope' input parameter. The provided value for the "
                       f"input parameter 'scope' is not valid. The scope {scope} is not valid.")
    return resources[0][: -len("/.default")] if resources[0].endswith("/.default") else resources[0]


class EntraId:
    """The login.* hosts."""

    def __init__(self, state: State, tokens: Tokens):
        self.state = state
        self.tokens = tokens

    def handle(self, request: Request, endpoint: Endpoint) -> Response:
        parts = [unquote(part) for part in request.path.split("/") if part]
        try:
            return self._route(request, parts)
        except AadError as exc:
            return exc.response()

    def _route(self, request: Request, parts: list[str]) -> Response:
        lowered = [part.lower() for part in parts]
        if lowered[:3] == ["common", "discovery", "instance"]:
            return self._instance_discovery(request)
        if lowered[:2] == ["common", "userrealm"] and len(parts) == 3:
            return self._user_realm(parts[2])
        if len(parts) >= 2 and lowered[-2:] == [".well-known", "openid-configuration"]:
            return self._openid_configuration(request, parts[0], v2=lowered[1] == "v2.0")
        if len(parts) >= 3 and lowered[1] == "oauth2" and lowered[-1] == "token" and request.method == "POST":
            return self._token(request, parts[0], v2=lowered[2] == "v2.0")
        if len(parts) >= 2 and lowered[-1] == "keys":
            return json_response(200, {"keys": []})
        return json_response(404, {"error": "not_found", "error_description": f"azemu: no Entra endpoint {request.path}"})

    # discovery ------------------------------------------------------------------------------------
    def _known_tenant(self, tenant: str) -> bool:
        return tenant.lower() in {t.lower() for t in self.state.tenants} | {"common", "organizations"}

    def _openid_configuration(self, request: Request, tenant: str, v2: bool) -> Response:
        if not self._known_tenant(tenant):
            raise _tenant_not_found(tenant)
        base = f"https://{request.host}/{tenant}"
        version = "/v2.0" if v2 else ""
        issuer_tenant = "{tenantid}" if tenant.lower() in ("common", "organizations") else tenant
        return json_response(200, {
            "token_endpoint": f"{base}/oauth2{version}/token",
            "authorization_endpoint": f"{base}/oauth2{version}/authorize",
            "device_authorization_endpoint": f"{base}/oauth2{version}/devicecode",
            "jwks_uri": f"{base}/discovery{version}/keys",
            "issuer": f"https://{request.host}/{issuer_tenant}{version}",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "tenant_region_scope": None,
            "cloud_instance_name": request.host.partition(".")[2],
        })

    def _instance_discovery(self, request: Request) -> Response:
        host = request.host
        return json_response(200, {
            "tenant_discovery_endpoint": f"https://{host}/common/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        })

    def _user_realm(self, username: str) -> Response:
        user = self.state.find_principal(username=username)
        domain = username.rpartition("@")[2]
        return json_response(200, {
            "ver": "1.0", "account_type": "Managed" if user else "Unknown", "domain_name": domain,
            "cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        })

    # token endpoint -------------------------------------------------------------------------------
    def _token(self, request: Request, tenant: str, v2: bool) -> Response:
        form = request.form()
        if not self._known_tenant(tenant):
            raise _tenant_not_found(tenant)
        grant = form.get("grant_type", "")
        audience = _resource_from_scopes(form.get("scope", "")) if v2 else form.get("resource", "")
        if grant == "client_credentials":
            principal = self._authenticate_client(form, tenant, request)
            return self._token_response(principal, audience, request.host)
        if grant == "password":
            principal = self._authenticate_user(form, tenant)
            return self._token_response(principal, audience, request.host, user_client=form.get("client_id", ""))
        if grant == "refresh_token":
            principal, client_id = self._redeem_refresh(form)
            return self._token_response(principal, audience, request.host, user_client=client_id)
        raise AadError(400, "unsupported_grant_type", 70003,
                       f"The app requested an unsupported grant type '{grant}'.")

    def _application(self, client_id: str, tenant: str) -> Principal:
        principal = self.state.find_principal(client_id=client_id)
        if principal is None or principal.type == "User" or not self._tenant_matches(principal, tenant):
            raise AadError(400, "unauthorized_client", 700016,
                           f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
                           "This can happen if the application has not been installed by the administrator of the "
                           "tenant or consented to by any user in the tenant. You may have sent your authentication "
                           "request to the wrong tenant.")
        return principal

    @staticmethod
    def _tenant_matches(principal: Principal, tenant: str) -> bool:
        return tenant.lower() in ("common", "organizations") or principal.tenant_id.lower() == tenant.lower()

    def _authenticate_client(self, form: dict, tenant: str, request: Request) -> Principal:
        principal = self._application(form.get("client_id", ""), tenant)
        if "client_secret" in form:
            if form["client_secret"] not in principal.secrets:
                raise AadError(401, "invalid_client", 7000215,
                               "Invalid client secret provided. Ensure the secret being sent in the request is the "
                               "client secret value, not the client secret ID, for a secret added to app "
                               f"'{principal.client_id}'.")
            return principal
        if "client_assertion" in form:
            self._check_assertion(principal, form["client_assertion"], request)
            return principal
        raise AadError(401, "invalid_client", 7000218,
                       "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")

    def _check_assertion(self, principal: Principal, assertion: str, request: Request) -> None:
        if assertion in principal.federated_tokens:
            return
        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
            header = json.loads(b64url_decode(header_b64))
            claims = json.loads(b64url_decode(payload_b64))
        except ValueError:
            raise AadError(400, "invalid_request", 50027,
                           "JWT token is invalid or malformed.") from None
        if "x5t" not in header and "x5t#S256" not in header:
            raise AadError(400, "invalid_request", 700213,
                           f"No matching federated identity record found for presented assertion subject "
                           f"'{claims.get('sub', '')}'. Please check your federated identity credential Subject, "
                           "Audience and Issuer against the presented assertion.")
        certificate = self._matching_certificate(principal, header)
        signed = f"{header_b64}.{payload_b64}".encode()
        if not _verify_signature(certificate, header.get("alg", ""), signed, b64url_decode(signature_b64)):
            raise AadError(401, "invalid_client", 7000274,
                           "Client assertion contains an invalid signature.")
        self._check_assertion_claims(principal, claims, request)

    @staticmethod
    def _matching_certificate(principal: Principal, header: dict) -> x509.Certificate:
        for pem in principal.certificates:
            cert = x509.load_pem_x509_certificate(pem.encode())
            if _thumbprint(header, "x5t#S256") == b64url(cert.fingerprint(hashes.SHA256())) or \
                    _thumbprint(header, "x5t") == b64url(cert.fingerprint(hashes.SHA1())):
                return cert
        thumbprint = header.get("x5t#S256") or header.get("x5t")
        raise AadError(401, "invalid_client", 700027,
                       "The certificate with identifier used to sign the client assertion is not registered on "
                       f"application. [Reason - The key was not found., Thumbprint of key used by client: "
                       f"'{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph "
                       f"to see configured keys for app Id '{principal.client_id}'.]")

    @staticmethod
    def _check_assertion_claims(principal: Principal, claims: dict, request: Request) -> None:
        if claims.get("exp", 0) < time.time():
            raise AadError(400, "invalid_client", 700024, "Client assertion is not within its valid time range.")
        if claims.get("sub") != principal.client_id or claims.get("iss") != principal.client_id:
            raise AadError(400, "invalid_client", 700021,
                           "Client assertion application identifier doesn't match 'client_id' parameter.")
        audience = claims.get("aud", "")
        if not str(audience).lower().startswith(f"https://{request.host}/"):
            raise AadError(400, "invalid_client", 700212,
                           f"No matching federated identity record found for presented assertion audience '{audience}'.")

    def _authenticate_user(self, form: dict, tenant: str) -> Principal:
        client_id = form.get("client_id", "")
        if client_id not in PUBLIC_CLIENT_IDS:
            self._application(client_id, tenant)  # raises AADSTS700016 for an unknown client
        user = self.state.find_principal(username=form.get("username", ""))
        if user is None or user.type != "User" or not self._tenant_matches(user, tenant):
            raise AadError(400, "invalid_grant", 50034,
                           f"The user account {{EUII Hidden}} does not exist in the {tenant} directory. To sign into "
                           "this application, the account must be added to the directory.")
        if form.get("password") != user.password:
            raise AadError(400, "invalid_grant", 50126,
                           "Error validating credentials due to invalid username or password.")
        return user

    def _redeem_refresh(self, form: dict) -> tuple[Principal, str]:
        entry = self.tokens.redeem_refresh(form.get("refresh_token", ""))
        principal = self.state.principal(entry[0]) if entry else None
        if principal is None:
            raise AadError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
        return principal, entry[2]

    def _token_response(self, principal: Principal, audience: str, host: str, user_client: str = "") -> Response:
        lifetime = self.state.settings.token_lifetime
        token, expires_in = self.tokens.issue(principal, audience, lifetime, host)
        body = {"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in,
                "access_token": token}
        if principal.type == "User":
            body.update(self._user_extras(principal, user_client, host))
        return json_response(200, body)

    def _user_extras(self, user: Principal, client_id: str, host: str) -> dict:
        now = int(time.time())
        id_claims = {
            "aud": client_id, "iss": f"https://{host}/{user.tenant_id}/v2.0", "iat": now, "nbf": now,
            "exp": now + 3600, "oid": user.object_id, "tid": user.tenant_id, "sub": user.object_id,
            "preferred_username": user.username, "name": user.display_name or user.username, "ver": "2.0",
        }
        id_token = ".".join([b64url(b'{"typ":"JWT","alg":"none"}'), b64url(json.dumps(id_claims).encode()), ""])
        return {
            "scope": "https://management.azure.com/user_impersonation",
            "refresh_token": self.tokens.issue_refresh(user, client_id),
            "id_token": id_token,
            "client_info": b64url(json.dumps({"uid": user.object_id, "utid": user.tenant_id}).encode()),
        }


def _thumbprint(header: dict, name: str) -> str:
    """x5t values are base64url; MSAL keeps the `=` padding, others strip it."""
    return str(header.get(name, "")).rstrip("=")


def _verify_signature(certificate: x509.Certificate, alg: str, signed: bytes, signature: bytes) -> bool:
    key = certificate.public_key()
    schemes = {
        "RS256": padding.PKCS1v15(),
        "PS256": padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
    }
    if alg not in schemes:
        return False
    try:
        key.verify(signature, signed, schemes[alg], hashes.SHA256())
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True


class ManagedIdentityEndpoint:
    """`GET /msi/token` in the App Service 2019-08-01 protocol (what msal's ManagedIdentityClient sends)."""

    def __init__(self, state: State, tokens: Tokens, header_secret: str):
        self.state = state
        self.tokens = tokens
        self.header_secret = header_secret

    def handle(self, request: Request) -> Response:
        if request.header("x-identity-header") != self.header_secret:
            return json_response(401, {"statusCode": 401, "message": "Unauthorized: X-IDENTITY-HEADER is missing or wrong."})
        params = request.params
        resource = params.get("resource", "")
        if not resource:
            return json_response(400, {"statusCode": 400, "message": "Required query parameter 'resource' is missing."})
        principal = self._select(params)
        if principal is None:
            return json_response(400, {
                "statusCode": 400, "correlationId": str(uuid.uuid4()),
                "message": "No User Assigned or Delegated Managed Identity found for specified "
                           "ClientId/ResourceId/PrincipalId."})
        token, expires_in = self.tokens.issue(principal, resource, self.state.settings.token_lifetime, "msi")
        return json_response(200, {
            "access_token": token, "expires_on": str(int(time.time()) + expires_in), "resource": resource,
            "token_type": "Bearer", "client_id": principal.client_id,
        })

    def _select(self, params: dict) -> Optional[Principal]:
        selectors = (("client_id", "client_id"), ("object_id", "object_id"), ("principal_id", "object_id"),
                     ("mi_res_id", "resource_id"))
        for param, attribute in selectors:
            if params.get(param):
                principal = self.state.find_principal(**{attribute: params[param]})
                return principal if principal and principal.type == "ManagedIdentity" else None
        return self.state.principal(self.state.default_managed_identity)
