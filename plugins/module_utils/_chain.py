# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Key chain verification shared by azure_des and azure_cmk_target, and small Azure helpers.

A resource encrypted with a customer-managed key works only while every link of the chain holds: the
key exists, is enabled, is inside its validity window, is RSA of a size the service accepts, allows
wrapKey and unwrapKey; the vault or HSM has soft delete and purge protection and is a store the service
supports; the resource's identity holds get, wrapKey and unwrapKey on the key. Each broken link is a
finding named by the link (``key_disabled``, ``identity_access``, ...) with the fix.

The first half is pure and unit-tested; the second half reads Azure through an ``AzureCMKModule``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
from ansible_collections.sovereign.cmk.plugins.module_utils._errors import CMKError
from ansible_collections.sovereign.cmk.plugins.module_utils import _vaults
from ansible_collections.sovereign.cmk.plugins.module_utils import _access, _keys, _report, _services
from ansible_collections.sovereign.cmk.plugins.module_utils._errors import is_forbidden, is_not_found
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import (
    InvalidIdError, MANAGED_HSM, parse_key_uri)

ERROR = _report.ERROR
DRIFT = _report.DRIFT
WARNING = _report.WARNING

EXPIRY_WARNING_DAYS = 30
REQUIRED_OPERATIONS = ('wrapKey', 'unwrapKey')
UTC = datetime.timezone.utc


finding = _report.finding
blocking = _report.blocking
summarize = _report.summarize


# -- pure checks ----------------------------------------------------------------------------------------
def key_from_arm(body):
    """Canonical key dict from a management-plane key or key version body (``vaults/keys``)."""
    if not body:
        return None
    props = body.get('properties') or {}
    attrs = props.get('attributes') or {}
    uri = props.get('keyUriWithVersion') or props.get('keyUri')
    parsed = parse_key_uri(uri) if uri else None
    return {
        'key_id': parsed['versionless_id'] if parsed else None,
        'versioned_key_id': parsed['id'] if parsed and parsed['version'] else None,
        'version': parsed['version'] if parsed else None,
        'name': parsed['name'] if parsed else body.get('name'),
        'key_type': props.get('kty'),
        'key_size': props.get('keySize'),
        'key_operations': list(props.get('keyOps') or []),
        'enabled': attrs.get('enabled', True) is not False,
        'not_before': _keys.format_datetime(attrs.get('nbf')),
        'expires': _keys.format_datetime(attrs.get('exp')),
    }


def check_store(rules, kind, key_uri):
    if kind in rules['key_sources']:
        return []
    return [finding('key_store_unsupported',
                    '%s does not support keys in a %s (%s); supported: %s.'
                    % (rules['title'], _services.label(kind), key_uri,
                       ', '.join(_services.label(k) for k in rules['key_sources'])),
                    'Use a key in a %s.' % ' or '.join(_services.label(k) for k in rules['key_sources']))]


def check_vault(rules, vault):
    """Soft delete and purge protection of the vault or HSM (``_vaults.vault_info``)."""
    findings = []
    what = 'Managed HSM' if vault['kind'] == MANAGED_HSM else 'Key Vault'
    required = rules['purge_protection'] == 'required'
    if not vault['soft_delete']:
        findings.append(finding('soft_delete', '%s %s has soft delete disabled.' % (what, vault['name']),
                                'Move the key to a vault with soft delete and purge protection.'))
    if not vault['purge_protection']:
        findings.append(finding(
            'purge_protection',
            '%s %s does not have purge protection, which %s %s for customer-managed keys.'
            % (what, vault['name'], rules['title'], 'requires' if required else 'recommends'),
            'Turn purge protection on (irreversible): sovereign.cmk.azure_cmk_key with enable_purge_protection=true, '
            'or az keyvault update --name %s --enable-purge-protection true.' % vault['name'],
            ERROR if required else WARNING))
    return findings


