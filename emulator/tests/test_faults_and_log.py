"""Fault injection (throttle, errors, drops, delays) survived by the SDK retry policy; the request log."""
from __future__ import annotations

import time

import pytest
import requests

from conftest import RG, admin, requests_log, vault_parameters


def _create(kv_mgmt, name: str = "kv1"):
    return kv_mgmt.vaults.begin_create_or_update(RG, name, vault_parameters()).result()


def test_throttle_429_is_retried(emu, kv_mgmt):
    _create(kv_mgmt)
    admin(emu, "POST", "/_emulator/faults", {"kind": "throttle", "count": 1, "retry_after": 0.1,
                                             "match": {"method": "GET", "host": "management.azure.com",
                                                       "path_regex": "/vaults/kv1$"}})
    assert kv_mgmt.vaults.get(RG, "kv1").name == "kv1"
    statuses = [e["status"] for e in requests_log(emu, method="GET") if e["path"].endswith("/vaults/kv1")]
    assert statuses == [429, 200]


def test_throttle_body_is_real(emu, credential):
    admin(emu, "POST", "/_emulator/faults", {"kind": "throttle", "count": 1, "match": {"host": "management.azure.com"}})
    response = requests.get("https://management.azure.com/subscriptions?api-version=2022-12-01")
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "SubscriptionRequestsThrottled"


def test_503_on_put_is_retried(emu, kv_mgmt):
    admin(emu, "POST", "/_emulator/faults", {"kind": "error", "status": 503, "count": 2, "retry_after": 0.1,
                                             "match": {"method": "PUT", "path_regex": "/vaults/"}})
    assert _create(kv_mgmt).name == "kv1"
    assert [e["status"] for e in requests_log(emu, method="PUT")] == [503, 503, 200]


def test_dropped_connection_is_retried_on_get(emu, kv_mgmt):
    _create(kv_mgmt)
    emu.services.faults.add({"kind": "drop", "count": 1, "match": {"method": "GET", "path_regex": "/vaults/kv1$"}})
    assert kv_mgmt.vaults.get(RG, "kv1").name == "kv1"
    gets = requests_log(emu, method="GET", host="management.azure.com")
    assert [e.get("fault") for e in gets] == ["drop", None]


def test_delay_and_rate(emu, kv_mgmt):
    _create(kv_mgmt)
    emu.services.faults.add({"kind": "delay", "delay": 0.3, "count": 1, "match": {"method": "GET"}})
    started = time.monotonic()
    kv_mgmt.vaults.get(RG, "kv1")
    assert time.monotonic() - started >= 0.3
    emu.services.faults.clear(seed=7)
    emu.services.faults.add({"kind": "error", "status": 500, "rate": 0.5, "match": {"path_regex": "^/never$"}})
    assert admin(emu, "GET", "/_emulator/faults")[0]["rate"] == 0.5
    admin(emu, "DELETE", "/_emulator/faults")
    assert admin(emu, "GET", "/_emulator/faults") == []


def test_request_log_write_flags(emu, kv_mgmt):
    _create(kv_mgmt)
    kv_mgmt.vaults.get(RG, "kv1")
    log = admin(emu, "GET", "/_emulator/requests")
    assert {(e["method"], e["write"]) for e in log} == {("GET", False), ("POST", False), ("PUT", True)}
    token_calls = [e for e in log if e["host"] == "login.microsoftonline.com"]
    assert token_calls and not any(e["write"] for e in token_calls)
    writes = admin(emu, "GET", "/_emulator/requests?writes_only=1")
    assert [e["method"] for e in writes] == ["PUT"]
    assert writes[0]["principal"] == "0a11ce00-0000-4000-8000-00000000b001"
    assert admin(emu, "GET", f"/_emulator/requests?since={log[-1]['seq']}") == []


def test_reset_restores_seed(emu, kv_mgmt):
    _create(kv_mgmt)
    assert any("/vaults/kv1" in key for key in admin(emu, "GET", "/_emulator/resources")["resources"])
    admin(emu, "POST", "/_emulator/reset")
    assert not any("/vaults/" in key for key in admin(emu, "GET", "/_emulator/resources")["resources"])


@pytest.mark.parametrize("host", ["example.com:443", "management.azure.com:80"])
def test_unknown_hosts_are_refused(emu, host):
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    connection.request("CONNECT", host)
    assert connection.getresponse().status == 502


def test_forward_proxy_requests_are_refused(emu):
    response = requests.get("http://example.com/", proxies={"http": emu.url})
    assert response.status_code == 403
