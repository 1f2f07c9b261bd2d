# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Pure helpers for Azure resource ids and Key Vault / Managed HSM URIs (no SDK imports).

Kept hand-written on purpose, and checked against the maintained libraries in the unit tests
(``tests/unit/plugins/module_utils/test_ids.py``):

- ``parse_resource_id``: ``azure.mgmt.core.tools.parse_resource_id`` returns a flat dict (``child_type_1``...) and
  accepts a malformed id without a word (it returns what it could match); the modules need a strict parse with a
  message saying what is wrong, before any request. ``is_valid_resource_id`` agrees with it on every id the tests try.
- ``parse_key_uri``: ``azure.keyvault.keys.KeyVaultKeyIdentifier`` splits the URI but does not tell a Key Vault from a
  Managed HSM nor validate the host against the cloud's DNS suffixes, and importing it pulls in the data-plane SDK for
  modules that never call it. Both agree on name, version and vault URL for every URI the tests try.
- These helpers are also used by the filter plugins and by the unit tests, which must not need the SDKs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported by the modules
    from urlparse import urlsplit  # type: ignore

KEY_VAULT = 'key_vault'
MANAGED_HSM = 'managed_hsm'

_VERSION_RE = re.compile(r'^[0-9a-fA-F]{32}$')
_KEY_NAME_RE = re.compile(r'^[0-9a-zA-Z-]{1,127}$')
_VAULT_NAME_RE = re.compile(r'^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$')
_GUID_RE = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')


class InvalidIdError(ValueError):
    """A resource id or URI that cannot be parsed. The message says what is wrong."""


def is_guid(value):
    return bool(value) and bool(_GUID_RE.match(value))


def parse_resource_id(resource_id):
    """Parse an Azure Resource Manager id.

    Returns a dict with ``subscription``, ``resource_group`` (or None), ``namespace`` (or None),
    ``types`` (list of type segments, e.g. ['vaults', 'keys']), ``names`` (matching names),
    ``type`` ('Microsoft.KeyVault/vaults/keys'), ``name`` (the last name) and ``id`` (normalised
    with single slashes and no trailing slash; case kept as given).
    """
    if not isinstance(resource_id, str) or not resource_id.strip():
        raise InvalidIdError('resource id must be a non-empty string')
    parts = resource_id.strip().strip('/').split('/')
    if '' in parts:
        raise InvalidIdError("resource id %r has an empty segment (//)" % resource_id)
    if len(parts) < 2 or parts[0].lower() != 'subscriptions':
        raise InvalidIdError("resource id %r must start with /subscriptions/<id>" % resource_id)
    result = {'subscription': parts[1], 'resource_group': None, 'namespace': None,
              'types': [], 'names': [], 'type': None, 'name': None,
              'id': '/' + '/'.join(parts)}
    rest = parts[2:]
    if rest and rest[0].lower() == 'resourcegroups':
        if len(rest) < 2:
            raise InvalidIdError("resource id %r has no resource group name" % resource_id)
        result['resource_group'] = rest[1]
        rest = rest[2:]
    if not rest:
        return result
    if rest[0].lower() != 'providers' or len(rest) < 2:
        raise InvalidIdError("resource id %r: expected /providers/<namespace> after the resource group" % resource_id)
    result['namespace'] = rest[1]
    pairs = rest[2:]
    if len(pairs) % 2:
        raise InvalidIdError("resource id %r: every resource type needs a name" % resource_id)
    result['types'] = pairs[0::2]
    result['names'] = pairs[1::2]
    if result['types']:
        result['type'] = '/'.join([result['namespace']] + result['types'])
        result['name'] = result['names'][-1]
    return result


def format_resource_id(subscription, resource_group=None, namespace=None, types=None, names=None):
    """Build an ARM id; ``types``/``names`` may be strings (one level) or lists (nested)."""
    if isinstance(types, str):
        types = [types]
    if isinstance(names, str):
        names = [names]
    types = list(types or [])
    names = list(names or [])
    if len(types) != len(names):
        raise InvalidIdError('every resource type needs a name')
    rid = '/subscriptions/%s' % subscription
    if resource_group:
        rid += '/resourceGroups/%s' % resource_group
    if namespace:
        rid += '/providers/%s' % namespace
        for rtype, name in zip(types, names):
            rid += '/%s/%s' % (rtype, name)
    return rid


def normalize_resource_id(resource_id):
    """Canonical form for comparison: lower case, single slashes, no trailing slash."""
    if not resource_id:
        return resource_id
    return '/' + '/'.join(p for p in resource_id.strip().lower().split('/') if p)


def same_resource_id(a, b):
    """Azure ids are case-insensitive: compare them so (None equals only None)."""
    if a is None or b is None:
        return a is None and b is None
    return normalize_resource_id(a) == normalize_resource_id(b)


def resource_type_of(resource_id):
    """'Microsoft.Compute/diskEncryptionSets' for a DES id, lower-cased; None when unparseable."""
    try:
        parsed = parse_resource_id(resource_id)
    except InvalidIdError:
        return None
    return parsed['type'].lower() if parsed['type'] else None