def check_network(rules, vault):
    """Can the service reach the vault or HSM (its data plane, where it unwraps the key)?

    Reachable: the public endpoint is open to every network; or the service is a trusted Microsoft service
    (``_services.trusted_service``) and the vault lets trusted services bypass its firewall. Otherwise the firewall
    decides: with no IP or virtual network rule (and private endpoints only) nothing of the service gets through -
    ``key_unreachable``, an error; with rules the service may match one, which cannot be verified from here - a warning.
    """
    network = (vault or {}).get('network') or {}
    if not network:
        return []
    public = (network.get('public_network_access') or 'Enabled').lower() == 'enabled'
    open_to_all = public and (network.get('default_action') or 'Allow').lower() == 'allow'
    bypass = (network.get('bypass') or '').lower() == 'azureservices'
    trusted = _services.trusted_service(rules)
    if open_to_all or (trusted and bypass):
        return []
    what = '%s %s' % ('Managed HSM' if vault.get('kind') == MANAGED_HSM else 'Key Vault', vault.get('name'))
    why = ('public network access is disabled' if not public else 'its firewall denies by default') + (
        ' and trusted Microsoft services may not bypass it' if trusted else
        ' and %s is not a trusted Microsoft service' % rules['title'])
    if trusted:
        fix = ('Allow trusted Microsoft services to bypass the firewall: az keyvault update --name %s --bypass '
               'AzureServices (Managed HSM: az keyvault update-hsm --bypass AzureServices).' % vault.get('name'))
    else:
        fix = ('Let the service reach the vault: an IP or virtual network rule for the service\'s network, or public '
               'access for Azure, or a key in a vault it can reach.')
    rules_count = (network.get('ip_rules') or 0) + (network.get('virtual_network_rules') or 0)
    if public and rules_count:
        return [finding('key_unreachable', '%s: %s; whether %s reaches it through one of its %d IP or virtual network '
                        'rules was not verified.' % (what, why, rules['title'], rules_count), fix, WARNING)]
    return [finding('key_unreachable', '%s: %s, so %s cannot reach the key (it cannot wrap or unwrap its data key).'
                    % (what, why, rules['title']), fix)]


def check_key(rules, key, now=None, warn_days=EXPIRY_WARNING_DAYS):
    """Findings for the key itself (``key_from_arm``): enabled, validity window, type, size, operations."""
    now = now or datetime.datetime.now(UTC)
    findings = []
    name = key.get('versioned_key_id') or key.get('key_id') or key.get('name')
    if not key.get('enabled', True):
        findings.append(finding('key_disabled', 'Key %s is disabled: the service cannot unwrap its data key.' % name,
                                'Enable the key (sovereign.cmk.azure_cmk_key with enabled=true).'))
    expires = _keys.parse_datetime(key.get('expires'))
    if expires is not None and expires <= now:
        findings.append(finding('key_expired', 'Key %s expired on %s.' % (name, _keys.format_datetime(expires)),
                                'Rotate the key or set a later expiry (sovereign.cmk.azure_cmk_key expires/rotate).'))
    elif expires is not None and expires <= now + datetime.timedelta(days=warn_days):
        findings.append(finding('key_expiring', 'Key %s expires on %s (within %d days).'
                                % (name, _keys.format_datetime(expires), warn_days),
                                'Rotate the key or extend its expiry before then.', WARNING))
    nbf = _keys.parse_datetime(key.get('not_before'))
    if nbf is not None and nbf > now:
        findings.append(finding('key_not_yet_valid', 'Key %s is not valid before %s.' % (name, _keys.format_datetime(nbf)),
                                'Wait until then, or set not_before in the past.'))
    key_type = (key.get('key_type') or '').upper()
    if key_type and key_type not in rules['key_types']:
        findings.append(finding('key_type', 'Key %s is %s; %s accepts only %s keys.'
                                % (name, key.get('key_type'), rules['title'], ' or '.join(rules['key_types'])),
                                'Use an RSA-HSM (or RSA) key.'))
    size = key.get('key_size')
    if size and key_type.startswith('RSA') and size not in rules['key_sizes']:
        findings.append(finding('key_size', 'Key %s is RSA %s; %s accepts RSA %s.'
                                % (name, size, rules['title'], '/'.join(str(s) for s in rules['key_sizes'])),
                                'Create a key (or a new version) with key_size %s.'
                                % ' or '.join(str(s) for s in rules['key_sizes'])))
    ops = set(key.get('key_operations') or [])
    missing = [op for op in REQUIRED_OPERATIONS if op not in ops]
    if key.get('key_operations') is not None and missing:
        findings.append(finding('key_operations', 'Key %s does not allow %s.' % (name, ' and '.join(missing)),
                                'Add wrapKey and unwrapKey to key_operations (sovereign.cmk.azure_cmk_key).'))
    return findings


def identity_finding(principal_id, what, effective, key_id):
    """``identity_access`` when the principal lacks get/wrapKey/unwrapKey on the key (else None)."""
    if effective.get('sufficient'):
        return None
    missing = [name for name, flag in (('get', 'get'), ('wrapKey', 'wrap_key'), ('unwrapKey', 'unwrap_key'))
               if not effective.get(flag)]
    return finding('identity_access', '%s (principal %s) lacks %s on key %s.'
                   % (what, principal_id, ', '.join(missing), key_id),
                   'Set grant_access=true, or run sovereign.cmk.azure_hsm_role with key=%s and principal=%s.'
                   % (key_id, principal_id))


