"""The request log: one entry per request the emulator answered (or dropped)."""
from __future__ import annotations

import re
import threading
import time
from typing import Optional

from .http import Request

# POST actions that only read, known by their path (a provider marks them read-only too, but a request answered by an
# injected fault never reaches its provider)
READ_ONLY_ACTIONS = re.compile(r"/providers/microsoft\.resourcegraph/resources$|/listkeys$|/checknameavailability$",
                               re.I)


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict] = []
        self._seq = 0

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def record(self, request: Request, status: int, service: str, fault: Optional[str] = None) -> None:
        entry = {
            "seq": request.seq, "time": time.time(), "method": request.method, "host": request.host,
            "path": request.path, "query": request.query, "status": status, "principal": request.principal,
            "service": service,
            "write": (service in ("arm", "kv", "mhsm") and request.method not in ("GET", "HEAD", "CONNECT")
                      and not request.read_only and not READ_ONLY_ACTIONS.search(request.path)),
        }
        if fault:
            entry["fault"] = fault
        with self._lock:
            self._entries.append(entry)

    def entries(self, since: int = 0, writes_only: bool = False) -> list[dict]:
        with self._lock:
            return [dict(e) for e in self._entries if e["seq"] > since and (e["write"] or not writes_only)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
