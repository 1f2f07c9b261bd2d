# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Key backend: customer-managed keys in Key Vault and Managed HSM.

The first half is pure (durations, expiry, rotation policy, desired-vs-current key attributes, vault
prerequisites) and unit-tested; the second half talks to Azure through an ``AzureCMKModule``:

* the vault or HSM resource (SKU, soft delete, purge protection, RBAC or access policies) is read from
  Resource Manager (``resolve_vault``); purge protection is turned on with a PATCH when asked;
* the key itself is managed on the data plane (azure-keyvault-keys): the management plane's
  ``vaults/keys`` PUT only creates a key that does not exist and cannot update attributes, rotate or set
  the rotation policy of an existing key.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import datetime
import re

from ansible_collections.sovereign.cmk.plugins.module_utils._errors import CMKError
from ansible_collections.sovereign.cmk.plugins.module_utils._diff import compare_tags
from ansible_collections.sovereign.cmk.plugins.module_utils._report import UNKNOWN
from ansible_collections.sovereign.cmk.plugins.module_utils._errors import is_forbidden, is_not_found
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import MANAGED_HSM, parse_key_uri, valid_key_name
from ansible_collections.sovereign.cmk.plugins.module_utils._vaults import check_vault_prerequisites, enable_purge_protection

CMK_KEY_TYPES = ('RSA-HSM', 'RSA')
CMK_KEY_SIZES = (2048, 3072, 4096)
DEFAULT_KEY_TYPE = 'RSA-HSM'
DEFAULT_KEY_SIZE = 3072
DEFAULT_KEY_OPERATIONS = ['wrapKey', 'unwrapKey']
KEY_OPERATIONS = ('encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import')
REQUIRED_KEY_OPERATIONS = ('wrapKey', 'unwrapKey')

# Rotation policy limits (Key Vault and Managed HSM): rotate at least 7 days after creation or 7 days
# before expiry, notify at least 7 days before expiry; new versions expire after 28 days or more.
MIN_ROTATION_DAYS = 7
MIN_EXPIRY_DAYS = 28
ROTATION_POLICY_FIELDS = ('rotate_after_create', 'rotate_before_expiry', 'notify_before_expiry', 'expiry_time')
# A relative expiry (e.g. P2Y) is met when the key's expiry is this close to "created + duration".
RELATIVE_EXPIRY_TOLERANCE = datetime.timedelta(hours=1)

_DURATION_RE = re.compile(
    r'^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?'
    r'(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$')
UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)


class KeySpecError(ValueError):
    """Invalid input for a key; the message says what to fix."""


# -- ISO 8601 durations ------------------------------------------------------------------------------
def parse_duration(text):
    """Parse an ISO 8601 duration (P2Y, P18M, P90D, P1W, PT12H, P1Y2M3DT4H) into its components.

    Returns a dict ``years, months, weeks, days, hours, minutes, seconds``; raises KeySpecError.
    """
    if not isinstance(text, str):
        raise KeySpecError('%r is not an ISO 8601 duration such as P90D, P18M, P2Y or PT12H' % (text,))
    match = _DURATION_RE.match(text.strip().upper())
    if not match:
        raise KeySpecError('%r is not an ISO 8601 duration such as P90D, P18M, P2Y or PT12H' % (text,))
    return dict((k, int(v or 0)) for k, v in match.groupdict().items())


def canonical_duration(text):
    """A comparable form: (months, days, seconds). P1Y == P12M, P2W == P14D, PT1H == PT60M."""
    parts = parse_duration(text)
    return (parts['years'] * 12 + parts['months'],
            parts['weeks'] * 7 + parts['days'],
            parts['hours'] * 3600 + parts['minutes'] * 60 + parts['seconds'])


def same_duration(a, b):
    """True when two durations (or None) are the same; an unparsable value is compared as text."""
    if a is None or b is None:
        return a is None and b is None
    try:
        return canonical_duration(a) == canonical_duration(b)
    except KeySpecError:
        return str(a).strip().upper() == str(b).strip().upper()


