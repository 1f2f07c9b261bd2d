"""Managed HSM local RBAC: `/{scope}/providers/Microsoft.Authorization/roleAssignments|roleDefinitions`.

Scopes are `/`, `/keys` and `/keys/<name>`; role definition ids have no leading slash.
"""
from __future__ import annotations

import re
from typing import Optional

from ..http import HttpError, Response, json_response
from ..rbac import RoleAssignment, normalise_scope
from .kvaccess import HSM_ROLES, authorize_hsm_admin, find_hsm_role, hsm_assignments

_RA = "Microsoft.KeyVault/managedHsm/roleAssignments"
_RD = "Microsoft.KeyVault/managedHsm/roleDefinitions"
_SCOPE = re.compile(r"^/(keys(/[^/]+)?)?$", re.I)


def definition_id(guid: str) -> str:
    return f"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{guid}"


def _assignment_view(assignment: RoleAssignment) -> dict:
    prefix = "" if assignment.scope == "/" else assignment.scope
    return {"id": f"{prefix}/providers/Microsoft.Authorization/roleAssignments/{assignment.name}",
            "name": assignment.name, "type": "Microsoft.Authorization/roleAssignments",
            "properties": {"scope": assignment.scope, "roleDefinitionId": definition_id(assignment.role_guid),
                           "principalId": assignment.principal_id}}


def _definition_view(guid: str) -> dict:
    role = find_hsm_role(guid)
    return {"id": definition_id(role.guid), "name": role.guid, "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {"roleName": role.role_name, "description": role.description, "type": "AKVBuiltInRole",
                           "assignableScopes": ["/"],
                           "permissions": [{"actions": [], "notActions": [], "dataActions": list(role.data_actions),
                                            "notDataActions": list(role.not_data_actions)}]}}


def handle(ctx, segments: list[str]) -> Response:
    index = [s.lower() for s in segments].index("providers")
    scope = normalise_scope("/".join(segments[:index]))
    rest = segments[index + 1:]
    if not _SCOPE.match(scope) or len(rest) < 2 or rest[0].lower() != "microsoft.authorization":
        raise HttpError(400, "BadParameter", f"Invalid role management scope or path '{ctx.request.path}'.")
    collection, name = rest[1].lower(), (rest[2] if len(rest) > 2 else None)
    if collection == "roleassignments":
        return _assignments(ctx, scope, name)
    if collection == "roledefinitions":
        return _definitions(ctx, scope, name)
    raise HttpError(400, "BadParameter", f"Unknown role management collection '{rest[1]}'.")


def _assignments(ctx, scope: str, name: Optional[str]) -> Response:
    method = ctx.request.method
    store = hsm_assignments(ctx.state, ctx.resource)
    if name is None and method == "GET":
        authorize_hsm_admin(ctx, f"{_RA}/read/action", scope)
        principal = _principal_filter(ctx.request.params.get("$filter", ""))
        found = [a for a in store.values() if a.scope.lower() == scope.lower()
                 and (principal is None or a.principal_id.lower() == principal)]
        return json_response(200, {"value": [_assignment_view(a) for a in found], "nextLink": None})
    if name is None:
        raise HttpError(405, "MethodNotAllowed", f"{method} is not supported on role assignment collections.")
    if method == "PUT":
        authorize_hsm_admin(ctx, f"{_RA}/write/action", scope)
        return _create_assignment(ctx, store, scope, name)
    assignment = store.get(name)
    if assignment is None or assignment.scope.lower() != scope.lower():
        raise HttpError(404, "RoleAssignmentNotFound", f"Requested role assignment not found (Activity ID: {name}).")
    if method == "GET":
        authorize_hsm_admin(ctx, f"{_RA}/read/action", scope)
        return json_response(200, _assignment_view(assignment))
    if method == "DELETE":
        authorize_hsm_admin(ctx, f"{_RA}/delete/action", scope)
        del store[name]
        return json_response(200, _assignment_view(assignment))
    raise HttpError(405, "MethodNotAllowed", f"{method} is not supported on role assignments.")


def _create_assignment(ctx, store: dict, scope: str, name: str) -> Response:
    properties = (ctx.request.json() or {}).get("properties") or {}
    role = find_hsm_role(properties.get("roleDefinitionId", ""))
    if role is None:
        raise HttpError(400, "BadParameter", f"Role definition '{properties.get('roleDefinitionId')}' not found.")
    principal = properties.get("principalId", "")
    if not principal:
        raise HttpError(400, "BadParameter", "The role assignment requires 'principalId'.")
    if name in store:
        raise HttpError(409, "RoleAssignmentExists", "The role assignment already exists.")
    store[name] = RoleAssignment(name, scope, role.guid, principal)
    return json_response(201, _assignment_view(store[name]))


def _definitions(ctx, scope: str, name: Optional[str]) -> Response:
    if ctx.request.method != "GET":
        raise HttpError(403, "Forbidden", "azemu: custom Managed HSM role definitions are not emulated.")
    authorize_hsm_admin(ctx, f"{_RD}/read/action", scope)
    if name is None:
        return json_response(200, {"value": [_definition_view(role.guid) for role in HSM_ROLES], "nextLink": None})
    if find_hsm_role(name) is None:
        raise HttpError(404, "RoleDefinitionNotFound", f"Role definition '{name}' not found.")
    return json_response(200, _definition_view(name))


def _principal_filter(text: str) -> Optional[str]:
    match = re.search(r"principalId\s+eq\s+'([^']+)'", text, re.I)
    return match.group(1).lower() if match else None
