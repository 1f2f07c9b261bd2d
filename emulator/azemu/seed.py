"""Seed data: the built-in identities and loading YAML/JSON seed documents into the state.

Format (every key optional; unknown keys are an error; applied in this order - see docs/emulator.md):

    settings: {page_size, lro_polls, lro_retry_after_ms, lro_timeout, lro_hold, token_lifetime}
    tenant_id: <default tenant>
    tenants: [<tenant id>, ...]
    subscriptions: [{id, tenant_id, display_name}]
    management_groups: [{name, display_name, parent, subscriptions: [<id>, ...]}]
    principals: [{object_id, type, client_id, display_name, tenant_id, secrets, certificates,
                  federated_tokens, username, password, resource_id, roles: [{role, scope}]}]
    default_managed_identity: <object id>
    role_assignments: [{principal_id, role, scope, name, principal_type}]
    resources: [{id, cloud, body: {...}, validate: true}]   # PUTs by the platform, in order
    keys: [{vault | hsm, name, kty, size, curve, ops, enabled, nbf, exp, tags,
            versions: <n> | [{enabled, nbf, exp, tags, ops}], rotations: <n>, rotation_policy: {...}}]
    hsm_role_assignments: [{hsm, principal_id, role, scope, name}]
    stages: [<seed document>, ...]     # applied after the sections above, one after another

Strings of list entries may hold `${principal:<resource id>}`, `${key:<store>/<key>[@n]}` and
`${key_version:<store>/<key>[@n]}`, resolved when the entry is applied (see `resolve`).
"""
from __future__ import annotations

import json
import re
import time
import uuid
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union
from urllib.parse import urlsplit

import yaml

from .http import HttpError
from .rbac import RoleAssignment, find_role
from .state import Principal

if TYPE_CHECKING:
    from .emulator import Services

TENANT_ID = "72f988bf-0000-4000-8000-00000000c0de"
SUBSCRIPTION_ID = "5a0e0e5e-0000-4000-8000-000000000001"
OPERATOR_CLIENT_ID = "0a11ce00-0000-4000-8000-00000000a001"
OPERATOR_SECRET = "emulator-operator-secret"
OPERATOR_OBJECT_ID = "0a11ce00-0000-4000-8000-00000000b001"
RUNNER_IDENTITY_CLIENT_ID = "0a11ce00-0000-4000-8000-00000000a002"
RUNNER_IDENTITY_OBJECT_ID = "0a11ce00-0000-4000-8000-00000000b002"

DEFAULT_SEED: dict[str, Any] = {
    "tenant_id": TENANT_ID,
    "subscriptions": [{"id": SUBSCRIPTION_ID, "tenant_id": TENANT_ID, "display_name": "azemu subscription"}],
    "principals": [
        {"object_id": OPERATOR_OBJECT_ID, "client_id": OPERATOR_CLIENT_ID, "type": "ServicePrincipal",
         "display_name": "azemu operator", "secrets": [OPERATOR_SECRET],
         "roles": [{"role": "Owner", "scope": f"/subscriptions/{SUBSCRIPTION_ID}"}]},
        {"object_id": RUNNER_IDENTITY_OBJECT_ID, "client_id": RUNNER_IDENTITY_CLIENT_ID, "type": "ManagedIdentity",
         "display_name": "azemu runner identity",
         "roles": [{"role": "Reader", "scope": f"/subscriptions/{SUBSCRIPTION_ID}"}]},
    ],
    "default_managed_identity": RUNNER_IDENTITY_OBJECT_ID,
}

_PRINCIPAL_FIELDS = {"object_id", "type", "display_name", "tenant_id", "client_id", "secrets", "certificates",
                     "federated_tokens", "username", "password", "resource_id"}


def read_seed_file(path: Union[str, Path]) -> dict:
    text = Path(path).read_text()
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"seed {path}: the document must be a mapping")
    return data


SECTIONS = ("settings", "tenant_id", "tenants", "subscriptions", "management_groups", "principals",
            "default_managed_identity",
            "role_assignments", "resources", "keys", "hsm_role_assignments", "stages")


