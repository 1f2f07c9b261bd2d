"""Azure Resource Graph: `POST /providers/Microsoft.ResourceGraph/resources` with a documented subset of KQL.

Tables `resources`, `authorizationresources`, `resourcecontainers`; scope by `subscriptions` or
`managementGroups` (the seed's `management_groups`, descendants included); rows the caller may read
(Azure RBAC `<type>/read`: decided once per subscription and type, per resource only below a subscription
the caller cannot read as a whole); paging with `$skipToken`; the per-user quota headers and 429; the lag
behind Resource Manager (`graph_lag`, `graph_frozen`). See docs/emulator.md, "Azure Resource Graph".
"""
from __future__ import annotations

import base64
import copy
import json
import math
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from ..arm import ArmContext, registry
from ..http import HttpError, Response, json_response
from ..rbac import scope_contains
from . import compute_vms

API_VERSIONS = ("2019-04-01", "2020-04-01-preview", "2021-03-01", "2021-06-01-preview", "2022-10-01",
                "2024-04-01")
UNLIMITED_REMAINING = 1000  # x-ms-user-quota-remaining when no quota is set
TABLES = ("resources", "authorizationresources", "resourcecontainers")
RG_TYPE = "microsoft.resources/resourcegroups"


# ---------------------------------------------------------------------------------------------- errors
def _support_message() -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (f"Please provide below info when asking for support: timestamp = {now}, "
            f"correlationId = {uuid.uuid4()}.")


class QueryError(Exception):
    """A query outside the supported subset: Resource Graph's 400 with a ParserFailure detail."""

    def __init__(self, position: int, token: str):
        super().__init__(token)
        self.position = position
        self.token = token

    def response(self) -> Response:
        return json_response(400, {"error": {
            "code": "BadRequest", "message": _support_message(),
            "details": [
                {"code": "InvalidQuery", "message": "Query is invalid. Please refer to the documentation for the Azure "
                                                    "Resource Graph service and fix the error before retrying."},
                {"code": "ParserFailure", "message": "ParserFailure", "line": 1,
                 "characterPositionInLine": self.position, "token": self.token},
            ]}})


class GraphError(HttpError):
    """Resource Graph's 400 envelope: `BadRequest` with the support line, the reason in `details`."""

    def __init__(self, code: str, message: str):
        super().__init__(400, "BadRequest", message)
        self.detail_code = code

    def payload(self) -> dict:
        return {"error": {"code": "BadRequest", "message": _support_message(),
                          "details": [{"code": self.detail_code, "message": self.message}]}}


def _bad_request(code: str, message: str) -> HttpError:
    return GraphError(code, message)


# ---------------------------------------------------------------------------------------------- tokens
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<op>!in~|!in\b|in~|=~|!~|==|!=|<=|>=|[|(),.=<>\[\]])
  | (?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<other>.)
