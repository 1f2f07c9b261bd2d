"""Key Vault (`<vault>.vault.azure.net`) and Managed HSM (`<hsm>.managedhsm.azure.net`) key data planes."""
from __future__ import annotations

import base64
import re
import time
from typing import Callable, Optional
from urllib.parse import urlencode

from ..arm import registry
from ..dataplane import DataContext
from ..http import HttpError, Response, empty_response, json_response
from . import hsmrbac, keystore
from .keystore import Key, KeyVersion, key_ring
from .kvaccess import authorize


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_not_found(name: str) -> HttpError:
    return HttpError(404, "KeyNotFound",
                     f"A key with (name/id) {name} was not found in this key vault. If you recently deleted this key "
                     "you may be able to recover it using the correct recovery command. For help resolving this issue, "
                     "please see https://go.microsoft.com/fwlink/?linkid=2125182")


def deleted_key_not_found(name: str) -> HttpError:
    return HttpError(404, "KeyNotFound", f"Deleted Key not found: {name}")


class KeyDataPlane:
    owner_type = ""

    def locate(self, state, endpoint) -> Optional[dict]:
        return next((r for r in state.resources.of_type(self.owner_type) if r["name"].lower() == endpoint.name
                     and r.get("properties", {}).get("provisioningState") != "Provisioning"), None)

    def handle(self, ctx: DataContext) -> Response:
        if not ctx.request.params.get("api-version"):
            raise HttpError(400, "BadParameter", "The request URI contains an invalid or missing 'api-version'.")
        segments = [s for s in ctx.request.path.split("/") if s]
        if "providers" in [s.lower() for s in segments]:
            return self.handle_providers(ctx, segments)
        for method, pattern, function in _ROUTES:
            match = pattern.match("/" + "/".join(segments))
            if match and method == ctx.request.method:
                return function(ctx, **match.groupdict())
        raise HttpError(400, "BadParameter", f"Unknown Key Vault data-plane operation {ctx.request.method} {ctx.request.path}")

    def handle_providers(self, ctx: DataContext, segments: list[str]) -> Response:
        raise HttpError(404, "NotFound", "Role management is a Managed HSM feature.")


class VaultDataPlane(KeyDataPlane):
    owner_type = "Microsoft.KeyVault/vaults"


class HsmDataPlane(KeyDataPlane):
    owner_type = "Microsoft.KeyVault/managedHSMs"

    def handle_providers(self, ctx: DataContext, segments: list[str]) -> Response:
        return hsmrbac.handle(ctx, segments)


registry.data_plane("kv", VaultDataPlane())
registry.data_plane("mhsm", HsmDataPlane())

_ROUTES: list[tuple[str, re.Pattern, Callable[..., Response]]] = []


def _route(method: str, pattern: str):
    def register(function):
        _ROUTES.append((method, re.compile(pattern + "$", re.I), function))
        return function
    return register


# --- views -------------------------------------------------------------------------------------------
def _kid(ctx: DataContext, key: Key, version: Optional[KeyVersion] = None) -> str:
    return f"{ctx.base_url}/keys/{key.name}" + (f"/{version.version}" if version else "")


def _attributes(version: KeyVersion) -> dict:
    return {name: value for name, value in version.attributes.items() if value is not None}


def bundle(ctx: DataContext, key: Key, version: KeyVersion) -> dict:
    body = {"key": version.jwk(_kid(ctx, key, version)), "attributes": _attributes(version)}
    if version.tags:
        body["tags"] = dict(version.tags)
    return body


def _item(ctx: DataContext, key: Key, version: Optional[KeyVersion]) -> dict:
    shown = version or key.latest
    body = {"kid": _kid(ctx, key, version), "attributes": _attributes(shown)}
    if shown.tags:
        body["tags"] = dict(shown.tags)
    return body


def _deleted_fields(ctx: DataContext, key: Key) -> dict:
    days = ctx.resource["properties"].get("softDeleteRetentionInDays", 90)
    return {"recoveryId": f"{ctx.base_url}/deletedkeys/{key.name}", "deletedDate": key.deleted_on,
            "scheduledPurgeDate": key.deleted_on + days * 86400}