def apply_seed(services: "Services", seed: dict, where: str = "seed") -> None:
    """Load one seed document on top of the current state (under the state lock).

    Sections are applied in the order of `SECTIONS`; entries of a list in list order, each one's
    `${...}` placeholders resolved just before it is applied (see `resolve`); then `stages`, each a
    seed document of its own, one after another.
    """
    state = services.state
    if not isinstance(seed, dict):
        raise ValueError(f"{where}: a seed document must be a mapping, not {type(seed).__name__}")
    unknown = set(seed) - set(SECTIONS)
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (known: {', '.join(SECTIONS)})")
    with state.lock:
        state.settings.update(seed.get("settings") or {})
        if seed.get("tenant_id"):
            state.default_tenant = seed["tenant_id"]
            state.tenants.add(seed["tenant_id"])
        state.tenants.update(seed.get("tenants") or [])
        for label, entry in _entries(seed, "subscriptions", where):
            _check_keys(entry, _SUBSCRIPTION_FIELDS, label, required=("id",))
            add_subscription(services, entry)
        for label, entry in _entries(seed, "management_groups", where):
            _check_keys(entry, _MANAGEMENT_GROUP_FIELDS, label, required=("name",))
            _apply(label, add_management_group, services, entry)
        for label, entry in _entries(seed, "principals", where):
            _apply(label, add_principal, services, entry)
        if seed.get("default_managed_identity"):
            state.default_managed_identity = resolve(services, seed["default_managed_identity"], where)
        for label, entry in _entries(seed, "role_assignments", where):
            _check_keys(entry, _ROLE_ASSIGNMENT_FIELDS, label, required=("principal_id", "role", "scope"))
            _apply(label, add_role_assignment, services, entry)
        for label, entry in _entries(seed, "resources", where):
            _apply(label, add_resource, services, entry)
        for label, entry in _entries(seed, "keys", where):
            _apply(label, add_key, services, entry)
        for label, entry in _entries(seed, "hsm_role_assignments", where):
            _apply(label, add_hsm_role_assignment, services, entry)
        for label, stage in _entries(seed, "stages", where):
            apply_seed(services, stage, label)


def _entries(seed: dict, section: str, where: str):
    entries = seed.get(section) or []
    if not isinstance(entries, list):
        raise ValueError(f"{where}.{section}: expected a list, not {type(entries).__name__}")
    for index, entry in enumerate(entries):
        label = f"{where}.{section}[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{label}: expected a mapping, not {type(entry).__name__}")
        yield label, entry


def _check_keys(entry: dict, allowed: frozenset, label: str, required: tuple = ()) -> None:
    prefix = f"{label}: " if label else ""
    unknown = set(entry) - allowed
    if unknown:
        raise ValueError(f"{prefix}unknown keys {sorted(unknown)} (known: {', '.join(sorted(allowed))})")
    missing = [name for name in required if entry.get(name) in (None, "")]
    if missing:
        raise ValueError(f"{prefix}missing {', '.join(missing)}")


def _apply(label: str, function, services: "Services", entry: dict):
    """`function(services, entry)` with the entry's placeholders resolved; errors name the entry."""
    try:
        return function(services, resolve(services, entry, label))
    except HttpError as exc:
        raise ValueError(f"{label}: {exc.status} {exc.code}: {exc.message}") from None
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{label}: {exc}") from None
    except ValueError as exc:
        message = str(exc)
        raise ValueError(message if message.startswith(label) else f"{label}: {message}") from None


_SUBSCRIPTION_FIELDS = frozenset({"id", "tenant_id", "display_name"})
_MANAGEMENT_GROUP_FIELDS = frozenset({"name", "display_name", "parent", "subscriptions"})
_ROLE_ASSIGNMENT_FIELDS = frozenset({"principal_id", "role", "scope", "name", "principal_type"})
_RESOURCE_FIELDS = frozenset({"id", "cloud", "body", "validate"})