""", re.X)


class Token:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind: str, text: str, pos: int):
        self.kind, self.text, self.pos = kind, text, pos

    @property
    def lower(self) -> str:
        return self.text.lower()


def tokenize(text: str) -> list[Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "ws":
            continue
        if kind == "other":
            raise QueryError(match.start(), match.group())
        tokens.append(Token(kind, match.group(), match.start()))
    tokens.append(Token("end", "<EOF>", len(text)))
    return tokens


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


# ---------------------------------------------------------------------------------------------- parser
Path = tuple  # ("properties", "principalId") or ("tags", "environment"); ints index lists
Predicate = Callable[[dict], bool]


def lookup(row: dict, path: Path) -> Any:
    value: Any = row
    for part in path:
        if isinstance(value, dict):
            value = value.get(part) if isinstance(part, str) else None  # names are case-sensitive, as in KQL
        elif isinstance(value, list) and isinstance(part, int):
            value = value[part] if -len(value) <= part < len(value) else None
        else:
            return None
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


class Parser:
    """`<table> (| where <expr> | project <cols> | order by <col> [asc|desc] | limit <n> | take <n>)*`."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    # -- helpers -----------------------------------------------------------------------------------
    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def fail(self, token: Optional[Token] = None) -> QueryError:
        token = token or self.token
        return QueryError(token.pos, token.text)

    def take(self) -> Token:
        token = self.token
        self.index += 1
        return token

    def expect(self, *texts: str) -> Token:
        if self.token.lower not in texts:
            raise self.fail()
        return self.take()

    def accept(self, *texts: str) -> Optional[Token]:
        if self.token.lower in texts and self.token.kind in ("op", "ident"):
            return self.take()
        return None

    # -- grammar -----------------------------------------------------------------------------------
    def parse(self) -> "Query":
        first = self.token
        if first.kind != "ident" or first.lower not in TABLES:
            raise self.fail()
        self.take()
        query = Query(first.lower)
        while self.accept("|"):
            operator = self.token
            if operator.kind != "ident":
                raise self.fail()
            name = self.take().lower
            if name == "where":
                query.steps.append(("where", self.expression()))
            elif name == "project":
                query.steps.append(("project", self.projection()))
            elif name in ("order", "sort"):
                self.expect("by")
                query.steps.append(("order", self.ordering()))
            elif name in ("limit", "take"):
                number = self.token
                if number.kind != "number" or "." in number.text:
                    raise self.fail()
                self.take()
                query.steps.append(("limit", int(number.text)))
            else:
                raise self.fail(operator)
        if self.token.kind != "end":
            raise self.fail()
        return query

    def path(self) -> Path:
        token = self.token
        if token.kind != "ident":
            raise self.fail()
        parts: list = [self.take().text]
        while True:
            if self.token.text == "." and self.tokens[self.index + 1].kind == "ident":
                self.take()
                parts.append(self.take().text)
            elif self.token.text == "[":
                self.take()
                key = self.take()
                if key.kind == "string":
                    parts.append(_unquote(key.text))
                elif key.kind == "number" and "." not in key.text:
                    parts.append(int(key.text))
                else:
                    raise self.fail(key)
                self.expect("]")
            else:
                return tuple(parts)

    def literal(self) -> Any:
        token = self.take()
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        if token.kind == "ident" and token.lower in ("true", "false"):
            return token.lower == "true"
        raise self.fail(token)

    def expression(self) -> Predicate:
        terms = [self.conjunction()]
        while self.accept("or"):
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else (lambda row: any(term(row) for term in terms))

    def conjunction(self) -> Predicate:
        terms = [self.atom()]
        while self.accept("and"):
            terms.append(self.atom())
        return terms[0] if len(terms) == 1 else (lambda row: all(term(row) for term in terms))

    def atom(self) -> Predicate:
        if self.accept("("):
            inner = self.expression()
            self.expect(")")
            return inner
        token = self.token
        if token.kind == "ident" and token.lower in ("isempty", "isnotempty", "isnull", "isnotnull") \
                and self.tokens[self.index + 1].text == "(":
            self.take()
            self.expect("(")
            path = self.path()
            self.expect(")")
            test = {"isempty": _empty, "isnotempty": lambda v: not _empty(v),
                    "isnull": lambda v: v is None, "isnotnull": lambda v: v is not None}[token.lower]
            return lambda row: test(lookup(row, path))
        path = self.path()
        operator = self.token
        if operator.lower in ("in", "in~", "!in", "!in~"):
            self.take()
            self.expect("(")
            values = [self.literal()]
            while self.accept(","):
                values.append(self.literal())
            self.expect(")")
            fold = operator.lower.endswith("~")
            wanted = {_text(v).lower() if fold else _text(v) for v in values}
            negate = operator.lower.startswith("!")

            def member(row: dict) -> bool:
                value = lookup(row, path)
                found = value is not None and ((_text(value).lower() if fold else _text(value)) in wanted)
                return found != negate
            return member
        comparisons = {
            "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
            "=~": lambda a, b: a.lower() == b.lower(), "!~": lambda a, b: a.lower() != b.lower(),
            "contains": lambda a, b: b.lower() in a.lower(), "!contains": lambda a, b: b.lower() not in a.lower(),
            "startswith": lambda a, b: a.lower().startswith(b.lower()),
            "endswith": lambda a, b: a.lower().endswith(b.lower()),
        }
        name = operator.lower
        if operator.text == "!" or name not in comparisons:
            raise self.fail(operator)
        self.take()
        expected = _text(self.literal())
        compare = comparisons[name]

        def compare_row(row: dict) -> bool:
            value = lookup(row, path)
            if value is None:
                return name in ("!=", "!~", "!contains")
            return compare(_text(value), expected)
        return compare_row

    def projection(self) -> list[tuple[str, Path]]:
        columns = []
        while True:
            token = self.token
            if token.kind == "ident" and self.tokens[self.index + 1].text == "=":
                name = self.take().text
                self.take()
                columns.append((name, self.path()))
            else:
                path = self.path()
                columns.append(("_".join(str(p) for p in path), path))
            if not self.accept(","):
                return columns

    def ordering(self) -> list[tuple[Path, bool]]:
        keys = []
        while True:
            path = self.path()
            descending = True  # KQL's default order is descending
            direction = self.accept("asc", "desc")
            if direction is not None:
                descending = direction.lower == "desc"
            keys.append((path, descending))
            if not self.accept(","):
                return keys


