"""Shared by the CMK target providers (DES, disks, VMs, AKS, storage, ACI, SQL MI): managed identity
envelopes, key URL resolution, the key checks every service makes, and the identity's key access.

Each service words its errors differently, so `check_key` raises `KeyProblem(reason, ...)` and each
provider maps the reason to the HttpError its real service sends (see each provider's `key_error`).
"""
from __future__ import annotations

import copy
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Optional
from urllib.parse import urlparse

from ..arm import ArmContext, ResourceType, Target, bad_request, registry
from ..clouds import classify_host
from ..state import Principal

VAULT_TYPE = "Microsoft.KeyVault/vaults"
HSM_TYPE = "Microsoft.KeyVault/managedHSMs"
UAI_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
NEEDED = ("get", "wrapKey", "unwrapKey")


# ---------------------------------------------------------------------------------------------- listing
# ---------------------------------------------------------------------------------------------- identities
def identity_kinds(identity: Optional[dict]) -> set[str]:
    """{"systemassigned", "userassigned"} from `identity.type` ("SystemAssigned, UserAssigned", "None", ...)."""
    text = str((identity or {}).get("type") or "None")
    kinds = {part.strip().lower() for part in text.split(",") if part.strip()}
    kinds.discard("none")
    unknown = kinds - {"systemassigned", "userassigned"}
    if unknown:
        raise bad_request(f"The identity type '{text}' is not supported. Supported values are 'None', "
                          "'SystemAssigned', 'UserAssigned' and 'SystemAssigned, UserAssigned'.", "InvalidIdentityType")
    return kinds


def identity_type_string(kinds: set[str], separator: str = ", ") -> str:
    pairs = (("systemassigned", "SystemAssigned"), ("userassigned", "UserAssigned"))
    names = [name for key, name in pairs if key in kinds]
    return separator.join(names) if names else "None"


def build_identity(ctx: ArmContext, target: Target, requested: Optional[dict], before: Optional[dict],
                   separator: str = ", ", uai_case: str = "keep") -> Optional[dict]:
    """The stored identity envelope: principal ids computed, user-assigned identities resolved.

    `before` is the identity already stored (its system-assigned principal id is kept while the
    system-assigned identity stays enabled). Unknown user-assigned identity ids are a 400.
    """
    if requested is None:
        return copy.deepcopy(before) if before else None
    kinds = identity_kinds(requested)
    if not kinds:
        return {"type": "None"}
    tenant = ctx.tenant_of_subscription(target.subscription_id)
    identity: dict = {"type": identity_type_string(kinds, separator)}
    if "systemassigned" in kinds:
        kept = (before or {}).get("principalId") if "systemassigned" in identity_kinds(before) else None
        identity["principalId"] = kept or str(uuid.uuid4())
        identity["tenantId"] = (before or {}).get("tenantId") or tenant
    if "userassigned" in kinds:
        wanted = requested.get("userAssignedIdentities") or {}
        if not wanted:
            raise bad_request("The identity type 'UserAssigned' requires at least one entry in "
                              "'userAssignedIdentities'.", "InvalidIdentity")
        resolved = {}
        for uai_id in wanted:
            uai = ctx.state.resources.get(uai_id)
            if uai is None and not getattr(ctx, "validate", True):
                # seed `validate: false`: a resource as found in Azure after its user-assigned identity was deleted
                # (Azure keeps the reference); stable made-up ids, no directory principal
                resolved[uai_id] = {"principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, uai_id.lower() + "#principal")),
                                    "clientId": str(uuid.uuid5(uuid.NAMESPACE_URL, uai_id.lower() + "#client"))}
                continue
            if uai is None or uai.get("type", "").lower() != UAI_TYPE.lower():
                raise bad_request(f"The user-assigned identity '{uai_id}' was not found. Check that the identity "
                                  "exists and that the resource id is correct.", "InvalidIdentity")
            resolved[uai_id] = {"principalId": uai["properties"]["principalId"],
                                "clientId": uai["properties"]["clientId"]}
        identity["userAssignedIdentities"] = resolved
    return identity


def user_assigned_ids(identity: Optional[dict]) -> list[str]:
    return list(((identity or {}).get("userAssignedIdentities") or {}).keys())


def uai_principal(ctx: ArmContext, uai_id: str) -> Optional[str]:
    uai = ctx.state.resources.get(uai_id or "")
    return uai["properties"]["principalId"] if uai else None


