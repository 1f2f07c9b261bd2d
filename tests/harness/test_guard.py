"""The harness guard: only a loopback proxy that really is the emulator is accepted."""

import pytest

from harness_lib import _is_loopback_url, prove_routing, safe_environment


@pytest.mark.parametrize('url, loopback', [
    ('http://127.0.0.1:8443', True),
    ('http://[::1]:8443', True),
    ('http://localhost:8443', True),
    ('http://127.0.0.1.nip.example:8443', False),
    ('http://127.example.com:8443', False),
    ('http://10.0.0.1:8443', False),
    ('', False),
])
def test_loopback_means_a_loopback_address(url, loopback):
    assert _is_loopback_url(url) is loopback


def test_a_lookalike_proxy_is_refused(emulator):
    env = dict(emulator.env(), HTTPS_PROXY='http://127.0.0.1.nip.example:3128', https_proxy='http://127.0.0.1.nip.example:3128')
    with pytest.raises(RuntimeError, match='not the emulator on loopback'):
        safe_environment(env, base={})


def test_routing_is_proved_with_one_request(emulator, emu_env):
    prove_routing(emulator, emu_env)
    # a loopback proxy that is not the emulator does not pass
    bogus = dict(emu_env, HTTPS_PROXY='http://127.0.0.1:9', https_proxy='http://127.0.0.1:9')
    with pytest.raises(RuntimeError, match='refusing to run'):
        prove_routing(emulator, bogus)
