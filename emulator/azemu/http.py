"""Request/response value objects shared by every part of the emulator."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import parse_qsl


@dataclass
class Request:
    method: str
    host: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    seq: int = 0
    principal: Optional[str] = None  # object id of the authenticated caller, set by the token check
    read_only: bool = False  # a POST that only reads (e.g. storage listKeys): not a write in the request log

    @property
    def params(self) -> dict[str, str]:
        """Query parameters with lower-cased names (ARM treats them case-insensitively)."""
        return {name.lower(): value for name, value in parse_qsl(self.query, keep_blank_values=True)}

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise BadRequestBody(str(exc)) from exc

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    @property
    def url(self) -> str:
        return f"https://{self.host}{self.path}" + (f"?{self.query}" if self.query else "")


class BadRequestBody(ValueError):
    pass


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering (fault injection)

    def header(self, name: str, value: str) -> "Response":
        self.headers[name] = value
        return self


def json_response(status: int, payload: Any, headers: Optional[dict[str, str]] = None) -> Response:
    body = b"" if payload is None else json.dumps(payload).encode()
    merged = {"Content-Type": "application/json; charset=utf-8"} if payload is not None else {}
    merged.update(headers or {})
    return Response(status, body, merged)


def empty_response(status: int, headers: Optional[dict[str, str]] = None) -> Response:
    return Response(status, b"", dict(headers or {}))


class HttpError(Exception):
    """Raised anywhere during request handling; converted to the service's error envelope."""

    def __init__(self, status: int, code: str, message: str, headers: Optional[dict[str, str]] = None,
                 inner: Optional[str] = None, target: Optional[str] = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.inner = inner
        self.target = target

    def payload(self) -> dict:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        if self.inner:
            error["innererror"] = {"code": self.inner}
        return {"error": error}

    def response(self) -> Response:
        return json_response(self.status, self.payload(), self.headers)
