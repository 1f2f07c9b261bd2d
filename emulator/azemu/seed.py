"""Seed data: the built-in identities and loading YAML/JSON seed documents into the state.

Format (every key optional; see docs/emulator.md):

    tenant_id: <default tenant>
    tenants: [<tenant id>, ...]
    subscriptions: [{id, tenant_id, display_name}]
    principals: [{object_id, type, client_id, display_name, tenant_id, secrets, certificates,
                  federated_tokens, username, password, resource_id, roles: [{role, scope}]}]
    default_managed_identity: <object id>
    role_assignments: [{principal_id, role, scope, name, principal_type}]
    resources: [{id, cloud, body: {...}}]      # applied as PUTs by the system, in order
    settings: {page_size, lro_polls, lro_retry_after_ms, lro_timeout, token_lifetime}
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import yaml

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


def apply_seed(services: "Services", seed: dict) -> None:
    """Load one seed document on top of the current state (under the state lock)."""
    state = services.state
    unknown = set(seed) - {"tenant_id", "tenants", "subscriptions", "principals", "default_managed_identity",
                           "role_assignments", "resources", "settings"}
    if unknown:
        raise ValueError(f"seed: unknown keys {sorted(unknown)}")
    with state.lock:
        state.settings.update(seed.get("settings", {}))
        if seed.get("tenant_id"):
            state.default_tenant = seed["tenant_id"]
            state.tenants.add(seed["tenant_id"])
        state.tenants.update(seed.get("tenants", []))
        for subscription in seed.get("subscriptions", []):
            add_subscription(services, subscription)
        for entry in seed.get("principals", []):
            add_principal(services, entry)
        if seed.get("default_managed_identity"):
            state.default_managed_identity = seed["default_managed_identity"]
        for entry in seed.get("role_assignments", []):
            add_role_assignment(services, entry)
        for entry in seed.get("resources", []):
            body = entry.get("body", {key: value for key, value in entry.items() if key not in ("id", "cloud")})
            services.arm_system_put(entry["id"], body, entry.get("cloud", "AzureCloud"))


def add_subscription(services: "Services", entry: dict) -> None:
    tenant = entry.get("tenant_id") or services.state.default_tenant
    services.state.tenants.add(tenant)
    services.state.subscriptions[entry["id"].lower()] = {
        "id": f"/subscriptions/{entry['id']}", "subscriptionId": entry["id"], "tenantId": tenant,
        "displayName": entry.get("display_name", entry["id"]), "state": "Enabled",
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
