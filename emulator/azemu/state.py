"""The in-memory world: ARM resources, data-plane objects, directory, role assignments, settings.

One `State` instance is guarded by one re-entrant lock; request handlers hold it for the whole
request so providers never see a half-applied change.
"""
from __future__ import annotations

import copy
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Optional


@dataclass
class Settings:
    page_size: int = 50
    lro_polls: int = 1  # in-progress answers a status monitor gives before the terminal one
    lro_retry_after_ms: Optional[int] = None  # set: send `retry-after-ms` instead of `Retry-After: 1`
    lro_timeout: Optional[float] = 30.0  # operations nobody polls complete on their own after this many seconds (None: never)
    lro_hold: bool = False  # True: every operation stays in progress (monitors answer in progress) until set back
    token_lifetime: int = 3600
    # Azure Resource Graph (providers/resourcegraph.py)
    graph_page_size: int = 1000  # rows per page at most (a query's `$top` may ask for fewer)
    graph_quota: Optional[int] = None  # queries per principal per window (None: unlimited; headers still sent)
    graph_quota_window: float = 5.0  # seconds
    graph_lag: float = 0.0  # seconds before a Resource Manager change shows in Resource Graph
    graph_frozen: bool = False  # True: Resource Graph serves the estate as it was when frozen, until set back

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "graph_frozen":
            if value and not getattr(self, "graph_frozen", False):
                object.__setattr__(self, "graph_frozen_at", time.time())
            elif not value:
                object.__setattr__(self, "graph_frozen_at", None)
        object.__setattr__(self, name, value)

    def graph_horizon(self) -> Optional[float]:
        """Resource Graph shows Resource Manager as it was at this time (None: as it is now)."""
        if self.graph_frozen:
            return getattr(self, "graph_frozen_at", None) or time.time()
        if self.graph_lag:
            return time.time() - float(self.graph_lag)
        return None

    def update(self, values: dict) -> None:
        for name, value in values.items():
            if not hasattr(self, name):
                raise KeyError(f"unknown setting {name!r}")
            setattr(self, name, value)


@dataclass
class Principal:
    object_id: str
    type: str = "ServicePrincipal"  # ServicePrincipal | User | ManagedIdentity
    display_name: str = ""
    tenant_id: str = ""
    client_id: str = ""  # application (client) id; empty for users
    secrets: list[str] = field(default_factory=list)
    certificates: list[str] = field(default_factory=list)  # PEM, public part only
    federated_tokens: list[str] = field(default_factory=list)  # accepted workload-identity assertions
    username: str = ""
    password: str = ""
    resource_id: str = ""  # user-assigned managed identity: its ARM id

    def public_view(self) -> dict:
        view = asdict(self)
        view["secrets"] = ["***"] * len(self.secrets)
        view["password"] = "***" if self.password else ""
        return view


