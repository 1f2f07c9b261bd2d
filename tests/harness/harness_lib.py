"""Integration harness library: starts the Azure emulator and runs everything against it, never against Azure.

Guard: every subprocess gets an environment whose only route to Azure hosts is the emulator's
loopback proxy; the harness refuses to run when that cannot be guaranteed.
"""

import importlib.util
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import uuid
import urllib.request


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'emulator'))

# Make ansible_collections.sovereign.cmk importable from the source tree (same helper as the unit tests).
_spec = importlib.util.spec_from_file_location('_unit_conftest', os.path.join(ROOT, 'tests', 'unit', 'conftest.py'))
_unit_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_unit_conftest)
COLLECTIONS_PATH = os.path.join(ROOT, 'build', 'src')

# Variables that could route a client to real Azure or to other credentials: never inherited.
_STRIPPED_PREFIXES = ('AZURE_', 'ARM_', 'MSI_', 'IDENTITY_', 'ANSIBLE_AZURE_')
_STRIPPED = {'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy',
             'NO_PROXY', 'no_proxy', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'SSL_CERT_FILE'}


def _is_loopback_url(url):
    """True only for a URL whose host is a loopback address literal or ``localhost`` (``127.0.0.1.nip.example`` is not)."""
    host = urllib.parse.urlsplit(url or '').hostname or ''
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def prove_routing(emulator, env):
    """One request to an Azure host through the environment's proxy must reach this emulator (a nonce path that then
    shows in its request log), else the harness refuses to run."""
    nonce = 'azemu-guard-%s' % uuid.uuid4().hex
    handler = urllib.request.ProxyHandler({'https': env['HTTPS_PROXY']})
    context = ssl.create_default_context(cafile=env.get('REQUESTS_CA_BUNDLE') or env.get('SSL_CERT_FILE'))
    opener = urllib.request.build_opener(handler, urllib.request.HTTPSHandler(context=context))
    try:
        opener.open('https://management.azure.com/%s?api-version=2021-04-01' % nonce, timeout=30).close()
    except urllib.error.HTTPError:
        pass        # an ARM error answer is expected: what matters is who answered
    except (urllib.error.URLError, OSError) as exc:
        raise RuntimeError('refusing to run: management.azure.com is not reachable through the emulator (%s)' % exc)
    seen = [e for e in admin(emulator, 'GET', '/_emulator/requests') if nonce in (e.get('path') or '')]
    if not seen:
        raise RuntimeError('refusing to run: a request to management.azure.com did not reach the emulator')


def safe_environment(emu_env, base=None):
    """A subprocess environment that can only reach the emulator. Raises if that is not the case."""
    env = dict((k, v) for k, v in (base if base is not None else os.environ).items()
               if k not in _STRIPPED and not k.startswith(_STRIPPED_PREFIXES))
    env.update(emu_env)
    for name in ('HTTPS_PROXY', 'https_proxy'):
        if not _is_loopback_url(env.get(name)):
            raise RuntimeError('refusing to run: %s=%r is not the emulator on loopback' % (name, env.get(name)))
    if env.get('IDENTITY_ENDPOINT') and not _is_loopback_url(env['IDENTITY_ENDPOINT']):
        raise RuntimeError('refusing to run: IDENTITY_ENDPOINT is not on loopback')
    if not env.get('IDENTITY_ENDPOINT'):
        raise RuntimeError('refusing to run: IDENTITY_ENDPOINT must point at the emulator (else managed '
                           'identity would probe the instance metadata service)')
    env['NO_PROXY'] = env['no_proxy'] = ''
    return env


def admin(emulator, method, path, body=None):
    """Call the emulator's admin API (plain HTTP on loopback, no proxy)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(emulator.url.rstrip('/') + path, data=data, method=method,
                                 headers={'Content-Type': 'application/json'})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=30) as resp:
        text = resp.read().decode() or 'null'
    return json.loads(text)


# The recovery journal of every module run of the tests: a private directory, never the user's ~/.ansible.
JOURNAL_DIR = tempfile.mkdtemp(prefix='sovereign-cmk-journal-')


def ansible_env(emu_env):
    env = dict(emu_env)
    env.update({
        'SOVEREIGN_CMK_JOURNAL_DIR': JOURNAL_DIR,
        'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS_PATH,
        'ANSIBLE_ROLES_PATH': os.path.join(ROOT, 'tests', 'integration', 'targets'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
        'ANSIBLE_LOCALHOST_WARNING': '0',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': '0',
        'ANSIBLE_HOST_KEY_CHECKING': '0',
        'PATH': os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', ''),
    })
    return env


def run_playbook(emu_env, playbook, extra_vars=None, args=(), inventory='localhost,'):
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory, playbook]
    if extra_vars:
        cmd += ['-e', json.dumps(extra_vars)]
    cmd += list(args)
    return subprocess.run(cmd, env=ansible_env(emu_env), cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