def same_id(a: Optional[str], b: Optional[str]) -> bool:
    return (a or "").rstrip("/").lower() == (b or "").rstrip("/").lower()


def find_uai_key(identity: Optional[dict], uai_id: str) -> Optional[str]:
    """The key of `identity.userAssignedIdentities` that is `uai_id` (ids compare case-insensitively)."""
    for key in user_assigned_ids(identity):
        if same_id(key, uai_id):
            return key
    return None


def register_system_principal(ctx: ArmContext, resource: dict) -> None:
    """A resource's system-assigned identity is a directory principal (so roles can be granted to it)."""
    identity = resource.get("identity") or {}
    principal_id = identity.get("principalId")
    if principal_id and ctx.state.principal(principal_id) is None:
        ctx.state.add_principal(Principal(object_id=principal_id, type="ManagedIdentity", display_name=resource["name"],
                                          tenant_id=identity.get("tenantId", ""), client_id=str(uuid.uuid4()),
                                          resource_id=resource["id"]))


def forget_system_principal(ctx: ArmContext, resource: Optional[dict]) -> None:
    principal_id = ((resource or {}).get("identity") or {}).get("principalId")
    if principal_id:
        ctx.state.principals.pop(principal_id.lower(), None)


def sync_system_principal(ctx: ArmContext, before: Optional[dict], after: dict) -> None:
    """Drop the old system principal when the system-assigned identity was removed or replaced."""
    old = ((before or {}).get("identity") or {}).get("principalId")
    new = (after.get("identity") or {}).get("principalId")
    if old and not same_id(old, new):
        ctx.state.principals.pop(old.lower(), None)
    register_system_principal(ctx, after)


# ---------------------------------------------------------------------------------------------- key URLs
@dataclass
class KeyRef:
    url: str
    host: str
    kind: str  # "kv" | "mhsm"
    store_name: str
    name: str
    version: str  # "" for a versionless URL

    @property
    def base(self) -> str:
        return f"https://{self.host}/keys/{self.name}"

    def versioned(self, version: str) -> str:
        return f"{self.base}/{version}"

    @property
    def store_type(self) -> str:
        return VAULT_TYPE if self.kind == "kv" else HSM_TYPE