def duration_days(text):
    """Approximate length in days (a year is 365 days, a month 30), for minimum checks."""
    months, days, seconds = canonical_duration(text)
    return months * 30 + (months // 12) * 5 + days + seconds / 86400.0


def add_duration(moment, text):
    """``moment`` + an ISO 8601 duration, adding years and months on the calendar."""
    parts = parse_duration(text)
    months = moment.month - 1 + parts['years'] * 12 + parts['months']
    year = moment.year + months // 12
    month = months % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    result = moment.replace(year=year, month=month, day=day)
    return result + datetime.timedelta(weeks=parts['weeks'], days=parts['days'], hours=parts['hours'],
                                       minutes=parts['minutes'], seconds=parts['seconds'])


# -- date-times ----------------------------------------------------------------------------------------
def parse_datetime(value):
    """An aware UTC datetime from an ISO 8601 date-time or date (``2027-01-31``, ``...T12:00:00Z``),
    a datetime, or a unix timestamp."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = datetime.datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(('Z', 'z')):
            text = text[:-1] + '+00:00'
        try:
            if len(text) == 10:
                moment = datetime.datetime.combine(datetime.date.fromisoformat(text), datetime.time())
            else:
                moment = datetime.datetime.fromisoformat(text.replace(' ', 'T', 1))
        except ValueError:
            raise KeySpecError('%r is not an ISO 8601 date-time such as 2027-01-31T00:00:00Z' % value)
    else:
        raise KeySpecError('%r is not a date-time' % (value,))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def format_datetime(moment):
    """ISO 8601 UTC with a Z, seconds precision; None stays None."""
    if moment is None:
        return None
    return parse_datetime(moment).strftime('%Y-%m-%dT%H:%M:%SZ')


def parse_expiry(value):
    """``expires`` as ('absolute', datetime) or ('relative', 'P2Y'); None -> None."""
    if value is None:
        return None
    text = str(value).strip()
    if text.upper().startswith('P'):
        parse_duration(text)
        return ('relative', text.upper())
    return ('absolute', parse_datetime(text))


def resolve_expiry(expiry, created):
    """The absolute expiry a key version should have: relative durations count from ``created``."""
    if expiry is None:
        return None
    kind, value = expiry
    if kind == 'absolute':
        return value
    return add_duration(parse_datetime(created), value)


def expiry_satisfied(expiry, current_expires, created):
    """True when the key's expiry already matches the requested one (relative: within a tolerance)."""
    if expiry is None:
        return True
    if current_expires is None:
        return False
    current = parse_datetime(current_expires)
    wanted = resolve_expiry(expiry, created)
    if expiry[0] == 'absolute':
        return current == wanted
    return abs(current - wanted) <= RELATIVE_EXPIRY_TOLERANCE


# -- rotation policy ---------------------------------------------------------------------------------
def normalize_rotation_policy(policy):
    """Canonical dict of a rotation policy from the service (SDK object or wire dict) or user options.

    Keys: ``rotate_after_create``, ``rotate_before_expiry``, ``notify_before_expiry``, ``expiry_time``
    (ISO 8601 durations, upper case, or None). None stays None.
    """
    if policy is None:
        return None
    result = dict((k, None) for k in ROTATION_POLICY_FIELDS)
    if isinstance(policy, dict) and any(k in policy for k in ROTATION_POLICY_FIELDS):
        for k in ROTATION_POLICY_FIELDS:
            if policy.get(k) is not None:
                result[k] = str(policy[k]).strip().upper()
        return result
    expires = _get(policy, 'expires_in')
    if expires is None:
        expires = _get(_get(policy, 'attributes') or {}, 'expiryTime', 'expiry_time')
    result['expiry_time'] = str(expires).upper() if expires else None
    actions = _get(policy, 'lifetime_actions', 'lifetimeActions') or []
    for action in actions:
        kind = _get(action, 'action')
        if not isinstance(kind, str):
            kind = _get(kind, 'type')
        trigger = _get(action, 'trigger')
        after = _get(action, 'time_after_create') or _get(trigger or {}, 'timeAfterCreate', 'time_after_create')
        before = _get(action, 'time_before_expiry') or _get(trigger or {}, 'timeBeforeExpiry', 'time_before_expiry')
        kind = str(getattr(kind, 'value', kind) or '').lower()
        if kind == 'rotate':
            if after:
                result['rotate_after_create'] = str(after).upper()
            elif before:
                result['rotate_before_expiry'] = str(before).upper()
        elif kind == 'notify' and before:
            result['notify_before_expiry'] = str(before).upper()
    return result


def _get(obj, *names):
    for name in names:
        if isinstance(obj, dict):
            if obj.get(name) is not None:
                return obj[name]
        elif getattr(obj, name, None) is not None:
            return getattr(obj, name)
    return None


def merge_rotation_policy(current, desired):
    """The policy after applying ``desired`` (None fields: leave alone) over ``current``.

    A key has one rotate trigger: setting ``rotate_after_create`` drops ``rotate_before_expiry`` and
    the other way round.
    """
    result = dict((k, None) for k in ROTATION_POLICY_FIELDS)
    result.update(current or {})
    desired = desired or {}
    if desired.get('rotate_after_create'):
        result['rotate_before_expiry'] = None
    if desired.get('rotate_before_expiry'):
        result['rotate_after_create'] = None
    for k in ROTATION_POLICY_FIELDS:
        if desired.get(k) is not None:
            result[k] = str(desired[k]).strip().upper()
    return result


def rotation_policy_differs(current, desired):
    """True when ``desired`` (partial) is not what ``current`` already has."""
    if not desired or not any(desired.get(k) for k in ROTATION_POLICY_FIELDS):
        return False
    merged = merge_rotation_policy(current, desired)
    current = current or {}
    return any(not same_duration(current.get(k), merged.get(k)) for k in ROTATION_POLICY_FIELDS)


def validate_rotation_policy(policy, kind, partial=False):
    """Errors (list of strings) of a complete (merged) rotation policy for a vault kind.

    With ``partial``, ``policy`` holds only the requested fields over a policy that cannot be read yet (a deleted
    key): the checks that depend on fields it does not set (a trigger before expiry needs an expiry_time) are skipped.
    """
    errors = []
    if not policy:
        return errors
    for field in ROTATION_POLICY_FIELDS:
        if policy.get(field) is not None:
            try:
                parse_duration(policy[field])
            except KeySpecError as exc:
                errors.append('rotation_policy.%s: %s' % (field, exc))
    if errors:
        return errors
    if policy.get('rotate_after_create') and policy.get('rotate_before_expiry'):
        errors.append('rotation_policy: set either rotate_after_create or rotate_before_expiry, not both '
                      '(a key has one rotation trigger)')
    for field in ('rotate_after_create', 'rotate_before_expiry', 'notify_before_expiry'):
        if policy.get(field) and duration_days(policy[field]) < MIN_ROTATION_DAYS:
            errors.append('rotation_policy.%s is %s: the minimum is P%dD' % (field, policy[field], MIN_ROTATION_DAYS))
    expiry = policy.get('expiry_time')
    for field in ('rotate_before_expiry', 'notify_before_expiry'):
        if policy.get(field) and not expiry and not partial:
            errors.append('rotation_policy.%s needs rotation_policy.expiry_time (new versions must expire for a '
                          'trigger before expiry to fire)' % field)
    if expiry:
        if duration_days(expiry) < MIN_EXPIRY_DAYS:
            errors.append('rotation_policy.expiry_time is %s: %s requires at least P%dD'
                          % (expiry, 'Managed HSM' if kind == MANAGED_HSM else 'Key Vault', MIN_EXPIRY_DAYS))
        for field in ('rotate_after_create', 'rotate_before_expiry', 'notify_before_expiry'):
            if policy.get(field) and duration_days(policy[field]) >= duration_days(expiry):
                errors.append('rotation_policy.%s (%s) must be shorter than rotation_policy.expiry_time (%s)'
                              % (field, policy[field], expiry))
    return errors


def rotation_policy_actions(policy):
    """The service's ``lifetimeActions`` for a canonical policy: [(action, trigger_field, duration)]."""
    actions = []
    if policy.get('rotate_after_create'):
        actions.append(('Rotate', 'time_after_create', policy['rotate_after_create']))
    elif policy.get('rotate_before_expiry'):
        actions.append(('Rotate', 'time_before_expiry', policy['rotate_before_expiry']))
    if policy.get('notify_before_expiry'):
        actions.append(('Notify', 'time_before_expiry', policy['notify_before_expiry']))
    return actions


# -- key attributes ---------------------------------------------------------------------------------
def normalize_key_type(key_type, kind):
    """Validate a requested key type for a CMK; returns the canonical spelling."""
    if key_type is None:
        return None
    canon = dict((t.lower(), t) for t in CMK_KEY_TYPES + ('EC', 'EC-HSM', 'oct', 'oct-HSM'))
    value = canon.get(str(key_type).strip().lower())
    if value is None or value not in CMK_KEY_TYPES:
        raise KeySpecError('key_type %s is not supported for customer-managed keys: Azure services (Storage, Disk '
                           'Encryption Sets, AKS, SQL) accept only RSA keys. Use RSA-HSM (default) or RSA.' % key_type)
    if kind == MANAGED_HSM and value == 'RSA':
        raise KeySpecError('key_type RSA (software-protected) is not available in a Managed HSM: every Managed HSM '
                           'key is HSM-protected. Use key_type RSA-HSM (the default).')
    return value


def validate_key_options(params, kind):
    """Check the key options that do not need Azure; returns a list of error messages."""
    errors = []
    if not valid_key_name(params.get('name')):
        errors.append('name %r is not a valid key name: 1-127 letters, digits and dashes' % (params.get('name'),))
    try:
        normalize_key_type(params.get('key_type'), kind)
    except KeySpecError as exc:
        errors.append(str(exc))
    size = params.get('key_size')
    if size is not None and size not in CMK_KEY_SIZES:
        errors.append('key_size %s is not supported for customer-managed keys: use 2048, 3072 (default) or 4096' % size)
    ops = params.get('key_operations')
    if ops is not None:
        unknown = [op for op in ops if op not in KEY_OPERATIONS]
        if unknown:
            errors.append('key_operations: unknown operation(s) %s; valid: %s' % (', '.join(unknown), ', '.join(KEY_OPERATIONS)))
        missing = [op for op in REQUIRED_KEY_OPERATIONS if op not in ops]
        if missing:
            errors.append('key_operations must include wrapKey and unwrapKey: services wrap their data encryption '
                          'key with a customer-managed key (missing: %s)' % ', '.join(missing))
    for field in ('not_before', 'expires'):
        try:
            if field == 'expires':
                parse_expiry(params.get(field))
            else:
                parse_datetime(params.get(field))
        except KeySpecError as exc:
            errors.append('%s: %s' % (field, exc))
    return errors


def key_size_from_modulus(n):
    """RSA key size in bits from the modulus bytes (None when unknown)."""
    if not n:
        return None
    if isinstance(n, str):
        return None
    data = bytes(n).lstrip(b'\x00')
    return len(data) * 8


def key_state(key, vault_url=None):
    """Canonical dict of a key (SDK KeyVaultKey or a dict in the same shape) for results and diffs."""
    if key is None:
        return None
    if isinstance(key, dict):
        return dict(key)
    props = getattr(key, 'properties', None)
    jwk = getattr(key, 'key', None)
    kid = getattr(key, 'id', None) or getattr(props, 'id', None)
    parsed = parse_key_uri(kid)
    base = vault_url.rstrip('/') if vault_url else parsed['vault_url']
    kty = getattr(jwk, 'kty', None) or getattr(key, 'key_type', None)
    kty = getattr(kty, 'value', kty)
    ops = getattr(jwk, 'key_ops', None) or getattr(key, 'key_operations', None) or []
    return {
        'key_id': '%s/keys/%s' % (base, parsed['name']),
        'versioned_key_id': '%s/keys/%s/%s' % (base, parsed['name'], parsed['version']),
        'version': parsed['version'],
        'name': parsed['name'],
        'key_type': kty,
        'key_size': key_size_from_modulus(getattr(jwk, 'n', None)),
        'key_operations': [getattr(op, 'value', op) for op in ops],
        'enabled': getattr(props, 'enabled', None),
        'not_before': format_datetime(getattr(props, 'not_before', None)),
        'expires': format_datetime(getattr(props, 'expires_on', None)),
        'created': format_datetime(getattr(props, 'created_on', None)),
        'updated': format_datetime(getattr(props, 'updated_on', None)),
        'recovery_level': getattr(props, 'recovery_level', None),
        'tags': dict(getattr(props, 'tags', None) or {}),
    }


def desired_key(params, kind):
    """The requested key attributes (None = not managed) from module params (already validated)."""
    return {
        'key_type': normalize_key_type(params.get('key_type'), kind),
        'key_size': params.get('key_size'),
        'key_operations': params.get('key_operations'),
        'enabled': params.get('enabled'),
        'not_before': parse_datetime(params.get('not_before')),
        'expires': parse_expiry(params.get('expires')),
        'tags': params.get('tags'),
        'purge_tags': params.get('purge_tags', True),
    }


def needs_new_version(current, desired):
    """Key type and size cannot change in place: a different explicit type or size needs a new version."""
    reasons = []
    if desired.get('key_type') and current.get('key_type') and desired['key_type'] != current['key_type']:
        reasons.append('key_type %s -> %s' % (current['key_type'], desired['key_type']))
    if desired.get('key_size') and current.get('key_size') and desired['key_size'] != current['key_size']:
        reasons.append('key_size %s -> %s' % (current['key_size'], desired['key_size']))
    return reasons


def key_updates(current, desired, now=None):
    """The attribute changes (``update_key_properties`` keywords, wire-agnostic) that make ``current`` match.

    Returns a dict with some of ``key_operations``, ``enabled``, ``not_before`` (datetime), ``expires_on``
    (datetime), ``tags``; empty when nothing differs. Attributes not requested are left alone.
    """
    updates = {}
    ops = desired.get('key_operations')
    if ops is not None and sorted(set(ops)) != sorted(set(current.get('key_operations') or [])):
        updates['key_operations'] = list(ops)
    if desired.get('enabled') is not None and desired['enabled'] != current.get('enabled'):
        updates['enabled'] = desired['enabled']
    nbf = desired.get('not_before')
    if nbf is not None and (current.get('not_before') is None or parse_datetime(current['not_before']) != nbf):
        updates['not_before'] = nbf
    expiry = desired.get('expires')
    created = current.get('created') or now
    if expiry is not None and not expiry_satisfied(expiry, current.get('expires'), created):
        updates['expires_on'] = resolve_expiry(expiry, created)
    tags_changed, tags = compare_tags(current.get('tags'), desired.get('tags'), desired.get('purge_tags', True))
    if tags_changed:
        updates['tags'] = tags
    return updates


def create_arguments(desired, current=None, now=None):
    """``create_rsa_key`` keywords for a new key (or a new version replacing ``current``)."""
    current = current or {}
    key_type = desired.get('key_type') or current.get('key_type') or DEFAULT_KEY_TYPE
    args = {
        'size': desired.get('key_size') or current.get('key_size') or DEFAULT_KEY_SIZE,
        'hardware_protected': key_type == 'RSA-HSM',
        'key_operations': list(desired.get('key_operations') or current.get('key_operations') or DEFAULT_KEY_OPERATIONS),
    }
    enabled = desired.get('enabled')
    args['enabled'] = enabled if enabled is not None else current.get('enabled', True)
    nbf = desired.get('not_before') or parse_datetime(current.get('not_before'))
    if nbf is not None:
        args['not_before'] = nbf
    if desired.get('expires') is not None:
        args['expires_on'] = resolve_expiry(desired['expires'], now)
    elif current.get('expires'):
        args['expires_on'] = parse_datetime(current['expires'])
    _changed, tags = compare_tags(current.get('tags'), desired.get('tags'), desired.get('purge_tags', True))
    if tags:
        args['tags'] = tags
    return args


def predict_key(current, updates=None, create_args=None, key_type=None, vault_url=None, name=None, now=None):
    """The key state a real run would produce (check mode); version unknown for a new version."""
    if create_args is not None:
        return {
            'key_id': '%s/keys/%s' % (vault_url, name) if vault_url else (current or {}).get('key_id'),
            'versioned_key_id': None,
            'version': None,
            'name': name or (current or {}).get('name'),
            'key_type': key_type,
            'key_size': create_args['size'],
            'key_operations': list(create_args['key_operations']),
            'enabled': create_args['enabled'],
            'not_before': format_datetime(create_args.get('not_before')),
            'expires': format_datetime(create_args.get('expires_on')),
            'created': format_datetime(now),
            'updated': format_datetime(now),
            'recovery_level': (current or {}).get('recovery_level'),
            'tags': dict(create_args.get('tags') or {}),
        }
    after = dict(current)
    for key, value in (updates or {}).items():
        if key == 'expires_on':
            after['expires'] = format_datetime(value)
        elif key == 'not_before':
            after['not_before'] = format_datetime(value)
        else:
            after[key] = value
    return after


# Fields of a new key or version that only Azure knows: shown as unknown in check mode, never invented from the
# controller's clock. (A rotated version's expiry is predicted: the rotation policy's expiry_time from now, to the day.)
UNKNOWN_AFTER_CREATE = ('versioned_key_id', 'version', 'created', 'updated', 'recovery_level')


def mask_unknown(predicted, rotated=False):
    """A predicted key (``predict_key``/``predict_rotated_key``) as shown to the user: Azure's values unknown."""
    shown = dict(predicted)
    for field in UNKNOWN_AFTER_CREATE:
        shown[field] = UNKNOWN
    return shown


def service_duration(text):
    """A rotation policy's ``expiry_time`` as the service applies it to a rotated version: a year counts 365 days
    and a month 30 (not calendar arithmetic)."""
    parts = parse_duration(text)
    return datetime.timedelta(days=parts['years'] * 365 + parts['months'] * 30 + parts['weeks'] * 7 + parts['days'],
                              hours=parts['hours'], minutes=parts['minutes'], seconds=parts['seconds'])


def predict_rotated_key(base, policy, now):
    """The version ``rotate_key`` creates (check mode): the latest version's type, size, operations and tags, enabled,
    no activation date (not_before), and an expiry of ``now`` + the rotation policy's ``expiry_time`` (none without).

    ``policy`` is the rotation policy in force when the key is rotated (after any policy update of the same task).
    """
    expiry = (policy or {}).get('expiry_time')
    after = dict(base)
    after.update(versioned_key_id=None, version=None, enabled=True, not_before=None,
                 expires=format_datetime(now + service_duration(expiry)) if expiry else None,
                 created=format_datetime(now), updated=format_datetime(now))
    return after


def check_key_dates(desired, create_args, updates, created, now):
    """(errors, warnings) about the dates a write would set on a key version.

    ``create_args``: the ``create_rsa_key`` keywords when a key or version is created (else None); ``updates``: the
    ``update_key_properties`` keywords otherwise; ``created``: creation time of the version being updated. An expired
    customer-managed key shuts down the VMs and makes the databases that use it inaccessible, so a write that sets an
    expiry in the past is an error; an activation date in the future only warns (a key may be prepared in advance).
    """
    errors = []
    warnings = []
    values = create_args if create_args is not None else (updates or {})
    expires_on = values.get('expires_on')
    expiry = desired.get('expires')
    if expires_on is not None and parse_datetime(expires_on) <= now:
        when = format_datetime(expires_on)
        if expiry is None:
            errors.append('the current key version expired on %s and the new version would keep that expiry: set expires '
                          'to a future date or a duration such as P2Y (an expired key makes the services that use it lose '
                          'access to their data)' % when)
        elif expiry[0] == 'relative' and create_args is None:
            errors.append('expires %s counts from the creation of the current key version (%s) and resolves to %s, which '
                          'is in the past: setting it would expire the key and the services that use it would lose access '
                          'to their data. Set rotate=true to create a new version that expires %s from now, or set '
                          'expires to an absolute date in the future' % (expiry[1], format_datetime(created), when, expiry[1]))
        else:
            errors.append('expires %s is in the past: an expired key cannot be used, and the services that use it lose '
                          'access to their data. Set a future date or a duration such as P2Y' % when)
    nbf = desired.get('not_before')
    if nbf is not None and nbf > now:
        warnings.append('not_before %s is in the future: services cannot use the key (wrapKey/unwrapKey) until then'
                        % format_datetime(nbf))
    return errors, warnings


# -- Azure calls ---------------------------------------------------------------------------------------
# -- the key on the data plane -------------------------------------------------------------------------
def read_rotation_policy(azmod, client, name, required):
    """The key's rotation policy as a canonical dict; None when it has none (or, unless ``required``,
    when the identity running the task may not read it: then a warning)."""
    policy, error = azmod.attempt('reading the rotation policy of key %s' % name, client.get_key_rotation_policy, name)
    if error is not None:
        if is_forbidden(error) and not required:
            azmod.warn('Cannot read the rotation policy of key %s (needs the getrotationpolicy permission); '
                       'rotation_policy is not returned' % name)
            return None
        if is_not_found(error):
            return None
        raise error
    return normalize_rotation_policy(policy)


def policy_to_send(current, desired):
    """The complete policy a PUT must carry so that only ``desired`` changes.

    A trigger before expiry inherited from ``current`` (the service's default "notify 30 days before
    expiry") is not re-sent when the policy sets no expiry: the service adds its default itself.
    """
    merged = merge_rotation_policy(current, desired)
    if not merged.get('expiry_time'):
        for field in ('rotate_before_expiry', 'notify_before_expiry'):
            if not (desired or {}).get(field):
                merged[field] = None
    return merged


def predict_rotation_policy(sent):
    """What the service stores for ``sent``: it adds a "notify 30 days before expiry" action when none is given."""
    result = dict(sent)
    if not result.get('notify_before_expiry'):
        result['notify_before_expiry'] = 'P30D'
    return result


def default_rotation_policy():
    """The policy a new key has until one is set: the service's "notify 30 days before expiry"."""
    return predict_rotation_policy(normalize_rotation_policy({}))


def write_rotation_policy(azmod, client, name, policy):
    from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicy  # pylint: disable=import-outside-toplevel
    actions = [KeyRotationLifetimeAction(action, **{trigger: duration})
               for action, trigger, duration in rotation_policy_actions(policy)]
    result = azmod.run('setting the rotation policy of key %s' % name, client.update_key_rotation_policy, name,
                       KeyRotationPolicy(), lifetime_actions=actions, expires_in=policy.get('expiry_time'))
    return normalize_rotation_policy(result)


def _utcnow():
    return datetime.datetime.now(UTC).replace(microsecond=0)


def requested_rotation_policy(params):
    policy = params.get('rotation_policy')
    if not policy or not any(policy.get(k) for k in ROTATION_POLICY_FIELDS):
        return None
    return normalize_rotation_policy(dict((k, policy.get(k)) for k in ROTATION_POLICY_FIELDS))


def ensure_key(azmod, info, params):
    """Make the key match ``params`` (state=present). Returns (changed, before, after, details).

    ``before``/``after`` are {'key': key_state, 'rotation_policy': canonical policy, 'purge_protection': bool};
    ``details`` says what was done: created, recovered, new_version, rotated, updated (fields),
    rotation_policy_updated, purge_protection_enabled.
    """
    kind = info['kind']
    name = params['name']
    desired = desired_key(params, kind)
    rp_desired = requested_rotation_policy(params)
    client = azmod.data('keys', info['uri'])

    current_obj = azmod.get_or_none('reading key %s' % name, client.get_key, name)
    current = key_state(current_obj, info['uri'])
    deleted = None
    if current is None:
        deleted_obj = azmod.get_or_none('reading deleted key %s' % name, client.get_deleted_key, name)
        deleted = key_state(deleted_obj, info['uri'])
    base = current or deleted
    rp_current = read_rotation_policy(azmod, client, name, required=rp_desired is not None) if current else None

    # Everything is validated before the first write.
    effective_type = desired['key_type'] or (base or {}).get('key_type') or DEFAULT_KEY_TYPE
    errors, enable_pp = check_vault_prerequisites(info, effective_type, params.get('enable_purge_protection'))
    recovering = current is None and deleted is not None
    rp_change = False
    rp_sent = None
    if rp_desired is not None:
        if recovering:
            # The rotation policy of a deleted key cannot be read (there is no such API): the requested fields are
            # checked on their own now, the merged policy right after the recovery, before it is written. The policy
            # is always written after a recovery, so check mode reports rotation_policy_updated truthfully.
            rp_change = True
            rp_sent = policy_to_send(None, rp_desired)
            errors.extend(validate_rotation_policy(rp_desired, kind, partial=True))
        else:
            rp_change = rotation_policy_differs(rp_current, rp_desired) if current else True
            rp_sent = policy_to_send(rp_current, rp_desired)
            errors.extend(validate_rotation_policy(rp_sent, kind))

    now = _utcnow()
    details = {'created': base is None, 'recovered': recovering, 'new_version': [],
               'rotated': False, 'updated': [], 'rotation_policy_updated': rp_change,
               'purge_protection_enabled': enable_pp}
    before = {'key': current, 'rotation_policy': rp_current, 'purge_protection': info['purge_protection']}
    create_args = None
    if base is None:
        create_args = create_arguments(desired, None, now)
    else:
        details['new_version'] = needs_new_version(base, desired)
        if details['new_version']:
            create_args = create_arguments(desired, base, now)
    details['rotated'] = bool(params.get('rotate')) and base is not None and not details['new_version']

    # The predicted result, also used to check the dates before any write.
    rp_predicted = predict_rotation_policy(rp_sent) if rp_change else rp_current
    if rp_predicted is None and details['created']:
        rp_predicted = default_rotation_policy()
    updates = {}
    if create_args is not None:
        predicted = predict_key(base, create_args=create_args, key_type=effective_type, vault_url=info['uri'],
                                name=name, now=now)
    else:
        predicted = predict_rotated_key(base, rp_predicted, now) if details['rotated'] else dict(base)
        updates = key_updates(predicted, desired, now)
        details['updated'] = sorted(updates)
        predicted = predict_key(predicted, updates)
    date_errors, warnings = check_key_dates(desired, create_args, updates, (base or {}).get('created'), now)
    errors.extend(date_errors)
    if errors:
        raise CMKError('; '.join(errors))
    for warning in warnings:
        azmod.warn(warning)

    if azmod.check_mode:
        changed = bool(enable_pp or details['created'] or details['recovered'] or details['new_version']
                       or details['rotated'] or details['updated'] or rp_change)
        if create_args is not None or details['rotated']:
            predicted = mask_unknown(predicted, rotated=details['rotated'])
        after = {'key': predicted, 'rotation_policy': rp_predicted,
                 'purge_protection': info['purge_protection'] or enable_pp}
        return changed, before, after, details

    if enable_pp:
        enable_purge_protection(azmod, info)
    key_obj = current_obj
    if details['recovered']:
        poller = azmod.run('recovering deleted key %s' % name, client.begin_recover_deleted_key, name)
        azmod.wait('recovering deleted key %s' % name, poller)
        key_obj = azmod.run('reading key %s' % name, client.get_key, name)
        rp_current = read_rotation_policy(azmod, client, name, required=rp_desired is not None)
        if rp_desired is not None:
            rp_sent = policy_to_send(rp_current, rp_desired)
            errors = validate_rotation_policy(rp_sent, kind)
            if errors:
                raise CMKError('Key %s was recovered, but its rotation policy was left unchanged: the requested '
                               'rotation_policy is not valid over the recovered key\'s policy (%s): %s'
                               % (name, ', '.join('%s=%s' % (k, v) for k, v in sorted((rp_current or {}).items()) if v),
                                  '; '.join(errors)))
    if create_args is not None:
        key_obj = azmod.run('creating key %s' % name, client.create_rsa_key, name, **create_args)
    rp_after = rp_current
    if rp_change:
        rp_after = write_rotation_policy(azmod, client, name, rp_sent)
    elif rp_after is None and details['created']:
        rp_after = default_rotation_policy()
    if details['rotated']:
        key_obj = azmod.run('rotating key %s' % name, client.rotate_key, name)
    state = key_state(key_obj, info['uri'])
    if create_args is None:
        updates = key_updates(state, desired, now)
        details['updated'] = sorted(updates)
        if updates:
            errors = check_key_dates(desired, None, updates, state.get('created'), now)[0]
            if errors:  # not expected: the same check passed on the prediction
                raise CMKError('; '.join(errors))
            key_obj = azmod.run('updating key %s' % name, client.update_key_properties, name, **updates)
            state = key_state(key_obj, info['uri'])
    changed = bool(enable_pp or details['created'] or details['recovered'] or details['new_version']
                   or details['rotated'] or details['updated'] or rp_change)
    after = {'key': state, 'rotation_policy': rp_after, 'purge_protection': info['purge_protection'] or enable_pp}
    return changed, before, after, details


def remove_key(azmod, info, params):
    """Soft-delete the key (state=absent) and purge it when asked. Returns (changed, before, after, details)."""
    name = params['name']
    purge = bool(params.get('purge'))
    if purge and info['purge_protection']:
        raise CMKError('purge=true is impossible: %s %s has purge protection, so a deleted key stays recoverable for %s '
                       'days and cannot be purged earlier. Remove purge=true (the key is then only soft-deleted).'
                       % ('Managed HSM' if info['kind'] == MANAGED_HSM else 'Key Vault', info['name'],
                          info.get('soft_delete_retention_days') or 90))
    client = azmod.data('keys', info['uri'])
    current = key_state(azmod.get_or_none('reading key %s' % name, client.get_key, name), info['uri'])
    deleted = None
    if purge and current is None:
        deleted = key_state(azmod.get_or_none('reading deleted key %s' % name, client.get_deleted_key, name),
                            info['uri'])
    details = {'deleted': current is not None, 'purged': purge and (current is not None or deleted is not None)}
    changed = details['deleted'] or details['purged']
    before = {'key': current, 'purge_protection': info['purge_protection']}
    after = {'key': None, 'purge_protection': info['purge_protection']}
    if azmod.check_mode or not changed:
        return changed, before, after, details
    if current is not None:
        poller = azmod.run('deleting key %s' % name, client.begin_delete_key, name)
        azmod.wait('deleting key %s' % name, poller)
    if details['purged']:
        azmod.run('purging deleted key %s' % name, client.purge_deleted_key, name)
    return changed, before, after, details