def key_matches(configured, wanted, auto_rotation):
    """Does the configured key URL satisfy the wanted one? Under auto-rotation a newer version is not drift."""
    if not configured or not wanted:
        return configured == wanted
    try:
        a, b = parse_key_uri(configured), parse_key_uri(wanted)
    except InvalidIdError:
        return configured.rstrip('/').lower() == wanted.rstrip('/').lower()
    if a['versionless_id'].lower() != b['versionless_id'].lower():
        return False
    if auto_rotation or not b['version']:
        return True
    return (a['version'] or '').lower() == b['version'].lower()


# -- Azure helpers -------------------------------------------------------------------------------------
def unreadable_key_finding(key_id):
    """The finding for a same-tenant key the identity running the task may not read (403).

    Its enabled state, validity window, type, size and operations could not be checked, so the chain is not known to
    be sound: a ``drift`` finding (not compliant), not a mere warning. (A cross-tenant key is a warning instead:
    it cannot be read from this tenant at all.)
    """
    return finding('key_unverified', 'The identity running the task may not read key %s: whether it is enabled, '
                   'unexpired, of an accepted type and size, and allows wrapKey/unwrapKey was not verified.' % key_id,
                   'Grant the identity running the task read access to the key: Key Vault Reader (or Key Vault Crypto '
                   'Officer) on the vault or key, or the get key permission in the vault access policy.', DRIFT)


def read_key(azmod, info, parsed):
    """Read the key (the version in ``parsed`` or the current one) from Resource Manager.

    Returns (key dict or None, finding or None): a 403 gives the ``key_unverified`` drift finding.
    """
    path = '%s/keys/%s' % (info['id'], parsed['name'])
    if parsed['version']:
        path += '/versions/%s' % parsed['version']
    body, error = azmod.attempt('reading key %s' % parsed['id'], azmod.clients.arm_request, 'GET', path,
                                _vaults.KEYVAULT_API_VERSION)
    if error is not None:
        if is_not_found(error):
            return None, None
        if is_forbidden(error):
            return None, unreadable_key_finding(parsed['id'])
        raise error
    return key_from_arm(body), None


def resolve_chain_key(azmod, rules, key_uri, key_vault=None, federated=False, now=None):
    """Resolve and check the key half of the chain.

    Returns a dict: ``parsed`` (key URI parts), ``vault`` (vault_info or None), ``key`` (key dict or None),
    ``findings``. Under cross-tenant (``federated``) the key lives in another tenant: nothing is read and
    a warning says so.
    """
    cloud = azmod.cloud
    try:
        parsed = parse_key_uri(key_uri, [cloud['key_vault_suffix']] if cloud.get('key_vault_suffix') else [],
                               [cloud['managed_hsm_suffix']] if cloud.get('managed_hsm_suffix') else [])
    except InvalidIdError as exc:
        raise CMKError('Invalid key: %s' % exc)
    result = {'parsed': parsed, 'vault': None, 'key': None, 'findings': check_store(rules, parsed['kind'], key_uri)}
    if result['findings']:
        return result
    if federated and not key_vault:
        result['findings'].append(finding(
            'key_unverified', 'Cross-tenant key %s (federated client id): the key, its vault and the identity access '
            'are in another tenant and were not verified from this one.' % parsed['id'],
            'Verify the key from its own tenant.', WARNING))
        return result
    _parsed, info = _access.resolve_key(azmod, parsed['id'], key_vault)
    result['vault'] = info
    result['findings'].extend(check_vault(rules, info))
    result['findings'].extend(check_network(rules, info))
    key, warning = read_key(azmod, info, parsed)
    if warning:
        result['findings'].append(warning)
    elif key is None:
        result['findings'].append(finding('key_not_found', 'Key %s does not exist in %s.' % (parsed['id'], info['name']),
                                          'Create it with sovereign.cmk.azure_cmk_key, or fix the key URI.'))
    else:
        result['key'] = key
        result['findings'].extend(check_key(rules, key, now))
    return result


def identity_missing_finding(identity_id, what):
    """``identity_missing``: the identity a resource uses (or is to use) does not exist."""
    return finding('identity_missing', '%s does not exist: the resource cannot reach its key through it.'
                   % (what or identity_id),
                   'Create the user-assigned identity %s (or point the resource at an existing identity with the '
                   'identity option), then grant it access to the key (grant_access=true).' % identity_id)


