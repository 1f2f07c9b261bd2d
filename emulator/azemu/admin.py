"""The admin API on plain HTTP: `/_emulator/...` (see docs/emulator.md)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .http import BadRequestBody, Request, Response, json_response
from .seed import add_principal

if TYPE_CHECKING:
    from .emulator import Emulator

Handler = Callable[["Emulator", Request], Response]
_ROUTES: dict[tuple[str, str], Handler] = {}


def _route(method: str, path: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        _ROUTES[(method, path)] = function
        return function
    return register


def handle(emulator: "Emulator", request: Request) -> Response:
    path = request.path.rstrip("/")
    function = _ROUTES.get((request.method, path))
    if function is None and path.startswith("/_emulator/faults/") and request.method == "DELETE":
        function = _delete_fault
    if function is None:
        return json_response(404, {"error": f"no admin endpoint {request.method} {path}"})
    try:
        return function(emulator, request)
    except (BadRequestBody, ValueError, KeyError, TypeError) as exc:
        return json_response(400, {"error": str(exc)})


def _body(request: Request) -> dict:
    body = request.json()
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


@_route("GET", "/_emulator/health")
def _health(emulator: "Emulator", request: Request) -> Response:
    return json_response(200, {"ok": True})


@_route("GET", "/_emulator/requests")
def _requests(emulator: "Emulator", request: Request) -> Response:
    params = request.params
    writes_only = params.get("writes_only", "") in ("1", "true", "yes")
    return json_response(200, emulator.services.log.entries(int(params.get("since") or 0), writes_only))


@_route("DELETE", "/_emulator/requests")
def _clear_requests(emulator: "Emulator", request: Request) -> Response:
    emulator.services.log.clear()
    return json_response(200, {"ok": True})


@_route("GET", "/_emulator/resources")
def _resources(emulator: "Emulator", request: Request) -> Response:
    with emulator.state.lock:
        return json_response(200, emulator.state.dump())


@_route("POST", "/_emulator/reset")
def _reset(emulator: "Emulator", request: Request) -> Response:
    emulator.reset()
    return json_response(200, {"ok": True})


@_route("POST", "/_emulator/seed")
def _seed(emulator: "Emulator", request: Request) -> Response:
    emulator.load_seed(_body(request))
    return json_response(200, {"ok": True})


@_route("GET", "/_emulator/faults")
def _faults(emulator: "Emulator", request: Request) -> Response:
    return json_response(200, emulator.services.faults.rules())


@_route("POST", "/_emulator/faults")
def _add_fault(emulator: "Emulator", request: Request) -> Response:
    return json_response(201, emulator.services.faults.add(_body(request)).to_dict())


@_route("DELETE", "/_emulator/faults")
def _clear_faults(emulator: "Emulator", request: Request) -> Response:
    seed = request.params.get("seed")
    emulator.services.faults.clear(int(seed) if seed else None)
    return json_response(200, {"ok": True})


def _delete_fault(emulator: "Emulator", request: Request) -> Response:
    removed = emulator.services.faults.remove(request.path.rstrip("/").rsplit("/", 1)[1])
    return json_response(200 if removed else 404, {"ok": removed})


@_route("GET", "/_emulator/principals")
def _principals(emulator: "Emulator", request: Request) -> Response:
    with emulator.state.lock:
        return json_response(200, [p.public_view() for p in emulator.state.principals.values()])


@_route("POST", "/_emulator/principals")
def _add_principal(emulator: "Emulator", request: Request) -> Response:
    with emulator.state.lock:
        return json_response(201, add_principal(emulator.services, _body(request)).public_view())


@_route("GET", "/_emulator/settings")
def _settings(emulator: "Emulator", request: Request) -> Response:
    return json_response(200, vars(emulator.state.settings))


@_route("POST", "/_emulator/settings")
def _update_settings(emulator: "Emulator", request: Request) -> Response:
    with emulator.state.lock:
        emulator.state.settings.update(_body(request))
    return json_response(200, vars(emulator.state.settings))


@_route("POST", "/_emulator/tokens/expire")
def _expire_tokens(emulator: "Emulator", request: Request) -> Response:
    emulator.services.tokens.expire_all()
    return json_response(200, {"ok": True})


@_route("GET", "/_emulator/effective-permissions")
def _effective_permissions(emulator: "Emulator", request: Request) -> Response:
    params = request.params
    lookup = emulator.services.registry.key_access
    with emulator.state.lock:
        result = lookup(emulator.services, params["principal"], params["key"])
    return json_response(200, result)