def add_resource(services: "Services", entry: dict) -> dict:
    """`{id, body, cloud, validate}` (or, without `body`, the body's keys inline next to `id`)."""
    if "body" in entry:
        _check_keys(entry, _RESOURCE_FIELDS, "", required=("id",))
        body = entry["body"]
    else:
        body = {key: value for key, value in entry.items() if key not in _RESOURCE_FIELDS}
    if not entry.get("id"):
        raise ValueError("missing id")
    validate = entry.get("validate", True)
    if not isinstance(validate, bool):
        raise ValueError(f"resource {entry['id']}: 'validate' must be true or false")
    return services.arm_system_put(entry["id"], body or {}, entry.get("cloud", "AzureCloud"), validate=validate)


def add_subscription(services: "Services", entry: dict) -> None:
    tenant = entry.get("tenant_id") or services.state.default_tenant
    services.state.tenants.add(tenant)
    services.state.subscriptions[entry["id"].lower()] = {
        "id": f"/subscriptions/{entry['id']}", "subscriptionId": entry["id"], "tenantId": tenant,
        "displayName": entry.get("display_name", entry["id"]), "state": "Enabled",
    }


def add_management_group(services: "Services", entry: dict) -> None:
    """A management group (Resource Graph's `managementGroups` scope): its subscriptions and its parent group.

    The parent must exist already (an earlier entry); the subscriptions too. Re-adding a group replaces it."""
    state = services.state
    parent = entry.get("parent") or ""
    if parent and parent.lower() not in state.management_groups:
        raise ValueError(f"management group {entry['name']}: parent {parent!r} does not exist (add it in an earlier entry)")
    subscriptions = entry.get("subscriptions") or []
    if not isinstance(subscriptions, list):
        raise ValueError(f"management group {entry['name']}: subscriptions must be a list of subscription ids")
    for subscription in subscriptions:
        if state.subscription(str(subscription)) is None:
            raise ValueError(f"management group {entry['name']}: unknown subscription {subscription!r}")
    state.management_groups[entry["name"].lower()] = {
        "name": entry["name"], "displayName": entry.get("display_name", entry["name"]), "parent": parent,
        "subscriptions": [str(s).lower() for s in subscriptions],
    }


def add_principal(services: "Services", entry: dict) -> Principal:
    unknown = set(entry) - _PRINCIPAL_FIELDS - {"roles"}
    if unknown:
        raise ValueError(f"principal: unknown keys {sorted(unknown)}")
    fields = {key: value for key, value in entry.items() if key in _PRINCIPAL_FIELDS}
    fields.setdefault("object_id", str(uuid.uuid4()))
    principal = services.state.add_principal(Principal(**fields))
    for role in entry.get("roles", []):
        add_role_assignment(services, {"principal_id": principal.object_id, **role})
    return principal


def add_role_assignment(services: "Services", entry: dict) -> RoleAssignment:
    role = find_role(entry["role"])
    if role is None:
        raise ValueError(f"role assignment: unknown role {entry['role']!r}")
    principal = services.state.principal(entry["principal_id"])
    principal_type = entry.get("principal_type") or _principal_type(principal.type if principal else "")
    return services.rbac.add(RoleAssignment(
        name=entry.get("name") or str(uuid.uuid4()), scope=entry["scope"], role_guid=role.guid,
        principal_id=entry["principal_id"], principal_type=principal_type))


def _principal_type(kind: str) -> str:
    return "User" if kind == "User" else "ServicePrincipal"


# ---------------------------------------------------------------------------------------------- placeholders
_PLACEHOLDER = re.compile(r"\$(\$?)\{([A-Za-z_]+):([^}]*)\}")
PLACEHOLDERS = ("principal", "key", "key_version")


def _prefix(label: str) -> str:
    return f"{label}: " if label else ""


def resolve(services: "Services", value: Any, label: str = "seed") -> Any:
    """`value` with every `${kind:argument}` in its strings (keys included) replaced; `$${` is a literal `${`.

    `${principal:<resource id>}`  principal id of a user-assigned identity, or of the system-assigned
                                  identity of a resource
    `${key:<key>[@<n>]}`          versioned URL of a key (`https://<vault>.vault.azure.net/keys/<name>/<version>`)
    `${key_version:<key>[@<n>]}`  its version alone
    `<key>` is `<vault or HSM name>/<key name>` or the key's URL without version; `@n` picks a version:
    1 the oldest, 2 the next, ..., -1 the latest (the default), -2 the one before it.
    """
    if isinstance(value, dict):
        return {resolve(services, k, label): resolve(services, v, label) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(services, item, label) for item in value]
    if isinstance(value, str) and "${" in value:
        return _PLACEHOLDER.sub(lambda match: _replacement(services, match, label), value)
    return value


