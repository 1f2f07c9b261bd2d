"""Who may do what on keys: Key Vault RBAC mode, access-policy mode, and Managed HSM local RBAC.

Also the effective-permissions function (`registry.key_access`) that later providers (disk
encryption sets, storage, SQL MI) call to decide whether an identity can reach a key.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from ..arm import registry
from ..clouds import classify_host
from ..http import HttpError
from ..rbac import RoleAssignment, RoleDefinition, scope_contains
from .keystore import key_ring

_KV = "Microsoft.KeyVault/vaults"
_HSM = "Microsoft.KeyVault/managedHsm"


@dataclass(frozen=True)
class Permission:
    vault_data_action: str
    access_policy: str
    hsm_data_action: str


OPERATIONS: dict[str, Permission] = {
    "create": Permission(f"{_KV}/keys/create/action", "create", f"{_HSM}/keys/create"),
    "get": Permission(f"{_KV}/keys/read", "get", f"{_HSM}/keys/read/action"),
    "list": Permission(f"{_KV}/keys/read", "list", f"{_HSM}/keys/read/action"),
    "update": Permission(f"{_KV}/keys/update/action", "update", f"{_HSM}/keys/write/action"),
    "rotate": Permission(f"{_KV}/keys/rotate/action", "rotate", f"{_HSM}/keys/rotate/action"),
    "delete": Permission(f"{_KV}/keys/delete", "delete", f"{_HSM}/keys/delete"),
    "getdeleted": Permission(f"{_KV}/deletedKeys/read", "get", f"{_HSM}/keys/deletedKeys/read/action"),
    "listdeleted": Permission(f"{_KV}/deletedKeys/read", "list", f"{_HSM}/keys/deletedKeys/read/action"),
    "recover": Permission(f"{_KV}/deletedKeys/recover/action", "recover", f"{_HSM}/keys/deletedKeys/recover/action"),
    "purge": Permission(f"{_KV}/deletedKeys/delete", "purge", f"{_HSM}/keys/deletedKeys/delete"),
    "getrotationpolicy": Permission(f"{_KV}/keyrotationpolicies/read", "getrotationpolicy", f"{_HSM}/keys/read/action"),
    "setrotationpolicy": Permission(f"{_KV}/keyrotationpolicies/write", "setrotationpolicy", f"{_HSM}/keys/write/action"),
    "wrapKey": Permission(f"{_KV}/keys/wrap/action", "wrapKey", f"{_HSM}/keys/wrap/action"),
    "unwrapKey": Permission(f"{_KV}/keys/unwrap/action", "unwrapKey", f"{_HSM}/keys/unwrap/action"),
}

HSM_ROLES: tuple[RoleDefinition, ...] = (
    RoleDefinition("a290e904-7015-4bba-90c8-60543313cdb4", "Managed HSM Administrator", "",
                   data_actions=(f"{_HSM}/roleAssignments/*", f"{_HSM}/roleDefinitions/*", f"{_HSM}/securitydomain/*",
                                 f"{_HSM}/backup/*", f"{_HSM}/restore/*")),
    RoleDefinition("515eb02d-2335-4d2d-92f2-b1cbdf9c3778", "Managed HSM Crypto Officer", "",
                   data_actions=(f"{_HSM}/keys/read/action", f"{_HSM}/keys/create", f"{_HSM}/keys/delete",
                                 f"{_HSM}/keys/write/action", f"{_HSM}/keys/rotate/action", f"{_HSM}/keys/deletedKeys/*",
                                 f"{_HSM}/roleAssignments/*", f"{_HSM}/roleDefinitions/read/action")),
    RoleDefinition("21dbd100-6940-42c2-9190-5d6cb909625b", "Managed HSM Crypto User", "",
                   data_actions=(f"{_HSM}/keys/*",),
                   not_data_actions=(f"{_HSM}/keys/deletedKeys/delete", f"{_HSM}/keys/export/action",
                                     f"{_HSM}/keys/release/action")),
    RoleDefinition("4bd23610-cdcf-4971-bdee-bdc562cc28e4", "Managed HSM Policy Administrator", "",
                   data_actions=(f"{_HSM}/roleAssignments/*", f"{_HSM}/roleDefinitions/*")),
    RoleDefinition("2c18b078-7c48-4d3a-af88-5a3a1b3f82b3", "Managed HSM Crypto Auditor", "",
                   data_actions=(f"{_HSM}/keys/read/action", f"{_HSM}/keys/deletedKeys/read/action",
                                 f"{_HSM}/roleAssignments/read/action", f"{_HSM}/roleDefinitions/read/action")),
    RoleDefinition("33413926-3206-4cdd-b39a-83574fe37a17", "Managed HSM Crypto Service Encryption User", "",
                   data_actions=(f"{_HSM}/keys/read/action", f"{_HSM}/keys/wrap/action", f"{_HSM}/keys/unwrap/action")),
    RoleDefinition("21dbd100-6940-42c2-9190-5d6cb909625c", "Managed HSM Crypto Service Release User", "",
                   data_actions=(f"{_HSM}/keys/release/action",)),
    RoleDefinition("7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8", "Managed HSM Backup User", "",
                   data_actions=(f"{_HSM}/backup/*", f"{_HSM}/keys/backup/action")),
    RoleDefinition("6efe6056-5259-49d2-8b3d-d3d73544b20b", "Managed HSM Restore User", "",
                   data_actions=(f"{_HSM}/restore/*", f"{_HSM}/keys/restore/action")),
)
HSM_RBAC_NAMESPACE = "managedhsm.rbac"
ADMINISTRATOR = HSM_ROLES[0].guid


def find_hsm_role(reference: str) -> Optional[RoleDefinition]:
    guid = reference.rstrip("/").rsplit("/", 1)[-1].lower()
    return next((role for role in HSM_ROLES if role.guid == guid or role.role_name.lower() == reference.lower()), None)


def hsm_assignments(state, hsm: dict) -> dict[str, RoleAssignment]:
    """The local role assignments of an HSM; `initialAdminObjectIds` are Administrators at `/`."""
    key = f"{hsm['type'].lower()}:{hsm['name'].lower()}"
    namespace = state.namespace(HSM_RBAC_NAMESPACE)
    if key not in namespace:
        namespace[key] = {}
        for object_id in hsm.get("properties", {}).get("initialAdminObjectIds") or []:
            name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{hsm['id']}/{object_id}"))
            namespace[key][name] = RoleAssignment(name, "/", ADMINISTRATOR, object_id, "User")
    return namespace[key]


def hsm_granting(state, hsm: dict, principal: str, data_action: str, scope: str) -> list[RoleAssignment]:
    granted = []
    for assignment in hsm_assignments(state, hsm).values():
        if assignment.principal_id.lower() != principal.lower():
            continue
        role = find_hsm_role(assignment.role_guid)
        if scope_contains(assignment.scope, scope) and role and role.allows(data_action, data=True):
            granted.append(assignment)
    return granted


# --- the checks -------------------------------------------------------------------------------------
def _caller(principal: str, app_id: str, tenant: str) -> str:
    return f"appid={app_id};oid={principal};iss=https://sts.windows.net/{tenant}/"


def _policy_permissions(vault: dict, principal: str) -> set[str]:
    permissions: set[str] = set()
    for entry in vault["properties"].get("accessPolicies") or []:
        if entry.get("objectId", "").lower() == principal.lower():
            permissions |= {p.lower() for p in (entry.get("permissions") or {}).get("keys") or []}
    return permissions


def grants(services, owner: dict, principal: str, operation: str, key_name: str = "") -> list[dict]:
    """How (if at all) the principal may perform the operation on the key: a list of grants."""
    permission = OPERATIONS[operation]
    if owner["type"].lower() == "microsoft.keyvault/managedhsms":
        scope = f"/keys/{key_name}" if key_name else "/keys"
        return [{"kind": "managedHsmLocalRbac", "role": a.role_guid, "scope": a.scope, "assignment": a.name}
                for a in hsm_granting(services.state, owner, principal, permission.hsm_data_action, scope)]
    if owner["properties"].get("enableRbacAuthorization"):
        scope = f"{owner['id']}/keys/{key_name}" if key_name else owner["id"]
        return [{"kind": "rbac", "role": a.role_guid, "scope": a.scope, "assignment": a.name}
                for a in services.rbac.granting(principal, permission.vault_data_action, scope, data=True)]
    held = _policy_permissions(owner, principal)
    if "all" in held or permission.access_policy.lower() in held:
        return [{"kind": "accessPolicy", "objectId": principal, "permission": permission.access_policy}]
    return []


def authorize(ctx, operation: str, key_name: str = "") -> None:
    """403 with the real body unless the data-plane caller may perform the operation."""
    owner = ctx.resource
    if grants(ctx.services, owner, ctx.principal, operation, key_name):
        return
    permission = OPERATIONS[operation]
    tenant = owner["properties"].get("tenantId", "")
    caller = _caller(ctx.principal, ctx.token_app_id, tenant)
    location = owner.get("location", "")
    if owner["type"].lower() == "microsoft.keyvault/vaults" and not owner["properties"].get("enableRbacAuthorization"):
        raise HttpError(403, "Forbidden",
                        f"The user, group or application '{caller}' does not have keys {permission.access_policy} "
                        f"permission on key vault '{owner['name']};location={location}'. For help resolving this issue, "
                        "please see https://go.microsoft.com/fwlink/?linkid=2125287", inner="AccessDenied")
    is_hsm = owner["type"].lower() == "microsoft.keyvault/managedhsms"
    action = permission.hsm_data_action if is_hsm else permission.vault_data_action
    resource = f"/keys/{key_name}" if is_hsm else (f"{owner['id']}/keys/{key_name}" if key_name else owner["id"]).lower()
    raise HttpError(403, "Forbidden",
                    "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments "
                    "or role definitions were changed recently, please observe propagation time.\r\n"
                    f"Caller: {caller}\r\nAction: '{action}'\r\nResource: '{resource}'\r\nAssignment: (not found)\r\n"
                    f"DenyAssignmentId: null\r\nDecisionReason: null \r\nVault: {owner['name']};location={location}\r\n",
                    inner="ForbiddenByRbac")


def authorize_hsm_admin(ctx, data_action: str, scope: str) -> None:
    if hsm_granting(ctx.state, ctx.resource, ctx.principal, data_action, scope):
        return
    caller = _caller(ctx.principal, ctx.token_app_id, ctx.resource["properties"].get("tenantId", ""))
    raise HttpError(403, "Forbidden", "Caller is not authorized to perform action on resource.\r\n"
                    f"Caller: {caller}\r\nAction: '{data_action}'\r\nResource: '{scope}'\r\nAssignment: (not found)\r\n",
                    inner="ForbiddenByRbac")


# --- effective permissions -------------------------------------------------------------------------
def _owner_for_host(state, host: str) -> Optional[dict]:
    endpoint = classify_host(host)
    if endpoint is None or endpoint.service not in ("kv", "mhsm"):
        raise ValueError(f"'{host}' is not a Key Vault or Managed HSM host")
    owner_type = "Microsoft.KeyVault/vaults" if endpoint.service == "kv" else "Microsoft.KeyVault/managedHSMs"
    return next(iter(state.resources.named(owner_type, endpoint.name)), None)


def effective_permissions(services, principal: str, key_uri: str) -> dict:
    """`{"get","wrapKey","unwrapKey": bool, "via": [...]}` for a principal on a key URI (any version)."""
    parts = urlsplit(key_uri)
    segments = [segment for segment in parts.path.split("/") if segment]
    if len(segments) < 2 or segments[0].lower() != "keys":
        raise ValueError(f"'{key_uri}' is not a key URI (https://<vault>/keys/<name>[/<version>])")
    owner = _owner_for_host(services.state, parts.hostname or "")
    result: dict = {"get": False, "wrapKey": False, "unwrapKey": False, "via": [], "vault": None, "key_exists": False}
    if owner is None:
        return result
    key = key_ring(services.state, owner).get(segments[1])
    result.update(vault=owner["id"], key_exists=key is not None)
    for operation in ("get", "wrapKey", "unwrapKey"):
        found = grants(services, owner, principal, operation, segments[1])
        result[operation] = bool(found)
        result["via"].extend(dict(grant, operation=operation) for grant in found)
    return result


registry.key_access = effective_permissions
