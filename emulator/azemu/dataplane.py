"""Shared front door of the Key Vault / Managed HSM data planes: the bearer challenge and token checks.

Providers register a handler per service (`registry.data_plane("kv", handler)`); a handler has
`locate(state, endpoint) -> Optional[dict]` (the ARM resource behind the host name) and
`handle(ctx: DataContext) -> Response`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .clouds import Endpoint, normalise_audience
from .http import HttpError, Request, Response, json_response
from .identity import TokenError

if TYPE_CHECKING:
    from .emulator import Services


@dataclass
class DataContext:
    request: Request
    endpoint: Endpoint
    services: "Services"
    resource: dict  # the vault / managed HSM ARM resource
    principal: str = ""
    token_app_id: str = ""

    @property
    def state(self):
        return self.services.state

    @property
    def base_url(self) -> str:
        return f"https://{self.request.host}"


URI_PROPERTIES = {"kv": "vaultUri", "mhsm": "hsmUri"}


def resolves(services: "Services", endpoint: Endpoint, host: str) -> bool:
    """Would DNS resolve this vault / managed HSM host name?

    Only while a vault or HSM publishes it as its URI (`vaultUri`, or `hsmUri` once an HSM has finished
    provisioning): an unknown, deleted (soft-deleted included) or still-provisioning name does not resolve,
    nor does an existing name under another cloud's suffix (`kv1.vault.azure.cn` for a vault of AzureCloud).
    """
    handler: Any = services.registry.data_planes.get(endpoint.service)
    if handler is None:
        return False
    host = host.lower().rstrip(".")
    uri_property = URI_PROPERTIES[endpoint.service]
    return any(urlsplit(str((resource.get("properties") or {}).get(uri_property) or "")).hostname == host
               for resource in services.state.resources.of_type(handler.owner_type))


def resource_audience(endpoint: Endpoint) -> str:
    return endpoint.cloud.kv_resource if endpoint.service == "kv" else endpoint.cloud.mhsm_resource


def challenge_header(endpoint: Endpoint, tenant_id: str) -> str:
    return (f'Bearer authorization="{endpoint.cloud.login_endpoint}/{tenant_id}", '
            f'resource="{resource_audience(endpoint)}"')


def _unauthorized(endpoint: Endpoint, tenant_id: str, message: str) -> HttpError:
    return HttpError(401, "Unauthorized", message, {"WWW-Authenticate": challenge_header(endpoint, tenant_id)})


def authenticate(ctx: DataContext) -> None:
    """Sets ctx.principal or raises the 401 the real service sends (with the challenge header)."""
    tenant = ctx.resource.get("properties", {}).get("tenantId", ctx.state.default_tenant)
    try:
        record = ctx.services.tokens.validate(ctx.request.header("authorization"))
    except TokenError as exc:
        messages = {"missing": "AKV10000: Request is missing a Bearer or PoP token.",
                    "invalid": "AKV10001: Token is malformed or its signature cannot be validated.",
                    "expired": "AKV10013: The access token has expired."}
        raise _unauthorized(ctx.endpoint, tenant, messages[exc.kind]) from None
    expected = resource_audience(ctx.endpoint)
    if record.audience != normalise_audience(expected):
        raise _unauthorized(ctx.endpoint, tenant,
                            f"AKV10022: Invalid audience. Expected {expected}, found: {record.audience}.")
    if record.tenant_id.lower() != tenant.lower():
        raise _unauthorized(ctx.endpoint, tenant,
                            f"AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{tenant}/, "
                            f"found https://sts.windows.net/{record.tenant_id}/.")
    if ctx.state.principal(record.object_id) is None:
        raise _unauthorized(ctx.endpoint, tenant, "AKV10001: The principal of the token no longer exists.")
    ctx.principal = record.object_id
    ctx.token_app_id = record.app_id
    ctx.request.principal = record.object_id


def serve(services: "Services", request: Request, endpoint: Endpoint) -> Response:
    handler: Any = services.registry.data_planes.get(endpoint.service)
    resource = handler.locate(services.state, endpoint) if handler else None
    if resource is None:
        # Only on a tunnel opened while the vault existed: a new CONNECT to the name is refused (see `resolves`).
        message = (f"azemu: no {endpoint.service} named '{endpoint.name}' exists any more (this connection was opened "
                   "before it went; a new connection would be refused: the name does not resolve).")
        return json_response(404, {"error": {"code": "NotFound", "message": message}})
    ctx = DataContext(request, endpoint, services, resource)
    try:
        authenticate(ctx)
        return handler.handle(ctx)
    except HttpError as exc:
        return exc.response()