class ResourceStore:
    """ARM resources by case-insensitive id. Bodies keep the id casing of their creation.

    While `horizon()` (set by the state: Resource Graph's lag or freeze) returns a time, every write records the
    body it replaces in `journal` (time, id, previous body or None), so `as_of(t)` can rebuild the store as it
    was at `t`. Nothing is recorded otherwise: without lag or freeze a write costs nothing more.

    A second index by type (lower case) keeps `of_type` proportional to the resources of that type, not to the
    whole estate (seeding an estate of thousands of resources looks key stores and DES up per resource).
    """

    def __init__(self, horizon=None) -> None:
        self._items: dict[str, dict] = {}
        self.journal: deque = deque()
        self.horizon = horizon
        self._by_type: dict[str, dict[str, dict]] = {}
        self._type_of: dict[str, str] = {}
        self._by_name: dict[tuple[str, str], dict[str, dict]] = {}  # (type, name) lower -> id lower -> body
        self._name_of: dict[str, tuple[str, str]] = {}

    def _record(self, key: str) -> None:
        horizon = self.horizon() if self.horizon is not None else None
        if horizon is None:
            if self.journal:
                self.journal.clear()
            return
        while self.journal and self.journal[0][0] < horizon:
            self.journal.popleft()
        previous = self._items.get(key)
        self.journal.append((time.time(), key, copy.deepcopy(previous) if previous is not None else None))

    def as_of(self, when: Optional[float]) -> dict[str, dict]:
        """{lower id: body} as the store was at `when` (None: now). Bodies are shared, not copied."""
        items = dict(self._items)
        if when is None:
            return items
        undone: set[str] = set()
        for changed_at, key, previous in self.journal:
            if changed_at <= when or key in undone:
                continue
            undone.add(key)
            if previous is None:
                items.pop(key, None)
            else:
                items[key] = previous
        return items

    def get(self, resource_id: str) -> Optional[dict]:
        return self._items.get(resource_id.lower())

    def put(self, body: dict) -> dict:
        key = body["id"].lower()
        self._record(key)
        kind = str(body.get("type", "")).lower()
        previous = self._type_of.get(key)
        if previous is not None and previous != kind:
            self._by_type[previous].pop(key, None)
        named = (kind, str(body.get("name", "")).lower())
        if self._name_of.get(key, named) != named:
            self._by_name[self._name_of[key]].pop(key, None)
        self._items[key] = body
        self._type_of[key] = kind
        self._by_type.setdefault(kind, {})[key] = body
        self._name_of[key] = named
        self._by_name.setdefault(named, {})[key] = body
        return body

    def _unindex(self, key: str) -> None:
        kind = self._type_of.pop(key, None)
        if kind is not None:
            self._by_type.get(kind, {}).pop(key, None)
        named = self._name_of.pop(key, None)
        if named is not None:
            self._by_name.get(named, {}).pop(key, None)

    def delete(self, resource_id: str) -> Optional[dict]:
        key = resource_id.lower()
        if key in self._items:
            self._record(key)
        self._unindex(key)
        return self._items.pop(key, None)

    def delete_tree(self, resource_id: str) -> None:
        prefix = resource_id.lower() + "/"
        for key in [key for key in self._items if key == resource_id.lower() or key.startswith(prefix)]:
            self._record(key)
            self._unindex(key)
            del self._items[key]

    def under(self, scope: str) -> Iterator[dict]:
        prefix = scope.lower().rstrip("/") + "/"
        return (body for key, body in self._items.items() if key.startswith(prefix))

    def of_type(self, resource_type: str, scope: str = "") -> list[dict]:
        wanted = resource_type.lower()
        if scope:
            prefix = scope.lower().rstrip("/") + "/"
            candidates = self._by_type.get(wanted, {})
            return [body for key, body in candidates.items()
                    if key.startswith(prefix) and body.get("type", "").lower() == wanted]
        return [body for body in self._by_type.get(wanted, {}).values() if body.get("type", "").lower() == wanted]

    def named(self, resource_type: str, name: str) -> list[dict]:
        """The resources of a type with a name (case-insensitive), in any scope."""
        wanted = (resource_type.lower(), name.lower())
        return [body for body in self._by_name.get(wanted, {}).values()
                if body.get("type", "").lower() == wanted[0] and str(body.get("name", "")).lower() == wanted[1]]

    def all(self) -> dict[str, dict]:
        return {body["id"]: body for body in self._items.values()}


class State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.settings = Settings()
        self.clear()

    def clear(self) -> None:
        self.default_tenant = ""
        self.tenants: set[str] = set()
        self.subscriptions: dict[str, dict] = {}  # lower id -> {"subscriptionId","tenantId","displayName"}
        self.principals: dict[str, Principal] = {}  # object id -> principal
        self.default_managed_identity = ""
        self.resources = ResourceStore(self.settings.graph_horizon)
        self.management_groups: dict[str, dict] = {}  # lower name -> {"name","displayName","parent","subscriptions"}
        self.data: dict[str, dict[str, Any]] = {}  # data-plane namespaces owned by providers
        self.role_assignments: dict[str, Any] = {}  # name (lower) -> rbac.RoleAssignment
        self.operations: dict[str, Any] = {}  # monitor path (lower) -> arm.Operation
        self.pending_operations: dict[str, Any] = {}  # the operations that may still be in progress (a subset)

    def namespace(self, name: str) -> dict[str, Any]:
        """A provider's own data-plane dictionary (e.g. `keyvault.keys`), created on first use."""
        return self.data.setdefault(name, {})

    # directory -----------------------------------------------------------------------------------
    def add_principal(self, principal: Principal) -> Principal:
        principal.tenant_id = principal.tenant_id or self.default_tenant
        self.tenants.add(principal.tenant_id)
        self.principals[principal.object_id.lower()] = principal
        return principal

    def principal(self, object_id: str) -> Optional[Principal]:
        return self.principals.get((object_id or "").lower())

    def find_principal(self, **criteria: str) -> Optional[Principal]:
        """First principal whose attributes equal all criteria, case-insensitively."""
        for principal in self.principals.values():
            if all(str(getattr(principal, name)).lower() == str(value).lower() for name, value in criteria.items()):
                return principal
        return None

    def subscription(self, subscription_id: str) -> Optional[dict]:
        return self.subscriptions.get(subscription_id.lower())

    def dump(self) -> dict:
        return {
            "resources": copy.deepcopy(self.resources.all()),
            "data": _jsonable(self.data),
            "role_assignments": [assignment.to_dict() for assignment in self.role_assignments.values()],
            "subscriptions": list(self.subscriptions.values()),
            "tenants": sorted(self.tenants),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(item) for item in value]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)