SOURCE = "azemu:source"  # a projected row's source row (never answered)


class Query:
    def __init__(self, table: str):
        self.table = table
        self.steps: list[tuple[str, Any]] = []

    def project(self, row: dict) -> dict:
        """`row` through every project step (no other step), without the source reference."""
        for kind, argument in self.steps:
            if kind == "project":
                row = {name: lookup(row, path) for name, path in argument}
        return row

    def run(self, rows: list[dict]) -> list[dict]:
        for kind, argument in self.steps:
            if kind == "where":
                rows = [row for row in rows if argument(row)]
            elif kind == "project":
                # each projected row keeps its source row, so that the answered page can be projected again from
                # the provider's view of that source (computed properties), as Resource Graph answers them
                rows = [dict({name: lookup(row, path) for name, path in argument}, **{SOURCE: row.get(SOURCE, row)})
                        for row in rows]
            elif kind == "order":
                for path, descending in reversed(argument):
                    rows = sorted(rows, key=lambda row, p=path: _sort_key(lookup(row, p)), reverse=descending)
            elif kind == "limit":
                rows = rows[:argument]
        return rows


def _sort_key(value: Any) -> tuple:
    if value is None:
        return (0, 0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, value, "")
    return (2, 0, _text(value))


def parse_query(text: str) -> Query:
    return Parser(text).parse()


# ---------------------------------------------------------------------------------------------- scope and access
def _descendant_groups(state, names: list[str]) -> set[str]:
    groups = state.management_groups
    selected: set[str] = set()
    for name in names:
        if name.lower() not in groups:
            raise _bad_request("ManagementGroupNotFound", f"The management group '{name}' could not be found.")
        selected.add(name.lower())
    changed = True
    while changed:
        changed = False
        for key, group in groups.items():
            if key not in selected and (group.get("parent") or "").lower() in selected:
                selected.add(key)
                changed = True
    return selected


def scope_subscriptions(state, body: dict) -> list[str]:
    """Lower-case subscription ids in scope (unknown ids are left out, as Resource Graph does)."""
    if body.get("managementGroups"):
        groups = _descendant_groups(state, [str(n) for n in body["managementGroups"]])
        wanted = {sub for key in groups for sub in state.management_groups[key]["subscriptions"]}
    elif body.get("subscriptions"):
        wanted = {str(s).lower() for s in body["subscriptions"]}
    else:
        wanted = set(state.subscriptions)
    return sorted(sub for sub in wanted if sub in state.subscriptions)