def _replacement(services: "Services", match: re.Match, label: str) -> str:
    escaped, kind, argument = match.groups()
    if escaped:
        return "${%s:%s}" % (kind, argument)
    argument = argument.strip()
    if kind == "principal":
        return principal_of(services.state, argument, label)
    if kind in ("key", "key_version"):
        owner, key, version = key_reference(services.state, argument, label)
        if kind == "key_version":
            return version.version
        return f"{store_uri(owner)}/keys/{key.name}/{version.version}"
    raise ValueError(f"{_prefix(label)}unknown placeholder '${{{kind}:...}}' (known: "
                     f"{', '.join('${%s:...}' % name for name in PLACEHOLDERS)})")


def principal_of(state, resource_id: str, label: str = "seed") -> str:
    resource = state.resources.get(resource_id)
    if resource is None:
        raise ValueError(f"{_prefix(label)}${{principal:{resource_id}}}: no such resource (seed it in an earlier entry)")
    principal = (resource.get("properties") or {}).get("principalId") \
        if resource.get("type", "").lower() == "microsoft.managedidentity/userassignedidentities" \
        else (resource.get("identity") or {}).get("principalId")
    if not principal:
        raise ValueError(f"{_prefix(label)}${{principal:{resource_id}}}: the resource has no system-assigned identity")
    return principal


_STORE_TYPES = {"vault": "Microsoft.KeyVault/vaults", "hsm": "Microsoft.KeyVault/managedHSMs"}


def find_key_store(state, reference: str, kinds: tuple = ("vault", "hsm"), label: str = "seed") -> dict:
    """A vault or Managed HSM by name, URI (`https://kv1.vault.azure.net`, any cloud) or ARM id."""
    from .clouds import classify_host
    text = str(reference or "").strip()
    if text.startswith("/"):
        found = state.resources.get(text)
        if found is None or found.get("type", "").lower() not in {_STORE_TYPES[k].lower() for k in kinds}:
            raise ValueError(f"{_prefix(label)}no {' or '.join(kinds)} with id {text}")
        return found
    if "://" in text:
        endpoint = classify_host(urlsplit(text).hostname or "")
        if endpoint is None or endpoint.service not in ("kv", "mhsm"):
            raise ValueError(f"{_prefix(label)}'{text}' is not a Key Vault or Managed HSM URI")
        kinds, name = (("vault",) if endpoint.service == "kv" else ("hsm",)), endpoint.name
    else:
        name = text
    found = [resource for kind in kinds for resource in state.resources.of_type(_STORE_TYPES[kind])
             if resource["name"].lower() == name.lower()]
    if not found:
        raise ValueError(f"{_prefix(label)}no {' or '.join(kinds)} named '{name}' (seed it in an earlier entry)")
    if len(found) > 1:
        raise ValueError(f"{_prefix(label)}'{name}' is both a vault and a Managed HSM: use its URI")
    return found[0]


def store_uri(owner: dict) -> str:
    properties = owner.get("properties") or {}
    uri = properties.get("vaultUri") or properties.get("hsmUri")
    if not uri:
        raise ValueError(f"{owner['id']} has no URI yet")
    return uri.rstrip("/")


