"""Fault injection: rules matched by method/host/path regex, applied before normal handling."""
from __future__ import annotations

import random
import re
import threading
import uuid
from dataclasses import asdict, dataclass, field
from typing import Optional

from .http import Request, Response, json_response

KINDS = ("throttle", "error", "drop", "delay")


@dataclass
class FaultRule:
    kind: str
    match: dict = field(default_factory=dict)  # {"method", "host", "path_regex"}; absent = any
    status: Optional[int] = None
    retry_after: float = 1
    rate: float = 1.0  # probability that a matching request is faulted
    count: Optional[int] = None  # fault at most this many matching requests
    delay: float = 0.0  # seconds, for kind "delay"
    code: Optional[str] = None  # kind "error": the error code (default by status), e.g. AnotherOperationInProgress
    message: Optional[str] = None  # kind "error": the error message (default by code)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        unknown = set(self.match) - {"method", "host", "path_regex"}
        if unknown:
            raise ValueError(f"unknown match keys {sorted(unknown)}")
        re.compile(self.match.get("path_regex", ""))

    def matches(self, request: Request) -> bool:
        method = self.match.get("method")
        host = self.match.get("host")
        if method and method.upper() != request.method:
            return False
        if host and not re.fullmatch(host.replace(".", r"\.").replace("*", "[^.]+"), request.host, re.I):
            return False
        pattern = self.match.get("path_regex")
        return not pattern or re.search(pattern, request.path, re.I) is not None

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Fault:
    kind: str
    response: Optional[Response] = None  # None: go on and serve normally (after the delay)
    delay: float = 0.0


class FaultInjector:
    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._random = random.Random(seed)

    def add(self, spec: dict) -> FaultRule:
        rule = FaultRule(**{key: value for key, value in spec.items() if key not in ("id", "hits")})
        with self._lock:
            self._rules.append(rule)
        return rule

    def rules(self) -> list[dict]:
        with self._lock:
            return [rule.to_dict() for rule in self._rules]

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            kept = [rule for rule in self._rules if rule.id != rule_id]
            removed, self._rules = len(kept) != len(self._rules), kept
        return removed

    def clear(self, seed: Optional[int] = None) -> None:
        with self._lock:
            self._rules.clear()
            if seed is not None:
                self._random.seed(seed)

    def check(self, request: Request, service: str) -> Optional[Fault]:
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(request):
                    continue
                if rule.rate < 1.0 and self._random.random() >= rule.rate:
                    continue
                rule.hits += 1
                return _build(rule, service)
        return None


def _build(rule: FaultRule, service: str) -> Fault:
    if rule.kind == "drop":
        return Fault("drop", Response(0, drop=True))
    if rule.kind == "delay":
        return Fault("delay", None, rule.delay)
    if rule.kind == "throttle":
        return Fault("throttle", _throttle(rule, service))
    status = rule.status or 500
    headers = {"Retry-After": _seconds(rule.retry_after)} if status in (503, 409) else {}
    code, message = (("ServiceUnavailable", "The server is currently unable to handle the request due to a temporary "
                      "overloading or maintenance.") if status == 503 else
                     ("InternalServerError", "Encountered internal server error. Diagnostic information: azemu fault injection."))
    if rule.code:
        code, message = rule.code, rule.message or KNOWN_MESSAGES.get(rule.code, "azemu fault injection: %s" % rule.code)
    return Fault("error", json_response(status, {"error": {"code": code, "message": message}}, headers))


# Messages of the codes the reliability tests inject, as Azure words them.
KNOWN_MESSAGES = {
    "AnotherOperationInProgress": "Operation on the resource failed because another operation is in progress. "
                                  "Retry the request after the current operation completes.",
    "Conflict": "The request conflicts with the current state of the resource.",
    "ExpiredAuthenticationToken": "The access token expiry UTC time is earlier than current UTC time.",
}


def _throttle(rule: FaultRule, service: str) -> Response:
    seconds = _seconds(rule.retry_after)
    if service in ("kv", "mhsm"):
        error = {"code": "Throttled", "message": "Request was not processed because too many requests were received. "
                 "Reason: VaultRequestTypeLimitReached"}
    else:
        error = {"code": "SubscriptionRequestsThrottled",
                 "message": f"Number of requests for subscription exceeded. Please try again after '{seconds}' seconds."}
    return json_response(rule.status or 429, {"error": error}, {"Retry-After": seconds})


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