class Access:
    """Which rows the caller may read: `<type>/read` at the subscription (once per subscription and type), else per
    resource through the caller's assignments below the subscription (only those are looked at)."""

    def __init__(self, ctx: ArmContext):
        self.ctx = ctx
        principal = (ctx.principal or "").lower()
        self.assignments = [a for a in ctx.state.role_assignments.values() if a.principal_id.lower() == principal]
        self._subscription: dict[tuple[str, str], bool] = {}
        self._inner: dict[str, list] = {}

    def _allows(self, assignments, action: str) -> bool:
        return any(a.role is not None and a.role.allows(action, False) for a in assignments)

    def subscription_allows(self, subscription: str, action: str) -> bool:
        key = (subscription, action.lower())
        if key not in self._subscription:
            scope = f"/subscriptions/{subscription}"
            self._subscription[key] = self.ctx.system or self._allows(
                [a for a in self.assignments if scope_contains(a.scope, scope)], action)
        return self._subscription[key]

    def allows(self, subscription: str, action: str, resource_id: str) -> bool:
        if self.subscription_allows(subscription, action):
            return True
        if subscription not in self._inner:
            prefix = f"/subscriptions/{subscription}/"
            self._inner[subscription] = [a for a in self.assignments if a.scope.lower().startswith(prefix)]
        inner = self._inner[subscription]
        return bool(inner) and self._allows([a for a in inner if scope_contains(a.scope, resource_id)], action)


# ---------------------------------------------------------------------------------------------- tables
def _split_id(key: str) -> tuple[str, str]:
    """(subscription, resource group) of a lower-case id."""
    parts = key.split("/")
    subscription = parts[2] if len(parts) > 2 and parts[1] == "subscriptions" else ""
    group = parts[4] if len(parts) > 4 and parts[3] == "resourcegroups" else ""
    return subscription, group


def _top_level(key: str) -> bool:
    index = key.rfind("/providers/")
    return index >= 0 and key[index + len("/providers/"):].count("/") == 2


def resource_rows(ctx: ArmContext, subscriptions: list[str], access: Access) -> list[tuple[dict, dict]]:
    """(row, stored body) of every top-level resource in scope, as of the graph's horizon."""
    state = ctx.state
    wanted = set(subscriptions)
    items = state.resources.as_of(state.settings.graph_horizon())
    rows = []
    for key, body in items.items():
        subscription, group = _split_id(key)
        if subscription not in wanted or not _top_level(key):
            continue
        rtype = body.get("type", "")
        if rtype.lower() == RG_TYPE or not access.allows(subscription, f"{rtype}/read", key):
            continue
        rows.append(({
            "id": body["id"], "name": body.get("name", ""), "type": rtype.lower(),
            "tenantId": state.subscriptions[subscription]["tenantId"], "kind": body.get("kind", ""),
            "location": body.get("location", ""), "resourceGroup": group, "subscriptionId": subscription,
            "managedBy": body.get("managedBy", ""), "sku": body.get("sku"), "plan": body.get("plan"),
            "properties": body.get("properties", {}), "tags": body.get("tags") or {},
            "identity": body.get("identity"), "zones": body.get("zones"),
        }, body))
    return rows


def authorization_rows(ctx: ArmContext, subscriptions: list[str], access: Access) -> list[tuple[dict, dict]]:
    state = ctx.state
    wanted = set(subscriptions)
    rows = []
    for assignment in state.role_assignments.values():
        subscription, group = _split_id(assignment.scope.lower())
        if subscription not in wanted:
            continue
        arm_id = assignment.arm_id()
        if not access.allows(subscription, "Microsoft.Authorization/roleAssignments/read", arm_id.lower()):
            continue
        row = {
            "id": arm_id, "name": assignment.name, "type": "microsoft.authorization/roleassignments",
            "tenantId": state.subscriptions[subscription]["tenantId"], "kind": "", "location": "",
            "resourceGroup": group, "subscriptionId": subscription, "managedBy": "", "sku": None, "plan": None,
            "properties": {
                "scope": assignment.scope, "principalId": assignment.principal_id,
                "principalType": assignment.principal_type,
                "roleDefinitionId": f"/subscriptions/{subscription}/providers/Microsoft.Authorization/"
                                    f"roleDefinitions/{assignment.role_guid}",
                "createdOn": datetime.fromtimestamp(assignment.created_on, timezone.utc).isoformat(),
            },
            "tags": {}, "identity": None, "zones": None,
        }
        rows.append((row, None))
    return rows