def key_reference(state, reference: str, label: str = "seed"):
    """(owner, Key, KeyVersion) for `<store>/<name>[@n]` or `https://<host>/keys/<name>[@n]`."""
    from .providers import keystore
    text, _at, index = reference.partition("@")
    text = text.strip().rstrip("/")
    if "://" in text:
        parts = urlsplit(text)
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) != 2 or segments[0].lower() != "keys":
            raise ValueError(f"{_prefix(label)}'{reference}' is not a key URL without version (https://<host>/keys/<name>)")
        store, name = f"{parts.scheme}://{parts.netloc}", segments[1]
    else:
        store, _slash, name = text.rpartition("/")
        if not store or not name:
            raise ValueError(f"{_prefix(label)}'{reference}' is not <vault or HSM>/<key name>[@n] or a key URL")
    owner = find_key_store(state, store, label=label)
    key = keystore.key_ring(state, owner).get(name)
    if key is None or not key.versions:
        raise ValueError(f"{_prefix(label)}no key '{name}' in {owner['name']} (seed it in an earlier entry)")
    try:
        position = int(index) if index.strip() else -1
    except ValueError:
        raise ValueError(f"{_prefix(label)}'{reference}': the version number after '@' must be an integer") from None
    if position == 0 or abs(position) > len(key.versions):
        raise ValueError(f"{_prefix(label)}'{reference}': the key has {len(key.versions)} version(s); use 1..{len(key.versions)} "
                         "(oldest first) or -1 (latest), -2, ...")
    return owner, key, key.versions[position - 1 if position > 0 else position]


# ---------------------------------------------------------------------------------------------- data-plane keys
_KEY_FIELDS = frozenset({"vault", "hsm", "name", "kty", "size", "curve", "ops", "enabled", "nbf", "exp", "tags",
                         "versions", "rotations", "rotation_policy"})
_VERSION_FIELDS = frozenset({"enabled", "nbf", "exp", "tags", "ops"})
_TIME_OFFSET = re.compile(r"^([+-])\s*(P\w+)$", re.I)


def seed_time(value: Any, field_name: str) -> Optional[int]:
    """Unix seconds from an int, a YAML date/datetime, an ISO 8601 text or `+P30D` / `-P1D` (from now)."""
    from .providers import keystore
    if value is None or isinstance(value, bool):
        if value is None:
            return None
        raise ValueError(f"'{field_name}' must be a time, not {value!r}")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp())
    text = str(value).strip()
    offset = _TIME_OFFSET.match(text)
    if offset:
        try:
            days = keystore.duration_days(offset.group(2).upper(), field_name)
        except HttpError as exc:
            raise ValueError(exc.message) from None
        return int(time.time()) + (1 if offset.group(1) == "+" else -1) * days * 86400
    try:
        return seed_time(datetime.fromisoformat(text.replace("Z", "+00:00")), field_name)
    except ValueError:
        raise ValueError(f"'{field_name}': '{text}' is not a time (unix seconds, ISO 8601, or +P30D / -P1D "
                         "from now)") from None


def _version_spec(owner: dict, entry: dict, override: dict, previous=None) -> dict:
    from .providers import keystore
    merged = {**entry, **override}
    default_kty = "RSA-HSM" if keystore.is_hsm_owner(owner) else "RSA"
    spec: dict = {"kty": merged.get("kty") or (previous.kty if previous else default_kty),
                  "key_size": merged.get("size") or (previous.size if previous else None),
                  "crv": merged.get("curve") or (previous.crv if previous else None),
                  "attributes": {"enabled": merged.get("enabled", True) is not False,
                                 "nbf": seed_time(merged.get("nbf"), "nbf"), "exp": seed_time(merged.get("exp"), "exp")},
                  "tags": dict(merged.get("tags") or {})}
    ops = merged.get("ops") or (previous.key_ops if previous else None)
    if ops is not None:
        if not isinstance(ops, list):
            raise ValueError("'ops' must be a list of key operations")
        spec["key_ops"] = list(ops)
    return spec


def _data_policy(policy: dict) -> dict:
    if not isinstance(policy, dict):
        raise ValueError("'rotation_policy' must be a mapping {lifetimeActions, attributes: {expiryTime}}")
    unknown = set(policy) - {"lifetimeActions", "attributes"}
    if unknown:
        raise ValueError(f"rotation_policy: unknown keys {sorted(unknown)} (known: attributes, lifetimeActions)")
    actions = []
    for action in policy.get("lifetimeActions") or []:
        kind = str((action.get("action") or {}).get("type", ""))
        actions.append({"trigger": dict(action.get("trigger") or {}), "action": {"type": kind.capitalize()}})
    return {"lifetimeActions": actions, "attributes": dict(policy.get("attributes") or {})}


