"""The demo estate: load emulator/seeds/demo-estate.yml and demo-estate-stage2.yml into an in-process emulator.

`load(emu)` works on a running or stopped `azemu.Emulator` (after `reset()` call it again). The first file
is a plain seed; the second holds the steps that need values the emulator generates (principal ids of
identities, key versions), a key rotation, and one change the emulator's API refuses (an ACI container
group on a Managed HSM key), written into the state directly.
"""

import copy
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, 'emulator', 'seeds')
STATIC_SEED = os.path.join(SEEDS, 'demo-estate.yml')
STAGE2 = os.path.join(SEEDS, 'demo-estate-stage2.yml')
if os.path.join(ROOT, 'emulator') not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, 'emulator'))

_PLACEHOLDER = re.compile(r'\$\{(principal|version):([^}]+)\}')
_STORE_TYPES = {'vault': 'Microsoft.KeyVault/vaults', 'managedhsm': 'Microsoft.KeyVault/managedHSMs'}


def _store(emu, key_url):
    host = key_url.split('/')[2].lower()
    name, kind = host.split('.')[0], host.split('.')[1]
    for resource in emu.state.resources.of_type(_STORE_TYPES[kind]):
        if resource['name'].lower() == name:
            return resource
    raise ValueError('demo estate: no key store for %s' % key_url)


def key_version(emu, key_url):
    from azemu.providers import keystore
    key = keystore.key_ring(emu.state, _store(emu, key_url)).get(key_url.rstrip('/').split('/')[4])
    return key.latest.version


def principal_id(emu, resource_id):
    resource = emu.state.resources.get(resource_id)
    if resource is None:
        raise ValueError('demo estate: %s does not exist' % resource_id)
    return (resource.get('properties') or {}).get('principalId') or resource['identity']['principalId']


def _substitute(emu, value):
    if isinstance(value, dict):
        return dict((_substitute(emu, k), _substitute(emu, v)) for k, v in value.items())
    if isinstance(value, list):
        return [_substitute(emu, v) for v in value]
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: (principal_id if m.group(1) == 'principal' else key_version)(
            emu, m.group(2)), value)
    return value


def _merge(target, patch):
    for name, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(name), dict):
            _merge(target[name], value)
        else:
            target[name] = copy.deepcopy(value)


def _hsm_role(emu, entry):
    from azemu.providers.kvaccess import find_hsm_role, hsm_assignments
    from azemu.rbac import RoleAssignment
    hsm = emu.state.resources.get(entry['hsm'])
    role = find_hsm_role(entry['role'])
    store = hsm_assignments(emu.state, hsm)
    name = 'demo-%s-%s' % (entry['principal_id'][:8], role.guid[:8])
    store[name] = RoleAssignment(name=name, scope=entry.get('scope', '/'), role_guid=role.guid,
                                 principal_id=entry['principal_id'])


def _rotate(emu, key_url):
    from azemu.providers import keystore
    store = _store(emu, key_url)
    keystore.rotate(store, keystore.key_ring(emu.state, store).get(key_url.rstrip('/').split('/')[4]))


def load(emu):
    """Load the whole demo estate into `emu` (an azemu.Emulator)."""
    with open(STATIC_SEED, encoding='utf-8') as handle:
        emu.load_seed(yaml.safe_load(handle))
    with open(STAGE2, encoding='utf-8') as handle:
        steps = yaml.safe_load(handle)['steps']
    for step in steps:
        (kind, body), = step.items()
        if kind == 'hsm_role_assignments':
            for entry in body:
                _hsm_role(emu, _substitute(emu, entry))
        elif kind == 'seed':
            emu.load_seed(_substitute(emu, body))
        elif kind == 'rotate':
            for key_url in body:
                _rotate(emu, key_url)
        elif kind == 'patch_without_validation':
            for entry in body:
                entry = _substitute(emu, entry)
                resource = emu.state.resources.get(entry['id'])
                _merge(resource, dict((k, v) for k, v in entry.items() if k != 'id'))
                emu.state.resources.put(resource)
        else:
            raise ValueError('demo estate: unknown step %r' % kind)
    return emu