def container_rows(ctx: ArmContext, subscriptions: list[str], access: Access) -> list[tuple[dict, dict]]:
    state = ctx.state
    rows = []
    for subscription in subscriptions:
        sub = state.subscriptions[subscription]
        if access.subscription_allows(subscription, "Microsoft.Resources/subscriptions/read"):
            rows.append(({"id": sub["id"], "name": sub["displayName"], "type": "microsoft.resources/subscriptions",
                          "tenantId": sub["tenantId"], "kind": "", "location": "", "resourceGroup": "",
                          "subscriptionId": subscription, "managedBy": "", "sku": None, "plan": None,
                          "properties": {"state": sub.get("state", "Enabled")}, "tags": {}, "identity": None,
                          "zones": None}, None))
    items = state.resources.as_of(state.settings.graph_horizon())
    wanted = set(subscriptions)
    for key, body in items.items():
        if body.get("type", "").lower() != RG_TYPE:
            continue
        subscription, group = _split_id(key)
        if subscription in wanted and access.allows(subscription, "Microsoft.Resources/subscriptions/resourceGroups/read", key):
            rows.append(({"id": body["id"], "name": body["name"], "type": "microsoft.resources/subscriptions/resourcegroups",
                          "tenantId": state.subscriptions[subscription]["tenantId"], "kind": "",
                          "location": body.get("location", ""), "resourceGroup": group, "subscriptionId": subscription,
                          "managedBy": body.get("managedBy", ""), "sku": None, "plan": None,
                          "properties": body.get("properties", {}), "tags": body.get("tags") or {},
                          "identity": None, "zones": None}, None))
    return rows


_TABLE_ROWS = {"resources": resource_rows, "authorizationresources": authorization_rows,
               "resourcecontainers": container_rows}


# ---------------------------------------------------------------------------------------------- quota
def _duration(seconds: float) -> str:
    """hh:mm:ss (fractional seconds kept for sub-second test windows: 00:00:00.250)."""
    seconds = max(seconds, 0.0)
    whole = int(seconds)
    text = "%02d:%02d:%02d" % (whole // 3600, whole % 3600 // 60, whole % 60)
    fraction = seconds - whole
    return text + (("%.3f" % fraction)[1:] if fraction >= 0.001 else "")


def _quota(ctx: ArmContext) -> tuple[bool, dict[str, str]]:
    """(allowed, quota headers) for this request of the caller."""
    settings = ctx.state.settings
    window = float(settings.graph_quota_window or 5.0)
    windows = ctx.state.namespace("resourcegraph").setdefault("quota", {})
    now = time.monotonic()
    started, used = windows.get(ctx.principal, (now, 0))
    if now - started >= window:
        started, used = now, 0
    resets = window - (now - started)
    if settings.graph_quota is None:
        windows[ctx.principal] = (started, used + 1)
        return True, {"x-ms-user-quota-remaining": str(UNLIMITED_REMAINING),
                      "x-ms-user-quota-resets-after": _duration(resets)}
    if used >= settings.graph_quota:
        windows[ctx.principal] = (started, used)
        return False, {"x-ms-user-quota-remaining": "0", "x-ms-user-quota-resets-after": _duration(resets),
                       "Retry-After": str(max(1, math.ceil(resets)))}
    used += 1
    windows[ctx.principal] = (started, used)
    return True, {"x-ms-user-quota-remaining": str(settings.graph_quota - used),
                  "x-ms-user-quota-resets-after": _duration(resets)}


def _throttled(headers: dict[str, str]) -> Response:
    return json_response(429, {"error": {
        "code": "RateLimiting",
        "message": "Client application has been throttled and should not attempt to repeat the request until an amount "
                   "of time has elapsed. Please see https://aka.ms/resourcegraph-throttling for help.",
        "details": [{"code": "RateLimiting", "message": _support_message()}]}}, headers)


# ---------------------------------------------------------------------------------------------- the endpoint
def _skip_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"$skip": offset}).encode()).decode()


