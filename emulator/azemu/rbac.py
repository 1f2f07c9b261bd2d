"""Azure RBAC: built-in role definitions, role assignments at scopes, and the evaluator.

Scopes are ARM ids (`/subscriptions/s`, `/subscriptions/s/resourceGroups/rg`, a resource id, or a
child such as `<vault id>/keys/k1`); an assignment applies to its scope and everything below it.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from .state import State

_KV_READ_ACTIONS = [
    "Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Resources/deployments/*",
    "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*",
    "Microsoft.KeyVault/checkNameAvailability/read", "Microsoft.KeyVault/deletedVaults/read",
    "Microsoft.KeyVault/locations/*/read", "Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/operations/read",
]


@dataclass(frozen=True)
class RoleDefinition:
    guid: str
    role_name: str
    description: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()

    def allows(self, action: str, data: bool) -> bool:
        allowed, denied = (self.data_actions, self.not_data_actions) if data else (self.actions, self.not_actions)
        return any(action_matches(p, action) for p in allowed) and not any(action_matches(p, action) for p in denied)

    def arm_id(self, subscription_id: str = "") -> str:
        prefix = f"/subscriptions/{subscription_id}" if subscription_id else ""
        return f"{prefix}/providers/Microsoft.Authorization/roleDefinitions/{self.guid}"

    def to_arm(self, subscription_id: str = "") -> dict:
        return {
            "id": self.arm_id(subscription_id),
            "name": self.guid,
            "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {
                "roleName": self.role_name,
                "type": "BuiltInRole",
                "description": self.description,
                "assignableScopes": ["/"],
                "permissions": [{
                    "actions": list(self.actions), "notActions": list(self.not_actions),
                    "dataActions": list(self.data_actions), "notDataActions": list(self.not_data_actions),
                }],
            },
        }


BUILTIN_ROLES: tuple[RoleDefinition, ...] = (
    RoleDefinition("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner",
                   "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
                   actions=("*",)),
    RoleDefinition("b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor",
                   "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.",
                   actions=("*",),
                   not_actions=("Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
                                "Microsoft.Authorization/elevateAccess/Action")),
    RoleDefinition("acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader", "View all resources, but does not allow you to make any changes.",
                   actions=("*/read",)),
    RoleDefinition("18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", "User Access Administrator",
                   "Lets you manage user access to Azure resources.",
                   actions=("*/read", "Microsoft.Authorization/*", "Microsoft.Support/*")),
    RoleDefinition("00482a5a-887f-4fb3-b663-3bb9b4b7c2dc", "Key Vault Administrator",
                   "Perform all data plane operations on a key vault and all objects in it.",
                   actions=tuple(_KV_READ_ACTIONS), data_actions=("Microsoft.KeyVault/vaults/*",)),
    RoleDefinition("14b46e9e-c2b7-41b4-b07b-48a6ebf60603", "Key Vault Crypto Officer",
                   "Perform any action on the keys of a key vault, except manage permissions.",
                   actions=tuple(_KV_READ_ACTIONS),
                   data_actions=("Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/deletedKeys/*",
                                 "Microsoft.KeyVault/vaults/keyrotationpolicies/*")),
    RoleDefinition("12338af0-0e69-4776-bea7-57ae8d297424", "Key Vault Crypto User",
                   "Perform cryptographic operations using keys.",
                   data_actions=tuple(f"Microsoft.KeyVault/vaults/keys/{op}" for op in (
                       "read", "update/action", "backup/action", "encrypt/action", "decrypt/action",
                       "wrap/action", "unwrap/action", "sign/action", "verify/action"))),
    RoleDefinition("e147488a-f6f5-4113-8e2d-b22465e65bf6", "Key Vault Crypto Service Encryption User",
                   "Read metadata of keys and perform wrap/unwrap operations.",
                   actions=("Microsoft.EventGrid/eventSubscriptions/write", "Microsoft.EventGrid/eventSubscriptions/read",
                            "Microsoft.EventGrid/eventSubscriptions/delete"),
                   data_actions=("Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/wrap/action",
                                 "Microsoft.KeyVault/vaults/keys/unwrap/action")),
    RoleDefinition("21090545-7ca7-4776-b22c-e363652d74d2", "Key Vault Reader", "Read metadata of key vaults and its certificates, keys, and secrets.",
                   actions=tuple(_KV_READ_ACTIONS),
                   data_actions=("Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action")),
)

_ROLE_ID_RE = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/?$", re.I)


def find_role(reference: str) -> Optional[RoleDefinition]:
    """A role by name (`Reader`), guid, or full role definition id."""
    match = _ROLE_ID_RE.search(reference.strip())
    for role in BUILTIN_ROLES:
        if (match and role.guid == match.group(1).lower()) or role.role_name.lower() == reference.strip().lower():
            return role
    return None


@lru_cache(maxsize=512)
def _pattern(action_pattern: str) -> re.Pattern:
    return re.compile("^" + ".*".join(re.escape(part) for part in action_pattern.split("*")) + "$", re.I)


def action_matches(pattern: str, action: str) -> bool:
    return bool(_pattern(pattern).match(action))


def normalise_scope(scope: str) -> str:
    scope = "/" + "/".join(part for part in scope.split("/") if part)
    return scope


def scope_contains(outer: str, inner: str) -> bool:
    outer, inner = normalise_scope(outer).lower(), normalise_scope(inner).lower()
    return outer == "/" or inner == outer or inner.startswith(outer + "/")


@dataclass
class RoleAssignment:
    name: str
    scope: str
    role_guid: str
    principal_id: str
    principal_type: str = "ServicePrincipal"
    description: str = ""
    created_on: float = field(default_factory=time.time)

    @property
    def role(self) -> Optional[RoleDefinition]:
        return find_role(self.role_guid)

    def arm_id(self) -> str:
        scope = normalise_scope(self.scope)
        return f"{'' if scope == '/' else scope}/providers/Microsoft.Authorization/roleAssignments/{self.name}"

    def to_dict(self) -> dict:
        return {"name": self.name, "scope": self.scope, "role": self.role_guid,
                "principal_id": self.principal_id, "principal_type": self.principal_type}


class Rbac:
    """Evaluates ARM actions and data actions for a principal at a scope."""

    def __init__(self, state: State):
        self.state = state

    def assignments_for(self, principal_id: str, scope: str) -> list[RoleAssignment]:
        wanted = (principal_id or "").lower()
        return [a for a in self.state.role_assignments.values()
                if a.principal_id.lower() == wanted and scope_contains(a.scope, scope)]

    def granting(self, principal_id: str, action: str, scope: str, data: bool = False) -> list[RoleAssignment]:
        """The assignments that grant `action` to the principal at `scope` (empty = denied)."""
        return [a for a in self.assignments_for(principal_id, scope) if a.role and a.role.allows(action, data)]

    def allowed(self, principal_id: str, action: str, scope: str, data: bool = False) -> bool:
        return bool(self.granting(principal_id, action, scope, data))

    def add(self, assignment: RoleAssignment) -> RoleAssignment:
        assignment.scope = normalise_scope(assignment.scope)
        self.state.role_assignments[assignment.name.lower()] = assignment
        return assignment

    def find(self, principal_id: str, role_guid: str, scope: str) -> Optional[RoleAssignment]:
        for assignment in self.state.role_assignments.values():
            if (assignment.principal_id.lower() == principal_id.lower() and assignment.role_guid == role_guid
                    and normalise_scope(assignment.scope).lower() == normalise_scope(scope).lower()):
                return assignment
        return None
