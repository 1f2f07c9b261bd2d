"""The listening side: an HTTP CONNECT proxy that terminates TLS itself and never forwards.

Plain-HTTP requests on the same port reach the admin API and the managed identity endpoint.
"""
from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Optional
from urllib.parse import unquote, urlsplit

from .http import Request, Response, json_response

if TYPE_CHECKING:
    from .emulator import Emulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "azemu"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and the client's
    # delayed ACK add ~40 ms to every response.
    disable_nagle_algorithm = True
    sys_version = ""
    server: "ProxyServer"
    tunnel_host: Optional[str] = None  # set inside a CONNECT tunnel

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - silence the default stderr log
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _request(self, host: str) -> Request:
        target = urlsplit(self.path)
        return Request(method=self.command, host=host, path=unquote(target.path or "/"), query=target.query,
                       headers={name.lower(): value for name, value in self.headers.items()}, body=self._read_body())

    def _send(self, response: Response) -> None:
        if response.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def _serve(self) -> None:
        emulator = self.server.emulator
        if self.tunnel_host:
            response = emulator.dispatch(self._request(self.tunnel_host))
        else:
            response = self._plain()
        self._send(response)

    def _plain(self) -> Response:
        if self.path.startswith(("http://", "https://")):
            target = urlsplit(self.path)
            if target.netloc != self.server.own_netloc:
                self._read_body()
                return json_response(403, {"error": {"code": "ForwardingRefused",
                                                     "message": "azemu is not a forwarding proxy: it never forwards."}})
            self.path = target.path + (f"?{target.query}" if target.query else "")
        return self.server.emulator.dispatch_plain(self._request(self.headers.get("Host", "127.0.0.1")))

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def do_CONNECT(self) -> None:  # noqa: N802 - http.server naming
        host, _colon, port = self.path.rpartition(":")
        refusal = self.server.emulator.refuse_connect(host, port)
        if refusal is not None:
            self._send(refusal)
            self.close_connection = True
            return
        self.send_response(200, "Connection Established")
        self.end_headers()
        self.wfile.flush()
        try:
            tls = self.server.tls_context.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True
            return
        self.server.track(tls)
        try:
            _TunnelHandler(tls, self.client_address, self.server, host.lower())
        except (ssl.SSLError, OSError):
            pass
        finally:
            self.server.untrack(tls)
        self.close_connection = True


class _TunnelHandler(_Handler):
    def __init__(self, sock, client_address, server, host: str):
        self.tunnel_host = host
        super().__init__(sock, client_address, server)

    def finish(self) -> None:
        try:
            super().finish()
        except (ssl.SSLError, OSError):
            pass


class ProxyServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: "Emulator", tls_context: ssl.SSLContext):
        self.emulator = emulator
        self.tls_context = tls_context
        self._open: set = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)
        self.own_netloc = "%s:%d" % self.server_address[:2]

    def process_request(self, request, client_address) -> None:
        self.track(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        self.untrack(request)
        super().shutdown_request(request)

    def track(self, sock) -> None:
        with self._open_lock:
            self._open.add(sock)

    def untrack(self, sock) -> None:
        with self._open_lock:
            self._open.discard(sock)

    def close_all(self) -> None:
        with self._open_lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def start_server(host: str, port: int, emulator: "Emulator",
                 tls_context: ssl.SSLContext) -> tuple[ProxyServer, threading.Thread]:
    server = ProxyServer((host, port), emulator, tls_context)
    thread = threading.Thread(target=server.serve_forever, name="azemu-proxy", daemon=True)
    thread.start()
    return server, thread