def _paged(ctx: DataContext, items: list[dict]) -> Response:
    params = ctx.request.params
    size = int(params.get("maxresults") or ctx.state.settings.page_size)
    start = int(params.get("$skiptoken") or 0)
    body: dict = {"value": items[start:start + size], "nextLink": None}
    if start + size < len(items):
        query = {"api-version": params["api-version"], "$skiptoken": str(start + size), "maxresults": str(size)}
        body["nextLink"] = f"{ctx.base_url}{ctx.request.path}?{urlencode(query)}"
    return json_response(200, body)


# --- lookups -----------------------------------------------------------------------------------------
def _key(ctx: DataContext, name: str) -> Key:
    key = key_ring(ctx.state, ctx.resource).get(name)
    if key is None:
        raise key_not_found(name)
    return key


def _version(ctx: DataContext, name: str, version: str) -> tuple[Key, KeyVersion]:
    key = _key(ctx, name)
    found = key.version(version or "")
    if found is None:
        raise key_not_found(f"{name}/{version}")
    return key, found


def _body(ctx: DataContext) -> dict:
    body = ctx.request.json() or {}
    if not isinstance(body, dict):
        raise HttpError(400, "BadParameter", "The request body must be a JSON object.")
    return body


# --- keys ----------------------------------------------------------------------------------------------
@_route("POST", r"/keys/(?P<name>[^/]+)/create")
def create_key(ctx: DataContext, name: str) -> Response:
    authorize(ctx, "create", name)
    key, version = keystore.create_key(ctx.state, ctx.resource, name, _body(ctx))
    return json_response(200, bundle(ctx, key, version))


@_route("GET", r"/keys/(?P<name>[^/]+)(?:/(?P<version>[0-9a-fA-F]{32}))?")
def get_key(ctx: DataContext, name: str, version: Optional[str] = None) -> Response:
    authorize(ctx, "get", name)
    key, found = _version(ctx, name, version or "")
    return json_response(200, bundle(ctx, key, found))


@_route("PATCH", r"/keys/(?P<name>[^/]+)(?:/(?P<version>[0-9a-fA-F]{32}))?")
def update_key(ctx: DataContext, name: str, version: Optional[str] = None) -> Response:
    authorize(ctx, "update", name)
    key, found = _version(ctx, name, version or "")
    body = _body(ctx)
    found.attributes.update({k: v for k, v in (body.get("attributes") or {}).items()
                             if k in ("enabled", "nbf", "exp", "exportable")})
    found.attributes["updated"] = int(time.time())
    if body.get("key_ops") is not None:
        found.key_ops = list(body["key_ops"])
    if body.get("tags") is not None:
        found.tags = dict(body["tags"])
    return json_response(200, bundle(ctx, key, found))


@_route("GET", r"/keys")
def list_keys(ctx: DataContext) -> Response:
    authorize(ctx, "list")
    ring = key_ring(ctx.state, ctx.resource)
    return _paged(ctx, [_item(ctx, key, None) for key in ring.keys.values()])


@_route("GET", r"/keys/(?P<name>[^/]+)/versions")
def list_versions(ctx: DataContext, name: str) -> Response:
    authorize(ctx, "list", name)
    key = _key(ctx, name)
    return _paged(ctx, [_item(ctx, key, version) for version in key.versions])


@_route("POST", r"/keys/(?P<name>[^/]+)/rotate")
def rotate_key(ctx: DataContext, name: str) -> Response:
    authorize(ctx, "rotate", name)
    key = _key(ctx, name)
    return json_response(200, bundle(ctx, key, keystore.rotate(ctx.resource, key)))


@_route("DELETE", r"/keys/(?P<name>[^/]+)")
def delete_key(ctx: DataContext, name: str) -> Response:
    authorize(ctx, "delete", name)
    ring = key_ring(ctx.state, ctx.resource)
    key = _key(ctx, name)
    key.deleted_on = int(time.time())
    ring.deleted[name.lower()] = ring.keys.pop(name.lower())
    return json_response(200, {**bundle(ctx, key, key.latest), **_deleted_fields(ctx, key)})


# --- deleted keys --------------------------------------------------------------------------------------
def _deleted(ctx: DataContext, name: str) -> Key:
    key = key_ring(ctx.state, ctx.resource).deleted.get(name.lower())
    if key is None:
        raise deleted_key_not_found(name)
    return key


