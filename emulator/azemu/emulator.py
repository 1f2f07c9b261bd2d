"""`Emulator`: wires the state, Entra ID, ARM, data planes, admin API and the proxy server together."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from . import admin, dataplane, providers
from .arm import ArmContext, ArmEngine, authenticate, registry
from .clouds import Endpoint, certificate_names, classify_host, cloud_by_name
from .faults import FaultInjector
from .http import HttpError, Request, Response, json_response
from .identity import EntraId, ManagedIdentityEndpoint, Tokens
from .rbac import Rbac
from .requestlog import RequestLog
from .seed import DEFAULT_SEED, OPERATOR_CLIENT_ID, OPERATOR_SECRET, SUBSCRIPTION_ID, TENANT_ID, apply_seed, read_seed_file
from .server import start_server
from .state import State
from .tls import CertificateAuthority

LOOPBACK = ("127.0.0.1", "::1", "localhost")
SeedArg = Union[None, str, Path, dict]


class Services:
    """Everything a request handler may need; one instance per emulator."""

    def __init__(self) -> None:
        providers.load_all()
        self.registry = registry
        self.state = State()
        self.tokens = Tokens()
        self.rbac = Rbac(self.state)
        self.entra = EntraId(self.state, self.tokens)
        self.identity_header = secrets.token_urlsafe(16)
        self.msi = ManagedIdentityEndpoint(self.state, self.tokens, self.identity_header)
        self.arm = ArmEngine(self)
        self.log = RequestLog()
        self.faults = FaultInjector()

    def arm_system_put(self, resource_id: str, body: dict, cloud_name: str = "AzureCloud",
                       validate: bool = True) -> dict:
        """Create a resource as the platform would (no caller, no authorization, LROs completed).

        `validate=False` stores a resource as it may exist in Azure although the service would refuse to
        create it now (the seed's `validate: false`): the CMK key checks (`cmk_common.check_key`) are skipped.
        """
        cloud = cloud_by_name(cloud_name)
        request = Request("PUT", cloud.management_host, resource_id, "api-version=azemu-seed",
                          {"content-type": "application/json"}, json.dumps(body).encode())
        ctx = ArmContext(request, Endpoint(cloud, "arm"), self, principal="azemu-seed", system=True,
                         validate=validate)
        response = self.arm.handle(ctx)
        if response.status >= 300:
            raise ValueError(f"seed resource {resource_id}: {response.status} {response.body.decode()}")
        pending = self.state.pending_operations  # every operation still in progress is in it
        for key, operation in list(pending.items()):
            operation.complete()
            pending.pop(key, None)
        return self.state.resources.get(resource_id)


class Emulator:
    """The Azure emulator. `with Emulator() as emu: os.environ.update(emu.env())`."""

    def __init__(self, seed: SeedArg = None, state_dir: Union[None, str, Path] = None, port: int = 0,
                 host: str = "127.0.0.1", extra_hosts: Iterable[str] = (), settings: Optional[dict] = None):
        if host not in LOOPBACK:
            raise ValueError(f"azemu binds to loopback only, not {host!r}")
        self.host = host
        self.port = port
        self.extra_hosts = [name.lower() for name in extra_hosts]
        self._own_state_dir = state_dir is None
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="azemu-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.services = Services()
        self._seeds = [DEFAULT_SEED] + ([self._as_seed(seed)] if seed is not None else [])
        self._settings = dict(settings or {})
        self.reset()
        self._server = None
        self._thread = None
        self.ca: Optional[CertificateAuthority] = None

    # --- lifecycle --------------------------------------------------------------------------------
    @staticmethod
    def _as_seed(seed: SeedArg) -> dict:
        return seed if isinstance(seed, dict) else read_seed_file(seed)

    def start(self) -> "Emulator":
        self.ca = CertificateAuthority(self.state_dir, certificate_names(self.extra_hosts))
        self._server, self._thread = start_server(self.host, self.port, self, self.ca.server_context())
        self.port = self._server.server_address[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_all()
            self._server.server_close()
            self._server = None
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to the seed(s) given at construction; the request log and fault rules are kept."""
        state = self.services.state
        with state.lock:
            state.clear()
            for seed in self._seeds:
                apply_seed(self.services, seed)
            state.settings.update(self._settings)

    def load_seed(self, seed: SeedArg) -> None:
        apply_seed(self.services, self._as_seed(seed))

    # --- client view --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"{self.url}/_emulator"

    @property
    def ca_bundle(self) -> str:
        return str(self.state_dir / "ca.pem")

    @property
    def state(self) -> State:
        return self.services.state

    def env(self) -> dict[str, str]:
        """Environment for a client process: proxy, CA bundle, managed identity endpoint, operator SP."""
        return {
            "HTTPS_PROXY": self.url, "https_proxy": self.url, "HTTP_PROXY": self.url, "http_proxy": self.url,
            "NO_PROXY": "", "no_proxy": "",
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
            "IDENTITY_ENDPOINT": f"{self.url}/msi/token", "IDENTITY_HEADER": self.services.identity_header,
            "AZURE_TENANT_ID": TENANT_ID, "AZURE_CLIENT_ID": OPERATOR_CLIENT_ID,
            "AZURE_CLIENT_SECRET": OPERATOR_SECRET, "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION_ID,
        }

    def write_info(self) -> Path:
        info = {"proxy_url": self.url, "admin_url": self.admin_url, "ca_bundle": self.ca_bundle,
                "pid": os.getpid(), "port": self.port, "env": self.env()}
        path = self.state_dir / "emulator.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(info, indent=2))
        temporary.replace(path)
        return path

    # --- request handling -----------------------------------------------------------------------------
    def accepts_host(self, host: str) -> bool:
        host = host.lower()
        if host in self.extra_hosts or classify_host(host) is not None:
            return True
        return any(name.startswith("*.") and host.partition(".")[2] == name[2:] for name in self.extra_hosts)

    def refuse_connect(self, host: str, port: str) -> Optional[Response]:
        """The proxy's answer to `CONNECT host:port` when it refuses the tunnel; None opens it.

        A host the emulator does not emulate, or a port other than 443: 502 `HostNotEmulated`. A Key Vault /
        Managed HSM host that names no vault or HSM (`dataplane.resolves`): 502, as an HTTP proxy answers for
        a name DNS cannot resolve, so the client sees a connection error, never an HTTP status from Azure
        (logged as a `CONNECT` entry, not a write).
        """
        if port != "443" or not self.accepts_host(host):
            message = f"azemu does not emulate {host}:{port} and never forwards."
            return json_response(502, {"error": {"code": "HostNotEmulated", "message": message}})
        endpoint = classify_host(host)
        if endpoint is None or endpoint.service not in ("kv", "mhsm"):
            return None
        with self.services.state.lock:
            if dataplane.resolves(self.services, endpoint, host):
                return None
        request = Request("CONNECT", host.lower(), "", "", {}, seq=self.services.log.next_seq())
        self.services.log.record(request, 502, endpoint.service)
        kind = "key vault" if endpoint.service == "kv" else "managed HSM"
        message = (f"azemu: {host} does not resolve: no {kind} named '{endpoint.name}' exists in {endpoint.cloud.name} "
                   "(an HTTP proxy refuses the tunnel to a name DNS cannot resolve).")
        return json_response(502, {"error": {"code": "NameNotResolved", "message": message}})

    def dispatch(self, request: Request) -> Response:
        """A request that arrived inside a CONNECT tunnel."""
        endpoint = classify_host(request.host)
        service = endpoint.service if endpoint else "other"
        request.seq = self.services.log.next_seq()
        record = self.services.tokens.peek(request.header("authorization"))
        request.principal = record.object_id if record else None
        fault = self.services.faults.check(request, service)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.response is not None:
            self.services.log.record(request, fault.response.status, service, fault.kind)
            return fault.response
        with self.services.state.lock:
            response = self._serve(request, endpoint)
        self._add_common_headers(request, service, response)
        self.services.log.record(request, response.status, service, fault.kind if fault else None)
        return response

    def _serve(self, request: Request, endpoint: Optional[Endpoint]) -> Response:
        if endpoint is None:
            return json_response(404, {"error": {"code": "NotFound", "message": f"azemu serves nothing on {request.host}"}})
        if endpoint.service == "login":
            return self.services.entra.handle(request, endpoint)
        if endpoint.service == "arm":
            return self._serve_arm(request, endpoint)
        return dataplane.serve(self.services, request, endpoint)

    def _serve_arm(self, request: Request, endpoint: Endpoint) -> Response:
        if request.path.rstrip("/").lower() == "/metadata/endpoints":
            return json_response(200, endpoint.cloud.metadata())
        ctx = ArmContext(request, endpoint, self.services)
        try:
            authenticate(ctx)
        except HttpError as exc:
            return exc.response()
        return self.services.arm.handle(ctx)

    @staticmethod
    def _add_common_headers(request: Request, service: str, response: Response) -> None:
        request_id = str(uuid.uuid4())
        headers = {"x-ms-request-id": request_id}
        if request.header("x-ms-client-request-id"):
            headers["x-ms-client-request-id"] = request.header("x-ms-client-request-id")
        if service == "arm":
            headers["x-ms-correlation-request-id"] = request.header("x-ms-correlation-request-id") or str(uuid.uuid4())
            headers["x-ms-routing-request-id"] = f"EASTUS:{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}:{request_id}"
            kind = "reads" if request.method in ("GET", "HEAD") else "writes"
            headers[f"x-ms-ratelimit-remaining-subscription-{kind}"] = "11999" if kind == "reads" else "1199"
        elif service in ("kv", "mhsm"):
            headers.update({"x-ms-keyvault-region": "eastus", "x-ms-keyvault-service-version": "1.9.2000.1"})
        elif service == "login" and request.header("client-request-id"):
            headers["client-request-id"] = request.header("client-request-id")
        for name, value in headers.items():
            response.headers.setdefault(name, value)

    def dispatch_plain(self, request: Request) -> Response:
        """Plain HTTP on the proxy port: admin API and the managed identity endpoint."""
        if request.path.startswith("/_emulator"):
            return admin.handle(self, request)
        if request.path.rstrip("/") == "/msi/token":
            request.seq = self.services.log.next_seq()
            fault = self.services.faults.check(request, "msi")
            if fault and fault.delay:
                time.sleep(fault.delay)
            if fault and fault.response is not None:
                response = fault.response
            else:
                with self.services.state.lock:
                    response = self.services.msi.handle(request)
            self.services.log.record(request, response.status, "msi", fault.kind if fault else None)
            return response
        return json_response(404, {"error": {"code": "NotFound", "message": "azemu: unknown plain-HTTP path"}})
