"""Fixtures of the integration harness (the helpers live in harness_lib.py)."""

import os
import tempfile

import pytest

from harness_lib import _STRIPPED, _STRIPPED_PREFIXES, _is_loopback_url, admin, prove_routing, safe_environment

import azemu  # noqa: E402  (harness_lib puts emulator/ on the path)


@pytest.fixture(scope='session')
def emulator():
    state_dir = tempfile.mkdtemp(prefix='azemu-')
    emu = azemu.Emulator(state_dir=state_dir)
    emu.start()
    try:
        if not _is_loopback_url(emu.url):
            pytest.exit('refusing to run: the emulator is not on loopback', returncode=3)
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope='session')
def emu_env(emulator):
    env = safe_environment(emulator.env())
    try:
        prove_routing(emulator, env)
    except RuntimeError as exc:
        pytest.exit(str(exc), returncode=3)
    return env


@pytest.fixture()
def fresh_emulator(emulator):
    admin(emulator, 'POST', '/_emulator/reset')
    return emulator


@pytest.fixture()
def in_process_env(emu_env, monkeypatch):
    """Point this test process at the emulator (for client-layer tests that run in-process)."""
    for key in list(os.environ):
        if key in _STRIPPED or key.startswith(_STRIPPED_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    for key, value in emu_env.items():
        if key in _STRIPPED or key.startswith(_STRIPPED_PREFIXES):
            monkeypatch.setenv(key, value)
    return emu_env