def _offset(options: dict) -> int:
    token = options.get("$skipToken")
    if token:
        try:
            return int(json.loads(base64.b64decode(token))["$skip"])
        except (ValueError, KeyError, TypeError):
            raise _bad_request("InvalidSkipToken", "The $skipToken is invalid.") from None
    try:
        return max(int(options.get("$skip") or 0), 0)
    except (TypeError, ValueError):
        raise _bad_request("InvalidOptions", "$skip must be an integer.") from None


def _page_size(ctx: ArmContext, options: dict) -> int:
    size = max(int(ctx.state.settings.graph_page_size or 1000), 1)
    top = options.get("$top")
    if top is not None:
        try:
            top = int(top)
        except (TypeError, ValueError):
            raise _bad_request("InvalidOptions", "$top must be an integer.") from None
        if not 1 <= top <= 1000:
            raise _bad_request("InvalidOptions", "$top must be between 1 and 1000.")
        size = min(size, top)
    return min(size, 1000)


def _present(ctx: ArmContext, row: dict, body: Optional[dict]) -> dict:
    """A full row as the caller sees it: `properties` through the provider's view (computed fields)."""
    if body is None:
        return copy.deepcopy(row)
    row = dict(row)
    rtype = registry.lookup(body.get("type", ""))
    if rtype is not None:
        try:
            row["properties"] = rtype.view(ctx, body).get("properties", row["properties"])
        except Exception:  # noqa: BLE001 - a view that needs a live request falls back to the stored body
            pass
    if str(body.get("type", "")).lower() == "microsoft.compute/virtualmachines":
        # Resource Graph (not Resource Manager's GET) carries a VM's power state in properties.extended
        state = compute_vms.power_state(body)
        row["properties"] = dict(row.get("properties") or {}, extended={"instanceView": {"powerState": {
            "code": f"PowerState/{state}", "level": "Info",
            "displayStatus": compute_vms.POWER_DISPLAY.get(state, state)}}})
    return copy.deepcopy(row)


@registry.route("POST", "/providers/Microsoft.ResourceGraph/resources")
def query_resources(ctx: ArmContext) -> Response:
    ctx.request.read_only = True  # a query reads: not a write in the request log
    allowed, headers = _quota(ctx)
    if not allowed:
        return _throttled(headers)
    try:
        response = _answer(ctx)
    except QueryError as exc:
        response = exc.response()
    except HttpError as exc:
        response = exc.response()
    response.headers.update(headers)
    return response


def _answer(ctx: ArmContext) -> Response:
    if ctx.api_version not in API_VERSIONS:
        raise HttpError(400, "InvalidApiVersionParameter",
                        f"The api-version '{ctx.api_version}' is invalid. The supported versions are "
                        f"'{', '.join(API_VERSIONS)}'.")
    body = ctx.body()
    query_text = body.get("query")
    if not isinstance(query_text, str) or not query_text.strip():
        raise _bad_request("InvalidQuery", "The query is missing.")
    options = body.get("options") or {}
    if (options.get("resultFormat") or "objectArray").lower() != "objectarray":
        raise _bad_request("UnsupportedResultFormat",
                           "resultFormat 'table' is not supported by this emulator: use 'objectArray'.")
    query = parse_query(query_text)
    subscriptions = scope_subscriptions(ctx.state, body)
    access = Access(ctx)
    pairs = _TABLE_ROWS[query.table](ctx, subscriptions, access)
    projected = any(step[0] == "project" for step in query.steps)
    bodies = {id(row): stored for row, stored in pairs}
    rows = sorted((row for row, _stored in pairs), key=lambda row: row["id"].lower())
    rows = query.run(rows)
    offset, size = _offset(options), _page_size(ctx, options)
    page = rows[offset:offset + size]
    if not projected:
        page = [_present(ctx, row, bodies.get(id(row))) for row in page]
    else:
        page = [query.project(_present(ctx, row[SOURCE], bodies.get(id(row[SOURCE])))) for row in page]
    result: dict[str, Any] = {"totalRecords": len(rows), "count": len(page), "resultTruncated": "false",
                              "data": page, "facets": []}
    if offset + size < len(rows):
        result["$skipToken"] = _skip_token(offset + size)
    return json_response(200, result)
