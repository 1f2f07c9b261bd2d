"""Microsoft.Resources: subscriptions, resource groups and the generic `/resources` listing."""
from __future__ import annotations

import copy
import re

from ..arm import ArmContext, Lro, Target, bad_request, parse_target, paged, registry
from ..http import HttpError, Response, empty_response, json_response

RG_TYPE = "Microsoft.Resources/resourceGroups"
_RG_NAME = re.compile(r"^[-\w._()]{1,90}$")
_SUB = r"/subscriptions/(?P<subscription>[^/]+)"
_RG = _SUB + r"/resourcegroups/(?P<group>[^/]+)"


def _subscription_or_404(ctx: ArmContext, subscription: str) -> dict:
    found = ctx.state.subscription(subscription)
    if found is None:
        raise HttpError(404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found.")
    return found


def _group_id(subscription: str, group: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}"


def _group_or_404(ctx: ArmContext, subscription: str, group: str) -> dict:
    resource = ctx.state.resources.get(_group_id(subscription, group))
    if resource is None:
        raise HttpError(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
    return resource


# --- subscriptions -------------------------------------------------------------------------------
@registry.route("GET", "/subscriptions")
def list_subscriptions(ctx: ArmContext) -> Response:
    visible = [copy.deepcopy(sub) for sub in ctx.state.subscriptions.values()
               if ctx.system or ctx.services.rbac.allowed(ctx.principal, "Microsoft.Resources/subscriptions/read", sub["id"])]
    return paged(ctx, visible)


@registry.route("GET", _SUB)
def get_subscription(ctx: ArmContext, subscription: str) -> Response:
    found = _subscription_or_404(ctx, subscription)
    ctx.authorize("Microsoft.Resources/subscriptions/read", found["id"])
    return json_response(200, copy.deepcopy(found))


# --- resource groups -----------------------------------------------------------------------------
@registry.route("GET", _SUB + "/resourcegroups")
def list_groups(ctx: ArmContext, subscription: str) -> Response:
    found = _subscription_or_404(ctx, subscription)
    ctx.authorize("Microsoft.Resources/subscriptions/resourceGroups/read", found["id"])
    return paged(ctx, ctx.state.resources.of_type(RG_TYPE, found["id"]))


@registry.route("GET", _RG)
def get_group(ctx: ArmContext, subscription: str, group: str) -> Response:
    _subscription_or_404(ctx, subscription)
    ctx.authorize("Microsoft.Resources/subscriptions/resourceGroups/read", _group_id(subscription, group))
    return json_response(200, _group_or_404(ctx, subscription, group))


@registry.route("HEAD", _RG)
def group_exists(ctx: ArmContext, subscription: str, group: str) -> Response:
    _subscription_or_404(ctx, subscription)
    ctx.authorize("Microsoft.Resources/subscriptions/resourceGroups/read", _group_id(subscription, group))
    exists = ctx.state.resources.get(_group_id(subscription, group)) is not None
    return empty_response(204 if exists else 404)


@registry.route("PUT", _RG)
def put_group(ctx: ArmContext, subscription: str, group: str) -> Response:
    _subscription_or_404(ctx, subscription)
    group_id = _group_id(subscription, group)
    ctx.authorize("Microsoft.Resources/subscriptions/resourceGroups/write", group_id)
    if not _RG_NAME.match(group) or group.endswith("."):
        raise bad_request(f"Resource group '{group}' is invalid.", "InvalidResourceGroup")
    body = ctx.body()
    existing = ctx.state.resources.get(group_id)
    if not body.get("location"):
        raise bad_request("The 'location' property is required for this definition.", "LocationRequired")
    if existing and existing["location"].lower() != body["location"].lower():
        raise HttpError(409, "InvalidResourceGroupLocation",
                        f"Invalid resource group location '{body['location']}'. The Resource group already exists in "
                        f"location '{existing['location']}'.")
    resource = {
        "id": existing["id"] if existing else group_id, "name": existing["name"] if existing else group,
        "type": RG_TYPE, "location": body["location"], "tags": body.get("tags", {}),
        "properties": {"provisioningState": "Succeeded"},
    }
    if body.get("managedBy"):
        resource["managedBy"] = body["managedBy"]
    ctx.state.resources.put(resource)
    return json_response(200 if existing else 201, resource)


@registry.route("PATCH", _RG)
def patch_group(ctx: ArmContext, subscription: str, group: str) -> Response:
    _subscription_or_404(ctx, subscription)
    ctx.authorize("Microsoft.Resources/subscriptions/resourceGroups/write", _group_id(subscription, group))
    resource = _group_or_404(ctx, subscription, group)
    body = ctx.body()
    if "tags" in body:
        resource["tags"] = body["tags"] or {}
    return json_response(200, resource)


@registry.route("DELETE", _RG)
def delete_group(ctx: ArmContext, subscription: str, group: str) -> Response:
    _subscription_or_404(ctx, subscription)
    group_id = _group_id(subscription, group)
    ctx.authorize("Microsoft.Resources/subscriptions/resourceGroups/delete", group_id)
    resource = ctx.state.resources.get(group_id)
    if resource is None:
        raise HttpError(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
    resource["properties"]["provisioningState"] = "Deleting"

    def finish() -> None:
        for child in list(ctx.state.resources.under(group_id)):
            target = parse_target(child["id"])
            rtype = registry.lookup(child.get("type", ""))
            if target and rtype and len(target.names) == 1 and ctx.state.resources.get(child["id"]):
                rtype.remove(ctx, target, child)
        ctx.state.resources.delete_tree(group_id)
    target = Target(path=group_id, scope=group_id, namespace="Microsoft.Resources")
    return ctx.services.arm.start_operation(ctx, target, Lro.LOCATION, finish, initial=None, status=202)


# --- generic resource listing --------------------------------------------------------------------
_FILTER_TERM = re.compile(r"^\s*(\w+)\s+eq\s+'([^']*)'\s*$", re.I)


def _parse_filter(text: str) -> dict[str, str]:
    terms: dict[str, str] = {}
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.I) if text.strip() else []:
        match = _FILTER_TERM.match(clause)
        if not match or match.group(1).lower() not in ("resourcetype", "name", "location", "tagname", "tagvalue"):
            raise HttpError(400, "InvalidFilterInQueryString", f"Invalid $filter '{text}' specified in the query string.")
        terms[match.group(1).lower()] = match.group(2)
    return terms


def _matches(resource: dict, terms: dict[str, str]) -> bool:
    checks = {
        "resourcetype": lambda value: resource.get("type", "").lower() == value.lower(),
        "name": lambda value: resource.get("name", "").lower() == value.lower(),
        "location": lambda value: resource.get("location", "").lower() == value.lower(),
        "tagname": lambda value: value in (resource.get("tags") or {}),
        "tagvalue": lambda value: value in (resource.get("tags") or {}).values(),
    }
    return all(checks[name](value) for name, value in terms.items())


def _summary(resource: dict) -> dict:
    keys = ("id", "name", "type", "location", "tags", "sku", "kind", "identity", "managedBy")
    return {key: copy.deepcopy(resource[key]) for key in keys if key in resource}


def tracked_resources(ctx: ArmContext, scope: str) -> list[dict]:
    """Top-level tracked resources below a scope (what `/resources` lists)."""
    found = []
    for resource in ctx.state.resources.under(scope):
        target = parse_target(resource["id"])
        rtype = registry.lookup(resource.get("type", ""))
        if target and rtype and rtype.tracked and len(target.names) == 1 and target.scope.count("/") <= 4:
            found.append(resource)
    return found


def _list_resources(ctx: ArmContext, scope: str) -> Response:
    ctx.authorize("Microsoft.Resources/subscriptions/resources/read", scope)
    terms = _parse_filter(ctx.request.params.get("$filter", ""))
    return paged(ctx, [_summary(r) for r in tracked_resources(ctx, scope) if _matches(r, terms)])


@registry.route("GET", _SUB + "/resources")
def list_subscription_resources(ctx: ArmContext, subscription: str) -> Response:
    found = _subscription_or_404(ctx, subscription)
    return _list_resources(ctx, found["id"])


@registry.route("GET", _RG + "/resources")
def list_group_resources(ctx: ArmContext, subscription: str, group: str) -> Response:
    _subscription_or_404(ctx, subscription)
    resource = _group_or_404(ctx, subscription, group)
    return _list_resources(ctx, resource["id"])