def check_identities(azmod, chain, principals, grant_access=False):
    """The identity link for each ``principals`` entry ({'principal_id', 'what'}; ``missing`` names an identity that
    does not exist).

    The findings describe the chain **as it is now**: a principal lacking access is an ``identity_access`` finding
    in every case - severity ``error`` without ``grant_access`` (the task fails before any write), ``drift`` with it
    (the run grants it: the grant is listed in ``chain['grants']`` for ``apply_grants``, which removes the finding once
    the grant is made). ``chain['identities']`` keeps the access each principal has now.
    """
    chain.setdefault('identities', [])
    chain.setdefault('grants', [])
    chain.setdefault('to_create', [])
    for entry in principals:
        if entry.get('missing'):
            chain['findings'].append(identity_missing_finding(entry['missing'], entry.get('what')))
            continue
        if entry.get('create'):
            # create_identity: the real run creates it (then grants it access, before the key is set)
            problem = identity_missing_finding(entry['create'], entry.get('what'))
            problem.update(severity=DRIFT, fix=('Run the task without check mode: create_identity=true creates it and '
                                                'grant_access=true grants it access to the key.'))
            chain['to_create'].append(dict(entry, finding=problem))
            chain['findings'].append(problem)
            continue
        if chain['vault'] is None or not entry.get('principal_id'):
            continue
        key_id = chain['parsed']['versionless_id']
        effective = _access.effective_access(azmod, key_id, entry['principal_id'], info=chain['vault'])
        chain['identities'].append({'principal_id': entry['principal_id'], 'what': entry['what'],
                                    'sufficient': bool(effective.get('sufficient')), 'effective_access': effective})
        problem = identity_finding(entry['principal_id'], entry['what'], effective, key_id)
        if problem is None:
            continue
        if grant_access:
            problem['severity'] = DRIFT
            problem['fix'] = 'Run the task without check mode (grant_access=true grants it).'
            chain['grants'].append(dict(entry, finding=problem))
        chain['findings'].append(problem)
    return chain


def apply_grants(azmod, chain):
    """Grant the listed principals access through ``_access.ensure_key_access``.

    In check mode nothing is sent and the findings stay (the chain as it is now). After a real grant the
    ``identity_access`` finding of that principal is removed and its identity entry shows the access it now has.
    Returns (changed, list of grant results, list of change names ``access:<principal id>``).
    """
    changed = False
    results = []
    changes = []
    for entry in chain.get('grants') or []:
        did, _before, after, details = _access.ensure_key_access(
            azmod, chain['parsed']['versionless_id'], entry['principal_id'], state='present', info=chain['vault'])
        changed = changed or did
        if did:
            changes.append('access:%s' % entry['principal_id'])
        results.append({'principal_id': entry['principal_id'], 'what': entry['what'], 'changed': did,
                        'scope': details.get('scope'), 'role_name': details.get('role_name'), 'grant': after})
        if azmod.check_mode:
            continue
        chain['findings'] = [f for f in chain['findings'] if f is not entry.get('finding')]
        for identity in chain.get('identities') or []:
            if identity['principal_id'] == entry['principal_id']:
                identity['sufficient'] = bool(details['effective_access'].get('sufficient'))
                identity['effective_access'] = details['effective_access']
    return changed, results, changes


def key_version(key_url):
    """The version segment of a key URL (None when versionless or unparsable)."""
    try:
        return parse_key_uri(key_url)['version'] if key_url else None
    except InvalidIdError:
        return None


def exit_with_states(azmod, changed, before, after, **result):
    """Exit returning ``before``/``after`` (the encryption settings) and, in diff mode, the same as ``diff``."""
    azmod.exit(changed, before, after, return_states=True, **result)


def chain_result(chain):
    """The key chain details returned to the user."""
    if chain is None:
        return None
    vault = chain.get('vault') or {}
    return {
        'key': chain.get('key'),
        'key_uri': chain['parsed']['id'] if chain.get('parsed') else None,
        'key_store': chain['parsed']['kind'] if chain.get('parsed') else None,
        'vault_id': vault.get('id'),
        'purge_protection': vault.get('purge_protection'),
        'soft_delete': vault.get('soft_delete'),
        'access_model': vault.get('access_model'),
        'identities': [dict((k, v) for k, v in i.items() if k != 'effective_access') for i in chain.get('identities') or []],
        'healthy': _report.chain_healthy(chain.get('findings')),
    }
