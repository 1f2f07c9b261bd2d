"""Microsoft.Authorization on ARM: role assignments and role definitions at any scope, over `rbac.Rbac`."""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Optional

from ..arm import ArmContext, bad_request, paged, registry
from ..http import HttpError, Response, empty_response, json_response
from ..rbac import BUILTIN_ROLES, RoleAssignment, find_role, normalise_scope, scope_contains

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_PROVIDER = r"/providers/microsoft\.authorization"
_RA_WRITE = "Microsoft.Authorization/roleAssignments/write"


def _subscription_of(scope: str) -> str:
    match = re.match(r"^/subscriptions/([^/]+)", scope, re.I)
    return match.group(1) if match else ""


def _check_subscription(ctx: ArmContext, scope: str) -> None:
    subscription = _subscription_of(scope)
    if subscription and ctx.state.subscription(subscription) is None:
        raise HttpError(404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found.")


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def assignment_view(assignment: RoleAssignment) -> dict:
    role = find_role(assignment.role_guid)
    return {
        "id": assignment.arm_id(), "name": assignment.name, "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": role.arm_id(_subscription_of(assignment.scope)), "principalId": assignment.principal_id,
            "principalType": assignment.principal_type, "scope": assignment.scope, "condition": None,
            "conditionVersion": None, "description": assignment.description or None,
            "createdOn": _iso(assignment.created_on), "updatedOn": _iso(assignment.created_on),
            "createdBy": None, "updatedBy": None, "delegatedManagedIdentityResourceId": None,
        },
    }


# --- role assignments ---------------------------------------------------------------------------------
@registry.route("GET", rf"(?P<scope>.*){_PROVIDER}/roleassignments/(?P<name>[^/]+)")
def get_assignment(ctx: ArmContext, scope: str, name: str) -> Response:
    scope = normalise_scope(scope)
    _check_subscription(ctx, scope)
    ctx.authorize("Microsoft.Authorization/roleAssignments/read", scope)
    assignment = ctx.state.role_assignments.get(name.lower())
    if assignment is None or assignment.scope.lower() != scope.lower():
        raise HttpError(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")
    return json_response(200, assignment_view(assignment))


@registry.route("PUT", rf"(?P<scope>.*){_PROVIDER}/roleassignments/(?P<name>[^/]+)")
def put_assignment(ctx: ArmContext, scope: str, name: str) -> Response:
    scope = normalise_scope(scope)
    _check_subscription(ctx, scope)
    ctx.authorize(_RA_WRITE, scope)
    if not _GUID.match(name):
        raise bad_request(f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.",
                          "InvalidRoleAssignmentId")
    properties = ctx.body().get("properties") or {}
    role = find_role(properties.get("roleDefinitionId", "") or "-")
    if role is None:
        raise bad_request(f"The specified role definition with ID '{properties.get('roleDefinitionId')}' does not exist.",
                          "RoleDefinitionDoesNotExist")
    principal_id = properties.get("principalId", "")
    principal = ctx.state.principal(principal_id)
    if principal is None:
        tenant = ctx.tenant_of_subscription(_subscription_of(scope))
        raise bad_request(
            f"Principal {principal_id.replace('-', '')} does not exist in the directory {tenant}. Check that you have "
            "the correct principal ID. If you are creating this principal and then immediately assigning a role, "
            "this error might be related to a replication delay. In this case, set the role assignment principalType "
            "property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
            "PrincipalNotFound")
    existing = ctx.state.role_assignments.get(name.lower())
    if existing is not None:
        if (existing.principal_id.lower(), existing.role_guid, existing.scope.lower()) != \
                (principal_id.lower(), role.guid, scope.lower()):
            raise HttpError(409, "RoleAssignmentUpdateNotPermitted",
                            "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
        return json_response(201, assignment_view(existing))
    if ctx.services.rbac.find(principal_id, role.guid, scope):
        raise HttpError(409, "RoleAssignmentExists", "The role assignment already exists.")
    default_type = "User" if principal.type == "User" else "ServicePrincipal"
    assignment = ctx.services.rbac.add(RoleAssignment(
        name=name.lower(), scope=scope, role_guid=role.guid, principal_id=principal_id,
        principal_type=properties.get("principalType") or default_type,
        description=properties.get("description") or "", created_on=time.time()))
    return json_response(201, assignment_view(assignment))


@registry.route("DELETE", rf"(?P<scope>.*){_PROVIDER}/roleassignments/(?P<name>[^/]+)")
def delete_assignment(ctx: ArmContext, scope: str, name: str) -> Response:
    scope = normalise_scope(scope)
    _check_subscription(ctx, scope)
    ctx.authorize("Microsoft.Authorization/roleAssignments/delete", scope)
    assignment = ctx.state.role_assignments.get(name.lower())
    if assignment is None or assignment.scope.lower() != scope.lower():
        return empty_response(204)
    del ctx.state.role_assignments[name.lower()]
    return json_response(200, assignment_view(assignment))


def _assignment_filter(text: str) -> tuple[bool, Optional[str]]:
    """(`atScope()` given, principal id) from `$filter`."""
    at_scope = "atscope()" in text.lower()
    match = re.search(r"(?:principalId\s+eq\s+|assignedTo\()'([^']+)'", text, re.I)
    return at_scope, (match.group(1).lower() if match else None)


@registry.route("GET", rf"(?P<scope>.*){_PROVIDER}/roleassignments")
def list_assignments(ctx: ArmContext, scope: str) -> Response:
    scope = normalise_scope(scope)
    _check_subscription(ctx, scope)
    ctx.authorize("Microsoft.Authorization/roleAssignments/read", scope)
    at_scope, principal = _assignment_filter(ctx.request.params.get("$filter", ""))
    found = []
    for assignment in ctx.state.role_assignments.values():
        above_or_at = scope_contains(assignment.scope, scope)
        below = scope_contains(scope, assignment.scope)
        if (above_or_at or (below and not at_scope)) and \
                (principal is None or assignment.principal_id.lower() == principal):
            found.append(assignment_view(assignment))
    return paged(ctx, found)


# --- role definitions -----------------------------------------------------------------------------------
@registry.route("GET", rf"(?P<scope>.*){_PROVIDER}/roledefinitions/(?P<name>[^/]+)")
def get_definition(ctx: ArmContext, scope: str, name: str) -> Response:
    scope = normalise_scope(scope)
    _check_subscription(ctx, scope)
    ctx.authorize("Microsoft.Authorization/roleDefinitions/read", scope)
    role = find_role(name) if _GUID.match(name) else None
    if role is None:
        raise HttpError(404, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{name}' does not exist.")
    return json_response(200, role.to_arm(_subscription_of(scope)))


@registry.route("GET", rf"(?P<scope>.*){_PROVIDER}/roledefinitions")
def list_definitions(ctx: ArmContext, scope: str) -> Response:
    scope = normalise_scope(scope)
    _check_subscription(ctx, scope)
    ctx.authorize("Microsoft.Authorization/roleDefinitions/read", scope)
    text = ctx.request.params.get("$filter", "")
    match = re.search(r"roleName\s+eq\s+'([^']*)'", text, re.I)
    roles = [role for role in BUILTIN_ROLES if match is None or role.role_name.lower() == match.group(1).lower()]
    return paged(ctx, [role.to_arm(_subscription_of(scope)) for role in roles])
