"""`python -m azemu`: writes ca.pem and emulator.json, serves, stops on SIGTERM, refuses non-loopback."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

EMULATOR_DIR = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(EMULATOR_DIR))
    return subprocess.Popen([sys.executable, "-m", "azemu", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_cli_start_info_and_sigterm(tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text("principals:\n  - object_id: 11111111-0000-4000-8000-000000000001\n    client_id: app1\n"
                    "    secrets: [s3cret]\n")
    process = _run("--state-dir", str(tmp_path / "state"), "--seed", str(seed))
    try:
        info_file = tmp_path / "state" / "emulator.json"
        deadline = time.monotonic() + 60  # generous: a loaded machine starts slowly
        while not info_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert info_file.exists(), process.stderr.read().decode() if process.poll() is not None else "timeout"
        info = json.loads(info_file.read_text())
        assert Path(info["ca_bundle"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        assert json.loads(opener.open(f"{info['admin_url']}/health").read()) == {"ok": True}
        principals = json.loads(opener.open(f"{info['admin_url']}/principals").read())
        assert "app1" in {p["client_id"] for p in principals}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_cli_refuses_non_loopback(tmp_path):
    process = _run("--state-dir", str(tmp_path), "--host", "0.0.0.0")
    assert process.wait(timeout=60) == 2
    assert b"loopback" in process.stderr.read()