@_route("GET", r"/deletedkeys")
def list_deleted(ctx: DataContext) -> Response:
    authorize(ctx, "listdeleted")
    ring = key_ring(ctx.state, ctx.resource)
    return _paged(ctx, [{**_item(ctx, key, None), **_deleted_fields(ctx, key)} for key in ring.deleted.values()])


@_route("GET", r"/deletedkeys/(?P<name>[^/]+)")
def get_deleted(ctx: DataContext, name: str) -> Response:
    authorize(ctx, "getdeleted", name)
    key = _deleted(ctx, name)
    return json_response(200, {**bundle(ctx, key, key.latest), **_deleted_fields(ctx, key)})


@_route("POST", r"/deletedkeys/(?P<name>[^/]+)/recover")
def recover_deleted(ctx: DataContext, name: str) -> Response:
    authorize(ctx, "recover", name)
    ring = key_ring(ctx.state, ctx.resource)
    key = _deleted(ctx, name)
    key.deleted_on = None
    ring.keys[name.lower()] = ring.deleted.pop(name.lower())
    return json_response(200, bundle(ctx, key, key.latest))


@_route("DELETE", r"/deletedkeys/(?P<name>[^/]+)")
def purge_deleted(ctx: DataContext, name: str) -> Response:
    authorize(ctx, "purge", name)
    _deleted(ctx, name)
    if ctx.resource["properties"].get("enablePurgeProtection"):
        raise HttpError(403, "Forbidden",
                        'Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault '
                        "service will automatically purge it after the retention period has passed.")
    del key_ring(ctx.state, ctx.resource).deleted[name.lower()]
    return empty_response(204)


# --- rotation policy -------------------------------------------------------------------------------------
def _policy_view(ctx: DataContext, key: Key, policy: dict) -> dict:
    return {"id": f"{ctx.base_url}/keys/{key.name}/rotationpolicy", **policy}


@_route("GET", r"/keys/(?P<name>[^/]+)/rotationpolicy")
def get_rotation_policy(ctx: DataContext, name: str) -> Response:
    authorize(ctx, "getrotationpolicy", name)
    key = _key(ctx, name)
    return json_response(200, _policy_view(ctx, key, keystore.effective_rotation_policy(key)))


@_route("PUT", r"/keys/(?P<name>[^/]+)/rotationpolicy")
def set_rotation_policy(ctx: DataContext, name: str) -> Response:
    authorize(ctx, "setrotationpolicy", name)
    key = _key(ctx, name)
    return json_response(200, _policy_view(ctx, key, keystore.store_rotation_policy(key, _body(ctx))))


# --- wrap / unwrap --------------------------------------------------------------------------------------
def _crypto(ctx: DataContext, name: str, version: str, operation: str) -> tuple[Key, KeyVersion, dict]:
    authorize(ctx, operation, name)
    key, found = _version(ctx, name, version)
    if not found.usable:
        raise HttpError(403, "Forbidden", f"Operation {operation} is not allowed on a disabled or expired key.")
    if operation not in found.key_ops:
        raise HttpError(403, "Forbidden", f"Operation {operation} is not permitted on this key.")
    return key, found, _body(ctx)


@_route("POST", r"/keys/(?P<name>[^/]+)/(?P<version>[0-9a-fA-F]{32})/wrapkey")
def wrap_key(ctx: DataContext, name: str, version: str) -> Response:
    key, found, body = _crypto(ctx, name, version, "wrapKey")
    value = keystore.wrap(found, body.get("alg", ""), _b64decode(body.get("value", "")))
    return json_response(200, {"kid": _kid(ctx, key, found), "value": base64.urlsafe_b64encode(value).rstrip(b"=").decode()})


@_route("POST", r"/keys/(?P<name>[^/]+)/(?P<version>[0-9a-fA-F]{32})/unwrapkey")
def unwrap_key(ctx: DataContext, name: str, version: str) -> Response:
    key, found, body = _crypto(ctx, name, version, "unwrapKey")
    value = keystore.unwrap(found, body.get("alg", ""), _b64decode(body.get("value", "")))
    return json_response(200, {"kid": _kid(ctx, key, found), "value": base64.urlsafe_b64encode(value).rstrip(b"=").decode()})
