"""The Azure Resource Manager engine: path parsing, authorization, generic CRUD, LROs, paging.

Resource providers plug in through `registry` (see `azemu.providers`): a `ResourceType` subclass per
resource type, `route()` functions for paths without `/providers/`, and data-plane handlers.
"""
from __future__ import annotations

import copy
import enum
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import parse_qsl, quote, urlencode

from .clouds import Endpoint, normalise_audience
from .identity import TokenError
from .http import BadRequestBody, HttpError, Request, Response, empty_response, json_response

if TYPE_CHECKING:
    from .emulator import Services


# ---------------------------------------------------------------------------------------------- paths
@dataclass
class Target:
    """An ARM request path split on its LAST `/providers/` segment."""
    path: str  # normalised: single slashes, no trailing slash
    scope: str  # what comes before `/providers/` ("" at the tenant root)
    namespace: str = ""
    types: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    tail: str = ""  # odd trailing segment: a collection (GET) or an action (POST)

    @property
    def type_name(self) -> str:
        """`Microsoft.KeyVault/vaults/keys` for a key or for the key collection `.../vaults/kv/keys`."""
        return "/".join([self.namespace, *self.types, *([self.tail] if self.tail else [])])

    @property
    def resource_type_name(self) -> str:
        """The type of the resource itself, ignoring a trailing collection/action segment."""
        return "/".join([self.namespace, *self.types])

    @property
    def resource_id(self) -> str:
        """The resource the request is about (for a collection: its parent; for an action: its resource)."""
        return self.path.rsplit("/", 1)[0] if self.tail else self.path

    @property
    def name(self) -> str:
        return self.names[-1] if self.names else ""

    @property
    def parent_id(self) -> str:
        """The enclosing resource (or resource group / subscription scope) of a resource."""
        resource = self.resource_id
        if len(self.names) > 1:
            return resource.rsplit("/", 2)[0]
        return self.scope

    @property
    def subscription_id(self) -> str:
        match = re.match(r"^/subscriptions/([^/]+)", self.path, re.I)
        return match.group(1) if match else ""

    @property
    def resource_group(self) -> str:
        match = re.match(r"^/subscriptions/[^/]+/resourcegroups/([^/]+)", self.path, re.I)
        return match.group(1) if match else ""

    def display_name(self) -> str:
        """`Microsoft.KeyVault/vaults/kv1/keys/k1`, the form ARM uses in not-found messages."""
        pairs = [f"{t}/{n}" for t, n in zip(self.types, self.names)]
        return "/".join([self.namespace, *pairs])


def normalise_path(path: str) -> str:
    return "/" + "/".join(part for part in path.split("/") if part)


def parse_target(path: str) -> Optional[Target]:
    path = normalise_path(path)
    index = path.lower().rfind("/providers/")
    if index < 0:
        return None
    rest = [part for part in path[index + len("/providers/"):].split("/") if part]
    if not rest:
        return None
    segments = rest[1:]
    target = Target(path=path, scope=path[:index], namespace=rest[0])
    pairs = len(segments) // 2
    target.types = segments[0:pairs * 2:2]
    target.names = segments[1:pairs * 2:2]
    target.tail = segments[-1] if len(segments) % 2 else ""
    return target


# ---------------------------------------------------------------------------------------------- LROs
class Lro(enum.Enum):
    SYNC = "sync"  # 200/201 with provisioningState Succeeded, no headers
    ASYNC = "azure-asyncoperation"  # Azure-AsyncOperation status monitor, then final GET
    LOCATION = "location"  # 202 + Location until done, then 200 with the result


@dataclass
class Operation:
    op_id: str
    monitor_path: str
    style: Lro
    method: str
    resource_id: str
    polls_left: int
    finish: Callable[[], Optional[dict]]  # applies the change; returns the final body (None for deletes)
    started: float = field(default_factory=time.time)
    status: str = "InProgress"
    result: Optional[dict] = None

    def complete(self) -> None:
        if self.status == "InProgress":
            self.result = self.finish()
            self.status = "Succeeded"