def _split_host(netloc):
    host = netloc.lower()
    if host.endswith(':443'):
        host = host[:-4]
    if ':' in host:
        raise InvalidIdError('only the default HTTPS port is allowed in a Key Vault or Managed HSM URI')
    return host


def classify_host(host, vault_suffixes=(), hsm_suffixes=()):
    """Return (kind, name, dns_suffix) for a Key Vault or Managed HSM host.

    Suffixes known for the cloud in use are tried first; otherwise the host is recognised by its
    second label (``<name>.vault.<...>`` or ``<name>.managedhsm.<...>``), which holds in every Azure
    cloud (public, China, US Government, Azure Stack Hub), so nothing is guessed from the public suffix.
    """
    host = host.lower().rstrip('.')
    for kind, suffixes in ((MANAGED_HSM, hsm_suffixes), (KEY_VAULT, vault_suffixes)):
        for suffix in suffixes:
            suffix = suffix.lower().strip('.')
            if suffix and host.endswith('.' + suffix):
                name = host[:-(len(suffix) + 1)]
                if name and '.' not in name:
                    return kind, name, suffix
    labels = host.split('.')
    if len(labels) >= 3:
        if labels[1] == 'managedhsm':
            return MANAGED_HSM, labels[0], '.'.join(labels[1:])
        if labels[1] == 'vault':
            return KEY_VAULT, labels[0], '.'.join(labels[1:])
    raise InvalidIdError("%r is not a Key Vault (<name>.vault.<suffix>) or Managed HSM (<name>.managedhsm.<suffix>) host" % host)


def parse_vault_uri(uri, vault_suffixes=(), hsm_suffixes=()):
    """Parse ``https://<name>.vault.azure.net[/]`` or ``https://<name>.managedhsm.azure.net[/]``."""
    if not isinstance(uri, str) or not uri:
        raise InvalidIdError('vault URI must be a non-empty string')
    parts = urlsplit(uri.strip())
    if parts.scheme.lower() != 'https' or not parts.netloc:
        raise InvalidIdError("%r is not an https:// vault or HSM URI" % uri)
    kind, name, suffix = classify_host(_split_host(parts.netloc), vault_suffixes, hsm_suffixes)
    if parts.path.strip('/'):
        raise InvalidIdError("%r: a vault URI has no path (did you pass a key URI?)" % uri)
    host = '%s.%s' % (name, suffix)
    return {'kind': kind, 'name': name, 'dns_suffix': suffix, 'host': host, 'vault_url': 'https://%s' % host}


def parse_key_uri(uri, vault_suffixes=(), hsm_suffixes=()):
    """Parse a key identifier.

    Accepts ``https://<vault>.vault.<suffix>/keys/<name>[/<version>]`` and the Managed HSM form, with or
    without the ``:443`` the services put in ``keyUri`` and with or without a trailing slash.
    Returns ``kind``, ``vault_name``, ``vault_url`` (no trailing slash), ``dns_suffix``, ``name``,
    ``version`` (None when versionless), ``versionless_id`` and ``id`` (canonical, versioned when a
    version is given).
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidIdError('key URI must be a non-empty string')
    parts = urlsplit(uri.strip())
    if parts.scheme.lower() != 'https' or not parts.netloc:
        raise InvalidIdError("%r is not an https:// key URI" % uri)
    if parts.query or parts.fragment:
        raise InvalidIdError("%r: a key URI has no query or fragment" % uri)
    kind, name, suffix = classify_host(_split_host(parts.netloc), vault_suffixes, hsm_suffixes)
    segments = [s for s in parts.path.split('/') if s]
    if len(segments) not in (2, 3) or segments[0].lower() != 'keys':
        raise InvalidIdError("%r: expected https://<host>/keys/<name>[/<version>]" % uri)
    key_name = segments[1]
    if not _KEY_NAME_RE.match(key_name):
        raise InvalidIdError("%r: key name %r must be 1-127 letters, digits or dashes" % (uri, key_name))
    version = segments[2] if len(segments) == 3 else None
    if version is not None and not _VERSION_RE.match(version):
        raise InvalidIdError("%r: key version %r must be 32 hexadecimal characters" % (uri, version))
    vault_url = 'https://%s.%s' % (name, suffix)
    versionless = '%s/keys/%s' % (vault_url, key_name)
    return {
        'kind': kind,
        'vault_name': name,
        'vault_url': vault_url,
        'dns_suffix': suffix,
        'name': key_name,
        'version': version,
        'versionless_id': versionless,
        'id': versionless + ('/' + version if version else ''),
    }


def same_key(a, b, ignore_version=False):
    """Compare two key URIs (case-insensitive host and name; version compared unless ignored)."""
    ka, kb = parse_key_uri(a), parse_key_uri(b)
    if ka['versionless_id'].lower() != kb['versionless_id'].lower():
        return False
    if ignore_version:
        return True
    return (ka['version'] or '').lower() == (kb['version'] or '').lower()


def valid_key_name(name):
    return bool(name) and bool(_KEY_NAME_RE.match(name))


def valid_vault_name(name):
    return bool(name) and bool(_VAULT_NAME_RE.match(name)) and '--' not in name


def valid_key_version(version):
    return bool(version) and bool(_VERSION_RE.match(version))
