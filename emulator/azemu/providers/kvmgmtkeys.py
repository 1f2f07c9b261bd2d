"""ARM views of keys: `vaults/{v}/keys/{k}` and `managedHSMs/{h}/keys/{k}` (+ versions), backed by the
same key store as the data planes. PUT is create-if-not-exist: it never adds a version or updates."""
from __future__ import annotations

from typing import Optional

from ..arm import ArmContext, paged, parse_target, registry
from ..http import HttpError, Response, json_response
from . import keystore
from .keystore import Key, KeyVersion, key_ring

_OWNER = (r"(?P<owner>/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.keyvault/"
          r"(?:vaults|managedhsms)/[^/]+)")


def _owner(ctx: ArmContext, owner_id: str) -> dict:
    return ctx.services.arm.existing(ctx, parse_target(owner_id))


def _key_type(owner: dict) -> str:
    return f"{owner['type']}/keys"


def _host(ctx: ArmContext, owner: dict) -> str:
    suffix = ctx.cloud.mhsm_suffix if keystore.is_hsm_owner(owner) else ctx.cloud.kv_suffix
    return f"https://{owner['name']}.{suffix}:443"


def _mgmt_policy(policy: Optional[dict]) -> Optional[dict]:
    if not policy:
        return None
    actions = [{"trigger": dict(a["trigger"]), "action": {"type": a["action"]["type"].lower()}}
               for a in policy.get("lifetimeActions", [])]
    return {"attributes": dict(policy.get("attributes") or {}), "lifetimeActions": actions}


def _properties(ctx: ArmContext, owner: dict, key: Key, version: KeyVersion) -> dict:
    base = f"{_host(ctx, owner)}/keys/{key.name}"
    shown = ("enabled", "nbf", "exp", "created", "updated", "recoveryLevel")
    properties = {
        "attributes": {**{k: v for k, v in version.attributes.items() if k in shown}, "exportable": False},
        "kty": version.kty, "keyOps": list(version.key_ops), "keyUri": base, "keyUriWithVersion": f"{base}/{version.version}",
    }
    if version.size:
        properties["keySize"] = version.size
    if version.crv:
        properties["curveName"] = version.crv
    if key.rotation_policy:
        properties["rotationPolicy"] = _mgmt_policy(key.rotation_policy)
    return properties


def key_view(ctx: ArmContext, owner: dict, key: Key) -> dict:
    return {"id": f"{owner['id']}/keys/{key.name}", "name": key.name, "type": _key_type(owner),
            "location": owner.get("location"), "tags": dict(key.latest.tags),
            "properties": _properties(ctx, owner, key, key.latest)}


def version_view(ctx: ArmContext, owner: dict, key: Key, version: KeyVersion) -> dict:
    return {"id": f"{owner['id']}/keys/{key.name}/versions/{version.version}", "name": version.version,
            "type": f"{_key_type(owner)}/versions", "location": owner.get("location"), "tags": dict(version.tags),
            "properties": _properties(ctx, owner, key, version)}


def _not_found(owner: dict, name: str) -> HttpError:
    return HttpError(404, "ResourceNotFound", f"The Resource '{_key_type(owner)}/{owner['name']}/keys/{name}' was not "
                     "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix")


def _existing_key(ctx: ArmContext, owner: dict, name: str) -> Key:
    key = key_ring(ctx.state, owner).get(name)
    if key is None:
        raise _not_found(owner, name)
    return key


def _data_spec(properties: dict) -> dict:
    attributes = {k: v for k, v in (properties.get("attributes") or {}).items() if k in ("enabled", "nbf", "exp")}
    return {"kty": properties.get("kty"), "key_size": properties.get("keySize"), "crv": properties.get("curveName"),
            "key_ops": properties.get("keyOps"), "attributes": attributes}


def _data_policy(policy: dict) -> dict:
    actions = [{"trigger": dict(a.get("trigger") or {}),
                "action": {"type": str((a.get("action") or {}).get("type", "")).capitalize()}}
               for a in policy.get("lifetimeActions") or []]
    return {"lifetimeActions": actions, "attributes": dict(policy.get("attributes") or {})}


@registry.route("PUT", _OWNER + r"/keys/(?P<name>[^/]+)")
def create_if_not_exist(ctx: ArmContext, owner: str, name: str) -> Response:
    resource = _owner(ctx, owner)
    ctx.authorize(f"{_key_type(resource)}/write", f"{resource['id']}/keys/{name}")
    key = key_ring(ctx.state, resource).get(name)
    if key is None:
        properties = ctx.body().get("properties") or {}
        policy = properties.get("rotationPolicy")
        if policy:
            keystore.validate_rotation_policy(_data_policy(policy))
        key = keystore.create_key(ctx.state, resource, name, _data_spec(properties))[0]
        if policy:
            keystore.store_rotation_policy(key, _data_policy(policy))
    return json_response(200, key_view(ctx, resource, key))


@registry.route("GET", _OWNER + r"/keys/(?P<name>[^/]+)")
def get_key(ctx: ArmContext, owner: str, name: str) -> Response:
    resource = _owner(ctx, owner)
    ctx.authorize(f"{_key_type(resource)}/read", f"{resource['id']}/keys/{name}")
    return json_response(200, key_view(ctx, resource, _existing_key(ctx, resource, name)))


@registry.route("GET", _OWNER + r"/keys")
def list_keys(ctx: ArmContext, owner: str) -> Response:
    resource = _owner(ctx, owner)
    ctx.authorize(f"{_key_type(resource)}/read", resource["id"])
    return paged(ctx, [key_view(ctx, resource, key) for key in key_ring(ctx.state, resource).keys.values()])


@registry.route("GET", _OWNER + r"/keys/(?P<name>[^/]+)/versions")
def list_versions(ctx: ArmContext, owner: str, name: str) -> Response:
    resource = _owner(ctx, owner)
    ctx.authorize(f"{_key_type(resource)}/versions/read", f"{resource['id']}/keys/{name}")
    key = _existing_key(ctx, resource, name)
    return paged(ctx, [version_view(ctx, resource, key, version) for version in key.versions])


@registry.route("GET", _OWNER + r"/keys/(?P<name>[^/]+)/versions/(?P<version>[^/]+)")
def get_version(ctx: ArmContext, owner: str, name: str, version: str) -> Response:
    resource = _owner(ctx, owner)
    ctx.authorize(f"{_key_type(resource)}/versions/read", f"{resource['id']}/keys/{name}")
    key = _existing_key(ctx, resource, name)
    found = key.version(version)
    if found is None:
        raise _not_found(resource, f"{name}/versions/{version}")
    return json_response(200, version_view(ctx, resource, key, found))