def add_key(services: "Services", entry: dict):
    """A data-plane key created by the platform (no authorization): the same key store the Key Vault /
    Managed HSM data planes and the ARM `keys` views read. An existing key gets new versions."""
    from .providers import keystore
    _check_keys(entry, _KEY_FIELDS, "", required=("name",))
    if bool(entry.get("vault")) == bool(entry.get("hsm")):
        raise ValueError(f"key {entry.get('name')}: give exactly one of 'vault' or 'hsm'")
    if "versions" in entry and "rotations" in entry:
        raise ValueError(f"key {entry['name']}: give 'versions' or 'rotations', not both")
    state = services.state
    owner = find_key_store(state, entry.get("vault") or entry.get("hsm"), ("vault",) if entry.get("vault") else ("hsm",),
                           label=f"key {entry['name']}")
    versions = entry.get("versions", 1)
    if isinstance(versions, int) and not isinstance(versions, bool) and versions >= 1:
        overrides = [{}] * versions
    elif isinstance(versions, list) and versions and all(isinstance(v, dict) for v in versions):
        overrides = versions
        for override in overrides:
            _check_keys(override, _VERSION_FIELDS, f"key {entry['name']} version")
    else:
        raise ValueError(f"key {entry['name']}: 'versions' must be a number >= 1 or a list of mappings "
                         f"({', '.join(sorted(_VERSION_FIELDS))})")
    rotations = entry.get("rotations", 0)
    if not isinstance(rotations, int) or isinstance(rotations, bool) or rotations < 0:
        raise ValueError(f"key {entry['name']}: 'rotations' must be a number >= 0")
    policy = _data_policy(entry["rotation_policy"]) if entry.get("rotation_policy") is not None else None
    if policy is not None:
        keystore.validate_rotation_policy(policy)  # before anything is created
    existing = keystore.key_ring(state, owner).get(entry["name"])
    if existing is not None and existing.deleted_on is None and "rotations" in entry and "versions" not in entry:
        overrides = []  # only rotate the existing key
    key = existing
    for override in overrides:
        spec = _version_spec(owner, entry, override, key.latest if key and key.versions else None)
        key = keystore.create_key(state, owner, entry["name"], spec)[0]
    if policy is not None:
        keystore.store_rotation_policy(key, policy)
    for _rotation in range(rotations):
        keystore.rotate(owner, key)
    return key


# ---------------------------------------------------------------------------------------------- Managed HSM local RBAC
_HSM_ASSIGNMENT_FIELDS = frozenset({"hsm", "principal_id", "role", "scope", "name"})
_HSM_SCOPE = re.compile(r"^/(keys(/[^/]+)?)?$", re.I)


def add_hsm_role_assignment(services: "Services", entry: dict) -> RoleAssignment:
    """A Managed HSM local RBAC assignment (the HSM's data plane `roleAssignments`), made by the platform."""
    from .providers.kvaccess import find_hsm_role, hsm_assignments
    _check_keys(entry, _HSM_ASSIGNMENT_FIELDS, "", required=("hsm", "principal_id", "role"))
    hsm = find_key_store(services.state, entry["hsm"], ("hsm",), label="")
    scope = entry.get("scope") or "/"
    if not _HSM_SCOPE.match(scope):
        raise ValueError(f"scope '{scope}' is not '/', '/keys' or '/keys/<name>'")
    if scope.lower().startswith("/keys"):
        scope = "/keys" + scope[len("/keys"):]
    role = find_hsm_role(str(entry["role"]))
    if role is None:
        raise ValueError(f"unknown Managed HSM role {entry['role']!r}")
    seed_key = f"{hsm['id']}|{scope}|{role.guid}|{entry['principal_id']}".lower()
    name = entry.get("name") or str(uuid.uuid5(uuid.NAMESPACE_URL, seed_key))
    assignment = RoleAssignment(name=name, scope=scope, role_guid=role.guid, principal_id=entry["principal_id"])
    hsm_assignments(services.state, hsm)[name] = assignment
    return assignment