# ---------------------------------------------------------------------------------------------- context
@dataclass
class ArmContext:
    request: Request
    endpoint: Endpoint
    services: "Services"
    principal: str = ""
    system: bool = False  # the platform itself (seeding): no authorization checks
    validate: bool = True  # False: seeded pre-existing state (seed `validate: false`), service key rules not applied

    @property
    def state(self):
        return self.services.state

    @property
    def cloud(self):
        return self.endpoint.cloud

    @property
    def api_version(self) -> str:
        return self.request.params.get("api-version", "")

    def body(self) -> dict:
        try:
            body = self.request.json()
        except BadRequestBody as exc:
            raise HttpError(400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: '{exc}'.") from None
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise HttpError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
        return body

    def url(self, path: str, **params: str) -> str:
        query = {"api-version": self.api_version, **params}
        return f"https://{self.request.host}{quote(path)}?{urlencode(query)}"

    def authorize(self, action: str, scope: str) -> None:
        """403 AuthorizationFailed unless the caller holds `action` at `scope` (or above)."""
        if self.system:
            return
        if not self.services.rbac.allowed(self.principal, action, scope):
            oid = self.principal
            raise HttpError(403, "AuthorizationFailed",
                            f"The client '{oid}' with object id '{oid}' does not have authorization to perform action "
                            f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, "
                            "please refresh your credentials.")

    def tenant_of_subscription(self, subscription_id: str) -> str:
        subscription = self.state.subscription(subscription_id)
        return subscription["tenantId"] if subscription else self.state.default_tenant


def not_found(target: Target) -> HttpError:
    group = target.resource_group
    where = f" under resource group '{group}'" if group else ""
    return HttpError(404, "ResourceNotFound",
                     f"The Resource '{target.display_name()}'{where} was not found. "
                     "For more details please go to https://aka.ms/ARMResourceNotFoundFix")


def bad_request(message: str, code: str = "BadRequest") -> HttpError:
    return HttpError(400, code, message)


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def deep_merge(base: dict, patch: dict) -> dict:
    """JSON merge-patch semantics for objects; lists and scalars replace; `None` removes."""
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "tags":
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# ---------------------------------------------------------------------------------------------- resource types
class ResourceType:
    """Generic behaviour of one ARM resource type; providers subclass and override the hooks.

    Class attributes describe the wire contract (status codes and LRO style per operation);
    `prepare` builds the stored body from a PUT, `prepare_patch` from a PATCH, `view` projects the
    stored body to a response, `on_finish` runs when a create/update completes, `remove` deletes.
    """

    type_name: str = ""
    tracked: bool = True  # a top-level tracked resource: has location, appears in `/resources`
    name_pattern: Optional[str] = None
    name_message: str = "The resource name '{name}' is invalid."
    put_style: Lro = Lro.SYNC
    patch_style: Lro = Lro.SYNC
    delete_style: Lro = Lro.SYNC
    created_status: int = 201
    updated_status: int = 200
    deleted_status: int = 200
    creating_state: str = "Creating"
    updating_state: str = "Updating"
    envelope_keys: tuple[str, ...] = ("location", "tags", "sku", "kind", "identity", "zones", "properties")

    # --- hooks ---------------------------------------------------------------------------------
    def validate_name(self, ctx: ArmContext, target: Target) -> None:
        if self.name_pattern and not re.fullmatch(self.name_pattern, target.name):
            raise bad_request(self.name_message.format(name=target.name), "InvalidResourceName")

    def prepare(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        """The new stored resource for a PUT (id/name/type/systemData are added by the engine)."""
        resource = {key: copy.deepcopy(body[key]) for key in self.envelope_keys if key in body}
        resource.setdefault("properties", {})
        if self.tracked:
            if not resource.get("location"):
                raise bad_request("The 'location' property is required for this definition.", "LocationRequired")
            resource.setdefault("tags", {})
        return resource

    def prepare_patch(self, ctx: ArmContext, target: Target, existing: dict, body: dict) -> dict:
        allowed = {key: value for key, value in body.items() if key in self.envelope_keys}
        return deep_merge(existing, allowed)

    def view(self, ctx: ArmContext, resource: dict) -> dict:
        return copy.deepcopy(resource)

    def on_finish(self, ctx: ArmContext, resource: dict) -> None:
        """Called once a create/update is complete (synchronously or when its LRO finishes)."""

    def remove(self, ctx: ArmContext, target: Target, resource: dict) -> None:
        ctx.state.resources.delete_tree(resource["id"])

    def list(self, ctx: ArmContext, target: Target) -> list[dict]:
        """The collection `GET {parent}/providers/{type}`: every resource of the type under the parent.

        For a top-level type the parent is the resource group or subscription scope (`{rg}/providers/{ns}/{type}`
        or `/subscriptions/{s}/providers/{ns}/{type}`), so a subscription listing finds resource-group resources."""
        scope = target.scope if not target.names else target.resource_id
        return ctx.state.resources.of_type(self.type_name, scope)

    def action(self, ctx: ArmContext, target: Target, resource: Optional[dict], name: str) -> Response:
        raise HttpError(404, "InvalidResourceType", f"The resource type '{self.type_name}/{name}' could not be found.")

    action_requires_resource: bool = True
    parent_is_resource: bool = True  # False for types nested under pseudo-parents such as `locations/{loc}`

    def action_permission(self, name: str) -> str:
        """The RBAC action a POST needs: `{type}/{name}/action`, or `{type}/action` at provider level."""
        return f"{self.type_name}/{name}/action" if name else f"{self.type_name}/action"

    def action_reads(self, name: str) -> bool:
        """True for a POST action that only reads (listKeys, checkNameAvailability): not a write in the request log."""
        return False

    # --- helpers for subclasses ----------------------------------------------------------------
    @staticmethod
    def properties(resource: dict) -> dict:
        return resource.setdefault("properties", {})


def _no_key_access(services: "Services", principal: str, key_uri: str) -> dict:
    raise ValueError("no provider answers effective-permissions")


class Registry:
    """Where providers plug in: resource types, extra routes, data planes, the key-access function."""

    def __init__(self) -> None:
        self.types: dict[str, ResourceType] = {}
        self.routes: list[tuple[str, re.Pattern, Callable[..., Response]]] = []
        self.data_planes: dict[str, Any] = {}
        self.key_access: Callable[["Services", str, str], dict] = _no_key_access

    def resource_type(self, cls: type[ResourceType]) -> type[ResourceType]:
        self.types[cls.type_name.lower()] = cls()
        return cls

    def route(self, method: str, pattern: str) -> Callable:
        def register(function: Callable[..., Response]) -> Callable[..., Response]:
            self.routes.append((method.upper(), re.compile(pattern + "$", re.I), function))
            return function
        return register

    def data_plane(self, service: str, handler: Any) -> None:
        self.data_planes[service] = handler

    def lookup(self, type_name: str) -> Optional[ResourceType]:
        return self.types.get(type_name.lower())


registry = Registry()


# ---------------------------------------------------------------------------------------------- paging
def paged(ctx: ArmContext, items: list[dict]) -> Response:
    """`{"value": [...], "nextLink": <absolute url>}` honouring `$top` and the configured page size."""
    params = ctx.request.params
    size = int(params.get("$top") or ctx.state.settings.page_size)
    start = int(params.get("$skiptoken") or 0)
    page = items[start:start + size]
    body: dict[str, Any] = {"value": page}
    if start + size < len(items):
        kept = {k: v for k, v in _raw_params(ctx.request).items() if k.lower() not in ("$skiptoken", "api-version")}
        body["nextLink"] = ctx.url(ctx.request.path, **kept, **{"$skiptoken": str(start + size)})
    return json_response(200, body)


def _raw_params(request: Request) -> dict[str, str]:
    return dict(parse_qsl(request.query, keep_blank_values=True))


# ---------------------------------------------------------------------------------------------- engine
class ArmEngine:
    def __init__(self, services: "Services"):
        self.services = services

    @property
    def state(self):
        return self.services.state

    def handle(self, ctx: ArmContext) -> Response:
        try:
            return self._handle(ctx)
        except HttpError as exc:
            return exc.response()

    def _handle(self, ctx: ArmContext) -> Response:
        request = ctx.request
        self.complete_stale_operations()
        path = normalise_path(request.path)
        operation = self.state.operations.get(path.lower())
        if operation is not None and request.method == "GET":
            return self._monitor(ctx, operation)
        if not ctx.api_version:
            raise HttpError(400, "MissingApiVersionParameter",
                            "The api-version query parameter (?api-version=) is required for all requests.")
        for method, pattern, function in registry.routes:
            match = pattern.match(path)
            if match and method == request.method:
                return function(ctx, **match.groupdict())
        target = parse_target(path)
        if target is None:
            raise HttpError(404, "NotFound", f"No HTTP resource was found that matches the request URI '{request.url}'.")
        self._check_subscription(target)
        return self._dispatch(ctx, target)

    def _check_subscription(self, target: Target) -> None:
        subscription_id = target.subscription_id
        if subscription_id and self.state.subscription(subscription_id) is None:
            raise HttpError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")

    def _dispatch(self, ctx: ArmContext, target: Target) -> Response:
        method = ctx.request.method
        if target.tail and method == "POST":
            return self._action(ctx, target)
        rtype = registry.lookup(target.type_name)
        if rtype is None:
            raise HttpError(400, "InvalidResourceType",
                            f"The resource type '{'/'.join(target.type_name.split('/')[1:])}' could not be found in the "
                            f"namespace '{target.namespace}' for api version '{ctx.api_version}'.")
        if target.tail:
            if method != "GET":
                raise HttpError(405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'.")
            ctx.authorize(f"{rtype.type_name}/read", target.resource_id)
            self.require_parent(ctx, target, target.resource_id, rtype.parent_is_resource)
            return paged(ctx, [rtype.view(ctx, item) for item in rtype.list(ctx, target)])
        handlers = {"GET": self._get, "PUT": self._put, "PATCH": self._patch, "DELETE": self._delete}
        if method not in handlers:
            raise HttpError(405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'.")
        return handlers[method](ctx, rtype, target)

    # --- existence checks ------------------------------------------------------------------------
    def require_parent(self, ctx: ArmContext, target: Target, parent_id: str, check_resource: bool = True) -> None:
        """404 when the resource group or the parent resource of a nested resource does not exist."""
        group = target.resource_group
        if group and self.state.resources.get(f"/subscriptions/{target.subscription_id}/resourceGroups/{group}") is None:
            raise HttpError(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
        parent = parse_target(parent_id)
        if check_resource and parent and parent.names and self.state.resources.get(parent_id) is None:
            raise HttpError(404, "ParentResourceNotFound",
                            f"Can not perform requested operation on nested resource. Parent resource "
                            f"'{'/'.join(parent.names)}' not found.")

    def existing(self, ctx: ArmContext, target: Target, rtype: Optional[ResourceType] = None) -> dict:
        self.require_parent(ctx, target, target.parent_id, rtype.parent_is_resource if rtype else True)
        resource = self.state.resources.get(target.path)
        if resource is None:
            raise not_found(target)
        return resource

    # --- verbs -----------------------------------------------------------------------------------
    def _get(self, ctx: ArmContext, rtype: ResourceType, target: Target) -> Response:
        ctx.authorize(f"{rtype.type_name}/read", target.path)
        return json_response(200, rtype.view(ctx, self.existing(ctx, target, rtype)))

    def _put(self, ctx: ArmContext, rtype: ResourceType, target: Target) -> Response:
        ctx.authorize(f"{rtype.type_name}/write", target.path)
        self.require_parent(ctx, target, target.parent_id, rtype.parent_is_resource)
        rtype.validate_name(ctx, target)
        existing = self.state.resources.get(target.path)
        self._refuse_while_busy(existing)
        resource = rtype.prepare(ctx, target, existing, ctx.body())
        self._stamp(ctx, target, rtype, resource, existing)
        created = existing is None
        status = rtype.created_status if created else rtype.updated_status
        return self._store_and_answer(ctx, rtype, target, resource, rtype.put_style, status,
                                      rtype.creating_state if created else rtype.updating_state)

    def _patch(self, ctx: ArmContext, rtype: ResourceType, target: Target) -> Response:
        ctx.authorize(f"{rtype.type_name}/write", target.path)
        existing = self.existing(ctx, target, rtype)
        self._refuse_while_busy(existing)
        resource = rtype.prepare_patch(ctx, target, existing, ctx.body())
        self._stamp(ctx, target, rtype, resource, existing)
        return self._store_and_answer(ctx, rtype, target, resource, rtype.patch_style, rtype.updated_status,
                                      rtype.updating_state)

    def _delete(self, ctx: ArmContext, rtype: ResourceType, target: Target) -> Response:
        ctx.authorize(f"{rtype.type_name}/delete", target.path)
        self.require_parent(ctx, target, target.parent_id, rtype.parent_is_resource)
        resource = self.state.resources.get(target.path)
        if resource is None:
            return empty_response(204)
        if rtype.delete_style is Lro.SYNC:
            rtype.remove(ctx, target, resource)
            return empty_response(rtype.deleted_status)
        ResourceType.properties(resource)["provisioningState"] = "Deleting"

        def finish() -> None:
            rtype.remove(ctx, target, resource)
        return self.start_operation(ctx, target, rtype.delete_style, finish, initial=None, status=202)

    def _action(self, ctx: ArmContext, target: Target) -> Response:
        rtype = registry.lookup(target.resource_type_name if target.types else target.type_name)
        if rtype is None:
            raise HttpError(400, "InvalidResourceType",
                            f"The resource type '{target.tail}' could not be found in the namespace '{target.namespace}' "
                            f"for api version '{ctx.api_version}'.")
        ctx.request.read_only = rtype.action_reads(target.tail)
        if not target.types:
            ctx.authorize(rtype.action_permission(""), target.scope or "/")
            return rtype.action(ctx, target, None, target.tail)
        ctx.authorize(rtype.action_permission(target.tail), target.resource_id)
        resource = None
        if rtype.action_requires_resource:
            resource = self.existing(ctx, parse_target(target.resource_id), rtype)
        return rtype.action(ctx, target, resource, target.tail)

    # --- storing and LROs --------------------------------------------------------------------------
    @staticmethod
    def _refuse_while_busy(existing: Optional[dict]) -> None:
        state = (existing or {}).get("properties", {}).get("provisioningState", "")
        if state in ("Deleting",):
            raise HttpError(409, "Conflict", "The resource is being deleted; retry when the operation completes.")

    def _stamp(self, ctx: ArmContext, target: Target, rtype: ResourceType, resource: dict, existing: Optional[dict]) -> None:
        resource["id"] = existing["id"] if existing else target.path
        resource["name"] = existing["name"] if existing else target.name
        resource["type"] = rtype.type_name
        now = utc_now_iso()
        created = (existing or {}).get("systemData", {})
        resource["systemData"] = {
            "createdBy": created.get("createdBy", ctx.principal), "createdByType": created.get("createdByType", "Application"),
            "createdAt": created.get("createdAt", now), "lastModifiedBy": ctx.principal,
            "lastModifiedByType": "Application", "lastModifiedAt": now,
        }

    def _store_and_answer(self, ctx: ArmContext, rtype: ResourceType, target: Target, resource: dict,
                          style: Lro, status: int, busy_state: str) -> Response:
        properties = ResourceType.properties(resource)
        if style is Lro.SYNC:
            properties["provisioningState"] = "Succeeded"
            self.state.resources.put(resource)
            rtype.on_finish(ctx, resource)
            return json_response(status, rtype.view(ctx, resource))
        properties["provisioningState"] = busy_state
        self.state.resources.put(resource)

        def finish() -> dict:
            current = self.state.resources.get(resource["id"])
            if current is None:
                return None
            ResourceType.properties(current)["provisioningState"] = "Succeeded"
            rtype.on_finish(ctx, current)
            return rtype.view(ctx, current)
        initial_status = 202 if style is Lro.LOCATION else status
        return self.start_operation(ctx, target, style, finish, initial=rtype.view(ctx, resource), status=initial_status)

    def retry_headers(self) -> dict[str, str]:
        retry_ms = self.state.settings.lro_retry_after_ms
        return {"retry-after-ms": str(retry_ms)} if retry_ms else {"Retry-After": "1"}

    def start_operation(self, ctx: ArmContext, target: Target, style: Lro, finish: Callable[[], Optional[dict]],
                        initial: Optional[dict], status: int) -> Response:
        op_id = str(uuid.uuid4())
        location = (self.state.resources.get(target.path) or {}).get("location", "global") or "global"
        kind = "operationStatuses" if style is Lro.ASYNC else "operationResults"
        subscription = f"/subscriptions/{target.subscription_id}" if target.subscription_id else ""
        monitor = normalise_path(f"{subscription}/providers/{target.namespace}/locations/{location}/{kind}/{op_id}")
        operation = Operation(op_id, monitor, style, ctx.request.method, target.path,
                              self.state.settings.lro_polls, finish)
        self.state.operations[monitor.lower()] = operation
        self.state.pending_operations[monitor.lower()] = operation
        header = "Azure-AsyncOperation" if style is Lro.ASYNC else "Location"
        headers = {header: ctx.url(monitor), **self.retry_headers()}
        if style is Lro.ASYNC and ctx.request.method == "DELETE":
            headers["Location"] = ctx.url(monitor.replace("operationStatuses", "operationResults"))
        return json_response(status, initial, headers) if initial is not None else empty_response(status, headers)

    def _monitor(self, ctx: ArmContext, operation: Operation) -> Response:
        if self.state.settings.lro_hold:
            pass  # held: in progress, and the poll does not count
        elif operation.polls_left > 0:
            operation.polls_left -= 1
        else:
            operation.complete()
        if operation.style is Lro.ASYNC:
            body = {"id": ctx.url(operation.monitor_path), "name": operation.op_id, "status": operation.status,
                    "startTime": datetime.fromtimestamp(operation.started, timezone.utc).isoformat()}
            headers = self.retry_headers() if operation.status == "InProgress" else {}
            return json_response(200, body, headers)
        if operation.status == "InProgress":
            return empty_response(202, {"Location": ctx.url(operation.monitor_path), **self.retry_headers()})
        if operation.result is None:
            return empty_response(204)
        return json_response(200, operation.result)

    def complete_stale_operations(self) -> None:
        """Operations started `lro_timeout` seconds ago complete even if nobody polls (not while held; None: never)."""
        settings = self.state.settings
        if settings.lro_hold or settings.lro_timeout is None:
            return
        deadline = time.time() - settings.lro_timeout
        pending = self.state.pending_operations
        for key, operation in list(pending.items()):
            if operation.status == "InProgress" and operation.started <= deadline:
                operation.complete()
            if operation.status != "InProgress":
                pending.pop(key, None)


# ---------------------------------------------------------------------------------------------- authentication
def _auth_error(code: str, message: str, detail: str) -> HttpError:
    challenge = (f'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", '
                 f'error_description="{detail}"')
    return HttpError(401, code, message, {"WWW-Authenticate": challenge})


def authenticate(ctx: ArmContext) -> None:
    """Sets ctx.principal from the bearer token or raises ARM's 401."""
    try:
        record = ctx.services.tokens.validate(ctx.request.header("authorization"))
    except TokenError as exc:
        if exc.kind == "missing":
            raise _auth_error("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                              "The authentication failed because of missing 'Authorization' header.") from None
        if exc.kind == "expired":
            now = datetime.now(timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
            raise _auth_error("ExpiredAuthenticationToken",
                              f"The access token expiry UTC time is earlier than current UTC time '{now}'.",
                              "The access token has expired.") from None
        raise _auth_error("InvalidAuthenticationToken", "The access token is invalid.",
                          "The access token is invalid.") from None
    audiences = {normalise_audience(audience) for audience in ctx.cloud.arm_audiences}
    if record.audience not in audiences:
        allowed = ",".join(f"'{a}','{a.rstrip('/')}'" for a in ctx.cloud.arm_audiences)
        raise _auth_error("InvalidAuthenticationTokenAudience",
                          f"The access token has been obtained for wrong audience or resource '{record.audience}'. "
                          f"It should exactly match with one of the allowed audiences {allowed}.",
                          "The access token has been obtained for wrong audience.")
    if ctx.state.principal(record.object_id) is None:
        raise _auth_error("InvalidAuthenticationToken", "The access token is invalid.",
                          "The principal of the access token no longer exists.")
    ctx.principal = record.object_id
    ctx.request.principal = record.object_id