class KeyProblem(Exception):
    """A broken link in the key chain. `reason` is one of: bad_url, store_not_found, purge_protection,
    key_not_found, version_not_found, versionless, key_type, key_size, key_disabled, key_not_active,
    key_expired, key_ops, hsm_not_supported, access."""

    def __init__(self, reason: str, ref: Optional[KeyRef] = None, detail: str = "", url: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.ref = ref
        self.detail = detail
        self.url = url or (ref.url if ref else "")


def parse_key_url(url: str) -> KeyRef:
    """`https://{vault}.vault.azure.net/keys/{name}[/{version}]` (any emulated cloud, Key Vault or Managed HSM)."""
    parsed = urlparse(str(url or "").strip())
    host = (parsed.hostname or "").lower()
    endpoint = classify_host(host) if parsed.scheme == "https" else None
    parts = [part for part in parsed.path.split("/") if part]
    if endpoint is None or endpoint.service not in ("kv", "mhsm") or len(parts) not in (2, 3) or parts[0] != "keys":
        raise KeyProblem("bad_url", None, f"'{url}' is not a Key Vault or Managed HSM key URL.", url=str(url))
    return KeyRef(url=str(url).strip(), host=host, kind=endpoint.service, store_name=endpoint.name, name=parts[1],
                  version=parts[2] if len(parts) == 3 else "")


def key_ref_from_parts(vault_uri: str, name: str, version: str = "") -> KeyRef:
    base = str(vault_uri or "").strip().rstrip("/")
    return parse_key_url(f"{base}/keys/{name}" + (f"/{version}" if version else ""))


def find_store(ctx: ArmContext, ref: KeyRef) -> Optional[dict]:
    found = ctx.state.resources.named(ref.store_type, ref.store_name)
    return found[0] if found else None


# ---------------------------------------------------------------------------------------------- key versions
@dataclass
class KeyVersion:
    version: str
    kty: str
    size: Optional[int]
    enabled: bool = True
    nbf: Optional[int] = None
    exp: Optional[int] = None
    ops: list[str] = field(default_factory=list)
    created: int = 0


def _from_attributes(version: str, kty: str, size: Optional[int], attributes: dict, ops: Iterable[str]) -> KeyVersion:
    return KeyVersion(version=version, kty=kty or "", size=size, enabled=attributes.get("enabled", True) is not False,
                      nbf=attributes.get("nbf"), exp=attributes.get("exp"), ops=list(ops or []),
                      created=int(attributes.get("created") or 0))


def _versions_from_key_store(ctx: ArmContext, store: dict, name: str) -> list[KeyVersion]:
    """The vault / managed HSM key store of the data planes (`keystore.py`, namespace `keyvault.keys`)."""
    from . import keystore
    ring = ctx.state.namespace(keystore.NAMESPACE).get(f"{store['type'].lower()}:{store['name'].lower()}")
    key = ring.get(name) if ring is not None else None
    if key is None:
        return []
    return [_from_attributes(v.version, v.kty, v.size, v.attributes or {}, v.key_ops) for v in key.versions]


KEY_SOURCES: list[Callable[[ArmContext, dict, str], list[KeyVersion]]] = [_versions_from_key_store]


def key_versions(ctx: ArmContext, store: dict, name: str) -> list[KeyVersion]:
    """Every version of a key, oldest first (the last one is the current version)."""
    merged: dict[str, KeyVersion] = {}
    for source in KEY_SOURCES:
        for version in source(ctx, store, name):
            merged.setdefault(version.version.lower(), version)
    return sorted(merged.values(), key=lambda v: v.created)


def latest_version(ctx: ArmContext, ref: KeyRef) -> Optional[str]:
    store = find_store(ctx, ref)
    versions = key_versions(ctx, store, ref.name) if store else []
    return versions[-1].version if versions else None


# ---------------------------------------------------------------------------------------------- key access
def key_permissions(ctx: ArmContext, principal_id: str, key_url: str) -> set[str]:
    """The subset of get/wrapKey/unwrapKey the principal holds on the key, from the core's
    effective-access function (`registry.key_access`: RBAC, access policies, HSM local RBAC)."""
    if not principal_id:
        return set()
    try:
        result = registry.key_access(ctx.services, principal_id, key_url)
    except ValueError:  # not a key URL, or no provider answers effective permissions
        return set()
    return _granted(result)


def _granted(result) -> set[str]:
    """Tolerant reading of the effective-access answer: `{"get": true, ...}`, `{"permissions": {...}}`,
    `{"permissions": [...]}`, `{"granted": [...]}` or `{"allowed": true}`."""
    names = {name.lower(): name for name in NEEDED}
    granted: set[str] = set()
    if not isinstance(result, dict):
        return granted
    for container in (result, result.get("permissions"), result.get("effective"), result.get("operations")):
        if isinstance(container, dict):
            for key, value in container.items():
                if key.lower() in names and (value is True or (isinstance(value, dict) and value.get("allowed"))):
                    granted.add(names[key.lower()])
        elif isinstance(container, (list, tuple, set)):
            granted.update(names[item.lower()] for item in container if isinstance(item, str) and item.lower() in names)
    for listing in ("granted", "allowed_operations", "allowedOperations"):
        if isinstance(result.get(listing), (list, tuple)):
            granted.update(names[item.lower()] for item in result[listing] if str(item).lower() in names)
    if result.get("allowed") is True or result.get("has_access") is True or result.get("hasAccess") is True:
        granted.update(NEEDED)
    return granted


# ---------------------------------------------------------------------------------------------- the checks
@dataclass
class KeyFacts:
    ref: KeyRef
    store: dict
    version: KeyVersion  # the version the URL names (or the current one for a versionless URL)
    latest: KeyVersion

    @property
    def versioned_url(self) -> str:
        return self.ref.versioned(self.version.version)

    @property
    def latest_url(self) -> str:
        return self.ref.versioned(self.latest.version)


# Broken links a seeded resource with `validate: false` may keep (drifted state that exists in Azure);
# the other reasons mean the key cannot be resolved at all and always fail.
RULE_REASONS = frozenset({"purge_protection", "versionless", "key_type", "key_size", "key_disabled", "key_not_active",
                          "key_expired", "key_ops", "hsm_not_supported", "access"})


def check_key(ctx: ArmContext, url_or_ref, *, sizes: Iterable[int] = (2048, 3072, 4096), require_purge: bool = True,
              require_soft_delete: Optional[bool] = None, allow_versionless: bool = True, allow_hsm: bool = True,
              principal: Optional[str] = None, check_ops: bool = True) -> KeyFacts:
    """Resolve a key URL and check every link Azure checks; raises KeyProblem naming the broken one.

    `require_purge` asks for soft delete and purge protection on the vault / HSM (reason `purge_protection`);
    `require_soft_delete` (default: as `require_purge`) asks for soft delete alone, with the same reason.
    Under a seed's `validate: false` (`ctx.validate` false) only unresolvable keys raise (RULE_REASONS are
    not enforced), so pre-existing state that the service would refuse today can be stored."""
    strict = getattr(ctx, "validate", True)

    def problem(reason: str, ref: Optional[KeyRef], detail: str) -> None:
        if strict or reason not in RULE_REASONS:
            raise KeyProblem(reason, ref, detail)

    ref = url_or_ref if isinstance(url_or_ref, KeyRef) else parse_key_url(url_or_ref)
    if ref.kind == "mhsm" and not allow_hsm:
        problem("hsm_not_supported", ref, "Managed HSM keys are not supported by this service.")
    if not ref.version and not allow_versionless:
        problem("versionless", ref, "A key version is required.")
    store = find_store(ctx, ref)
    if store is None:
        raise KeyProblem("store_not_found", ref, f"The key vault '{ref.store_name}' was not found.")
    properties = store.get("properties") or {}
    soft_delete = properties.get("enableSoftDelete", True)
    if require_purge and not (soft_delete and properties.get("enablePurgeProtection")):
        problem("purge_protection", ref, f"The key vault '{ref.store_name}' must have soft delete and purge "
                                         "protection enabled.")
    if (require_purge if require_soft_delete is None else require_soft_delete) and not soft_delete:
        problem("purge_protection", ref, f"The key vault '{ref.store_name}' must have soft delete enabled.")
    versions = key_versions(ctx, store, ref.name)
    if not versions:
        raise KeyProblem("key_not_found", ref, f"The key '{ref.name}' was not found in '{ref.store_name}'.")
    latest = versions[-1]
    if ref.version:
        chosen = next((v for v in versions if v.version.lower() == ref.version.lower()), None)
        if chosen is None:
            raise KeyProblem("version_not_found", ref,
                             f"The key version '{ref.version}' of '{ref.name}' was not found.")
    else:
        chosen = latest
    if chosen.kty not in ("RSA", "RSA-HSM"):
        problem("key_type", ref, f"The key type '{chosen.kty}' is not supported: use RSA or RSA-HSM.")
    sizes = tuple(sizes)
    if chosen.size not in sizes:
        problem("key_size", ref, f"The key size {chosen.size} is not supported: use "
                                 f"{', '.join(str(s) for s in sizes)}.")
    now = time.time()
    if not chosen.enabled:
        problem("key_disabled", ref, f"The key '{ref.name}' is disabled.")
    if chosen.nbf and chosen.nbf > now:
        problem("key_not_active", ref, f"The key '{ref.name}' is not active yet.")
    if chosen.exp and chosen.exp <= now:
        problem("key_expired", ref, f"The key '{ref.name}' has expired.")
    if check_ops and chosen.ops and not {"wrapKey", "unwrapKey"} <= set(chosen.ops):
        problem("key_ops", ref, f"The key '{ref.name}' must allow the wrapKey and unwrapKey operations.")
    facts = KeyFacts(ref, store, chosen, latest)
    if principal is not None:
        missing = [op for op in NEEDED if op not in key_permissions(ctx, principal, facts.versioned_url)]
        if missing:
            problem("access", ref, f"The identity '{principal}' lacks {', '.join(missing)} on the key.")
    return facts


def iso_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def iso_from_unix(value: Optional[int]) -> Optional[str]:
    if not value:
        return None
    return datetime.fromtimestamp(int(value), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def strip_internal(resource: dict) -> dict:
    return {key: copy.deepcopy(value) for key, value in resource.items() if not key.startswith("azemu:")}


class SystemIdentityType(ResourceType):
    """A resource type whose resources may carry a system-assigned identity: it is a directory principal (so
    it can be granted roles) from the moment the resource exists until it is deleted."""

    def on_finish(self, ctx: ArmContext, resource: dict) -> None:
        register_system_principal(ctx, resource)

    def remove(self, ctx: ArmContext, target: Target, resource: dict) -> None:
        super().remove(ctx, target, resource)
        forget_system_principal(ctx, resource)
