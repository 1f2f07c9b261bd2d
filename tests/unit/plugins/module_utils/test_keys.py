# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure helpers of the key backend: durations, expiry, rotation policy, key attributes, vault prerequisites."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.sovereign.cmk.plugins.module_utils import _vaults
from ansible_collections.sovereign.cmk.plugins.module_utils import _keys
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import KEY_VAULT, MANAGED_HSM, InvalidIdError

UTC = datetime.timezone.utc
SUB = '5a0e0e5e-0000-4000-8000-000000000001'
VAULT_ID = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1' % SUB
HSM_ID = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/hsm1' % SUB
CLOUD = {'key_vault_suffix': 'vault.azure.net', 'managed_hsm_suffix': 'managedhsm.azure.net'}


# -- durations ------------------------------------------------------------------------------------------
@pytest.mark.parametrize('text, expected', [
    ('P2Y', (24, 0, 0)), ('P18M', (18, 0, 0)), ('P90D', (0, 90, 0)), ('PT12H', (0, 0, 43200)),
    ('P1W', (0, 7, 0)), ('P1Y2M3DT4H5M6S', (14, 3, 14706)), ('p30d', (0, 30, 0)),
])
def test_canonical_duration(text, expected):
    assert _keys.canonical_duration(text) == expected


@pytest.mark.parametrize('text', ['', 'P', 'PT', '2Y', 'P1.5Y', 'P-1D', 'PT1D', 'P1H', None, 30, 'P1Y junk'])
def test_bad_durations(text):
    with pytest.raises(_keys.KeySpecError):
        _keys.parse_duration(text)


def test_same_duration():
    assert _keys.same_duration('P1Y', 'P12M')
    assert _keys.same_duration('P2W', 'P14D')
    assert _keys.same_duration('pt60m', 'PT1H')
    assert not _keys.same_duration('P1Y', 'P365D')
    assert not _keys.same_duration('P30D', None)
    assert _keys.same_duration(None, None)


def test_duration_days():
    assert _keys.duration_days('P7D') == 7
    assert _keys.duration_days('P1W') == 7
    assert _keys.duration_days('PT12H') == 0.5
    assert _keys.duration_days('P1Y') == 365
    assert _keys.duration_days('P1M') == 30
    assert _keys.duration_days('P27D') < 28 <= _keys.duration_days('P4W')


def test_add_duration_uses_calendar():
    start = datetime.datetime(2024, 1, 31, 10, 0, tzinfo=UTC)
    assert _keys.add_duration(start, 'P1M') == datetime.datetime(2024, 2, 29, 10, 0, tzinfo=UTC)
    assert _keys.add_duration(start, 'P2Y') == datetime.datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
    assert _keys.add_duration(start, 'P18M') == datetime.datetime(2025, 7, 31, 10, 0, tzinfo=UTC)
    assert _keys.add_duration(start, 'P1DT12H') == datetime.datetime(2024, 2, 1, 22, 0, tzinfo=UTC)


# -- date-times and expiry ------------------------------------------------------------------------------
@pytest.mark.parametrize('value, expected', [
    ('2027-01-31T00:00:00Z', datetime.datetime(2027, 1, 31, tzinfo=UTC)),
    ('2027-01-31', datetime.datetime(2027, 1, 31, tzinfo=UTC)),
    ('2027-01-31T02:00:00+02:00', datetime.datetime(2027, 1, 31, tzinfo=UTC)),
    ('2027-01-31T00:00:00.123456', datetime.datetime(2027, 1, 31, tzinfo=UTC)),
    (0, datetime.datetime(1970, 1, 1, tzinfo=UTC)),
])
def test_parse_datetime(value, expected):
    assert _keys.parse_datetime(value) == expected


@pytest.mark.parametrize('value', ['tomorrow', '2027-13-01', '31/01/2027', [1]])
def test_parse_datetime_rejects(value):
    with pytest.raises(_keys.KeySpecError):
        _keys.parse_datetime(value)


def test_format_datetime():
    assert _keys.format_datetime(datetime.datetime(2027, 1, 31, 1, 2, 3, 999, tzinfo=UTC)) == '2027-01-31T01:02:03Z'
    assert _keys.format_datetime(None) is None


def test_parse_expiry_absolute_and_relative():
    assert _keys.parse_expiry('p2y') == ('relative', 'P2Y')
    assert _keys.parse_expiry('2028-01-01') == ('absolute', datetime.datetime(2028, 1, 1, tzinfo=UTC))
    assert _keys.parse_expiry(None) is None
    with pytest.raises(_keys.KeySpecError):
        _keys.parse_expiry('P2X')


def test_relative_expiry_counts_from_creation_not_now():
    created = '2025-01-01T00:00:00Z'
    expiry = _keys.parse_expiry('P2Y')
    assert _keys.resolve_expiry(expiry, created) == datetime.datetime(2027, 1, 1, tzinfo=UTC)
    # the expiry set at creation (a few seconds off) is accepted on the next run
    assert _keys.expiry_satisfied(expiry, '2027-01-01T00:00:05Z', created)
    assert _keys.expiry_satisfied(expiry, '2026-12-31T23:30:00Z', created)
    assert not _keys.expiry_satisfied(expiry, '2027-01-02T00:00:00Z', created)
    assert not _keys.expiry_satisfied(expiry, None, created)
    assert _keys.expiry_satisfied(None, None, created)


def test_absolute_expiry_is_exact():
    expiry = _keys.parse_expiry('2028-01-01T00:00:00Z')
    assert _keys.expiry_satisfied(expiry, '2028-01-01T00:00:00Z', None)
    assert not _keys.expiry_satisfied(expiry, '2028-01-01T00:00:01Z', None)


# -- rotation policy --------------------------------------------------------------------------------------
def test_normalize_rotation_policy_from_wire_dict():
    wire = {'id': 'https://kv1.vault.azure.net/keys/k/rotationpolicy',
            'lifetimeActions': [{'trigger': {'timeAfterCreate': 'P18M'}, 'action': {'type': 'Rotate'}},
                                {'trigger': {'timeBeforeExpiry': 'P30D'}, 'action': {'type': 'Notify'}}],
            'attributes': {'expiryTime': 'P2Y', 'created': 1, 'updated': 2}}
    assert _keys.normalize_rotation_policy(wire) == {
        'rotate_after_create': 'P18M', 'rotate_before_expiry': None, 'notify_before_expiry': 'P30D',
        'expiry_time': 'P2Y'}


class _Action:
    def __init__(self, action, **kw):
        self.action = action
        self.time_after_create = kw.get('time_after_create')
        self.time_before_expiry = kw.get('time_before_expiry')


class _Policy:
    def __init__(self, actions, expires_in):
        self.lifetime_actions = actions
        self.expires_in = expires_in


def test_normalize_rotation_policy_from_sdk_object():
    policy = _Policy([_Action('Rotate', time_before_expiry='P30D'), _Action('notify', time_before_expiry='P10D')], 'P1Y')
    assert _keys.normalize_rotation_policy(policy) == {
        'rotate_after_create': None, 'rotate_before_expiry': 'P30D', 'notify_before_expiry': 'P10D', 'expiry_time': 'P1Y'}
    assert _keys.normalize_rotation_policy(_Policy([], None)) == dict.fromkeys(_keys.ROTATION_POLICY_FIELDS)
    assert _keys.normalize_rotation_policy(None) is None


def test_normalize_rotation_policy_from_options():
    assert _keys.normalize_rotation_policy({'rotate_after_create': 'p90d', 'expiry_time': None}) == {
        'rotate_after_create': 'P90D', 'rotate_before_expiry': None, 'notify_before_expiry': None, 'expiry_time': None}


def test_merge_rotation_policy_one_rotate_trigger():
    current = {'rotate_after_create': 'P18M', 'rotate_before_expiry': None, 'notify_before_expiry': 'P30D',
               'expiry_time': 'P2Y'}
    merged = _keys.merge_rotation_policy(current, {'rotate_before_expiry': 'P60D'})
    assert merged == {'rotate_after_create': None, 'rotate_before_expiry': 'P60D', 'notify_before_expiry': 'P30D',
                      'expiry_time': 'P2Y'}


def test_rotation_policy_differs_only_on_requested_fields():
    current = {'rotate_after_create': 'P18M', 'rotate_before_expiry': None, 'notify_before_expiry': 'P30D',
               'expiry_time': 'P2Y'}
    assert not _keys.rotation_policy_differs(current, {'rotate_after_create': 'P18M'})
    assert not _keys.rotation_policy_differs(current, {'expiry_time': 'P24M'})
    assert _keys.rotation_policy_differs(current, {'expiry_time': 'P1Y'})
    assert _keys.rotation_policy_differs(current, {'rotate_before_expiry': 'P30D'})
    assert _keys.rotation_policy_differs(None, {'rotate_after_create': 'P18M'})
    assert not _keys.rotation_policy_differs(current, None)
    assert not _keys.rotation_policy_differs(current, dict.fromkeys(_keys.ROTATION_POLICY_FIELDS))


def test_policy_to_send_drops_inherited_default_notify_without_expiry():
    current = {'rotate_after_create': None, 'rotate_before_expiry': None, 'notify_before_expiry': 'P30D',
               'expiry_time': None}
    sent = _keys.policy_to_send(current, {'rotate_after_create': 'P90D'})
    assert sent['rotate_after_create'] == 'P90D'
    assert sent['notify_before_expiry'] is None
    assert _keys.validate_rotation_policy(sent, KEY_VAULT) == []
    assert _keys.predict_rotation_policy(sent)['notify_before_expiry'] == 'P30D'


def test_policy_to_send_keeps_inherited_notify_with_expiry():
    current = {'rotate_after_create': None, 'rotate_before_expiry': None, 'notify_before_expiry': 'P30D',
               'expiry_time': 'P1Y'}
    sent = _keys.policy_to_send(current, {'rotate_after_create': 'P90D'})
    assert sent == {'rotate_after_create': 'P90D', 'rotate_before_expiry': None, 'notify_before_expiry': 'P30D',
                    'expiry_time': 'P1Y'}


@pytest.mark.parametrize('policy, kind, fragment', [
    ({'rotate_after_create': 'P6D'}, KEY_VAULT, 'minimum is P7D'),
    ({'rotate_before_expiry': 'P30D'}, KEY_VAULT, 'needs rotation_policy.expiry_time'),
    ({'notify_before_expiry': 'P30D'}, KEY_VAULT, 'needs rotation_policy.expiry_time'),
    ({'rotate_after_create': 'P90D', 'rotate_before_expiry': 'P30D', 'expiry_time': 'P1Y'}, KEY_VAULT, 'not both'),
    ({'expiry_time': 'P27D'}, MANAGED_HSM, 'Managed HSM requires at least P28D'),
    ({'expiry_time': 'P3W'}, KEY_VAULT, 'Key Vault requires at least P28D'),
    ({'rotate_after_create': 'P2Y', 'expiry_time': 'P1Y'}, KEY_VAULT, 'must be shorter'),
    ({'rotate_after_create': 'P1X'}, KEY_VAULT, 'ISO 8601'),
])
def test_validate_rotation_policy_errors(policy, kind, fragment):
    errors = _keys.validate_rotation_policy(policy, kind)
    assert any(fragment in e for e in errors), errors


@pytest.mark.parametrize('policy, kind', [
    ({'rotate_after_create': 'P18M', 'notify_before_expiry': 'P30D', 'expiry_time': 'P2Y'}, KEY_VAULT),
    ({'rotate_before_expiry': 'P7D', 'expiry_time': 'P28D'}, MANAGED_HSM),
    ({'expiry_time': 'P28D'}, KEY_VAULT),
    ({}, KEY_VAULT),
])
def test_validate_rotation_policy_ok(policy, kind):
    assert _keys.validate_rotation_policy(policy, kind) == []


def test_rotation_policy_actions():
    assert _keys.rotation_policy_actions({'rotate_after_create': 'P18M', 'notify_before_expiry': 'P30D'}) == [
        ('Rotate', 'time_after_create', 'P18M'), ('Notify', 'time_before_expiry', 'P30D')]
    assert _keys.rotation_policy_actions({'rotate_before_expiry': 'P30D'}) == [('Rotate', 'time_before_expiry', 'P30D')]
    assert _keys.rotation_policy_actions({}) == []


# -- key options and attributes ---------------------------------------------------------------------------
def _params(**kw):
    base = dict(name='cmk1', key_type=None, key_size=None, key_operations=None, enabled=None, not_before=None,
                expires=None, tags=None, purge_tags=True)
    base.update(kw)
    return base


def test_key_type_rules():
    assert _keys.normalize_key_type('rsa-hsm', KEY_VAULT) == 'RSA-HSM'
    assert _keys.normalize_key_type('RSA', KEY_VAULT) == 'RSA'
    assert _keys.normalize_key_type(None, MANAGED_HSM) is None
    with pytest.raises(_keys.KeySpecError, match='only RSA keys'):
        _keys.normalize_key_type('EC', KEY_VAULT)
    with pytest.raises(_keys.KeySpecError, match='only RSA keys'):
        _keys.normalize_key_type('oct-HSM', MANAGED_HSM)
    with pytest.raises(_keys.KeySpecError, match='Managed HSM'):
        _keys.normalize_key_type('RSA', MANAGED_HSM)


@pytest.mark.parametrize('params, fragment', [
    (_params(name='bad_name'), 'not a valid key name'),
    (_params(name=''), 'not a valid key name'),
    (_params(key_type='EC'), 'only RSA keys'),
    (_params(key_size=1024), 'key_size 1024'),
    (_params(key_operations=['wrapKey']), 'must include wrapKey and unwrapKey'),
    (_params(key_operations=['wrapKey', 'unwrapKey', 'frobnicate']), 'unknown operation'),
    (_params(expires='next year'), 'expires'),
    (_params(not_before='soon'), 'not_before'),
])
def test_validate_key_options(params, fragment):
    errors = _keys.validate_key_options(params, KEY_VAULT)
    assert any(fragment in e for e in errors), errors


def test_validate_key_options_ok():
    assert _keys.validate_key_options(_params(key_type='RSA-HSM', key_size=4096, expires='P2Y',
                                              key_operations=['unwrapKey', 'wrapKey', 'encrypt']), MANAGED_HSM) == []


CURRENT = {
    'key_id': 'https://kv1.vault.azure.net/keys/cmk1', 'versioned_key_id': 'https://kv1.vault.azure.net/keys/cmk1/' + 'a' * 32,
    'version': 'a' * 32, 'name': 'cmk1', 'key_type': 'RSA-HSM', 'key_size': 3072,
    'key_operations': ['wrapKey', 'unwrapKey'], 'enabled': True, 'not_before': None,
    'expires': '2027-01-01T00:00:00Z', 'created': '2025-01-01T00:00:00Z', 'updated': '2025-01-01T00:00:00Z',
    'recovery_level': 'Recoverable', 'tags': {'owner': 'platform'},
}


def test_key_updates_nothing_when_satisfied():
    desired = _keys.desired_key(_params(key_operations=['unwrapKey', 'wrapKey'], enabled=True, expires='P2Y',
                                        tags={'owner': 'platform'}), KEY_VAULT)
    assert _keys.key_updates(CURRENT, desired) == {}
    # options not set leave attributes alone
    assert _keys.key_updates(CURRENT, _keys.desired_key(_params(), KEY_VAULT)) == {}


def test_key_updates_changes():
    desired = _keys.desired_key(_params(enabled=False, expires='2028-06-01T00:00:00Z', tags={'a': 'b'},
                                        key_operations=['wrapKey', 'unwrapKey', 'encrypt'],
                                        not_before='2025-02-01'), KEY_VAULT)
    updates = _keys.key_updates(CURRENT, desired)
    assert updates == {'enabled': False, 'expires_on': datetime.datetime(2028, 6, 1, tzinfo=UTC), 'tags': {'a': 'b'},
                       'key_operations': ['wrapKey', 'unwrapKey', 'encrypt'],
                       'not_before': datetime.datetime(2025, 2, 1, tzinfo=UTC)}
    predicted = _keys.predict_key(CURRENT, updates)
    assert predicted['expires'] == '2028-06-01T00:00:00Z'
    assert predicted['not_before'] == '2025-02-01T00:00:00Z'
    assert predicted['enabled'] is False


def test_key_updates_tags_without_purge():
    desired = _keys.desired_key(_params(tags={'env': 'prod'}, purge_tags=False), KEY_VAULT)
    assert _keys.key_updates(CURRENT, desired) == {'tags': {'owner': 'platform', 'env': 'prod'}}
    desired = _keys.desired_key(_params(tags={'owner': 'platform'}, purge_tags=False), KEY_VAULT)
    assert _keys.key_updates(CURRENT, desired) == {}


def test_relative_expiry_update_counts_from_created():
    desired = _keys.desired_key(_params(expires='P3Y'), KEY_VAULT)
    assert _keys.key_updates(CURRENT, desired) == {'expires_on': datetime.datetime(2028, 1, 1, tzinfo=UTC)}


def test_needs_new_version():
    assert _keys.needs_new_version(CURRENT, _keys.desired_key(_params(key_size=4096), KEY_VAULT)) == ['key_size 3072 -> 4096']
    assert _keys.needs_new_version(CURRENT, _keys.desired_key(_params(key_type='RSA'), KEY_VAULT)) == ['key_type RSA-HSM -> RSA']
    assert _keys.needs_new_version(CURRENT, _keys.desired_key(_params(key_size=3072), KEY_VAULT)) == []


def test_create_arguments_defaults_and_relative_expiry():
    now = datetime.datetime(2025, 3, 1, tzinfo=UTC)
    args = _keys.create_arguments(_keys.desired_key(_params(expires='P2Y', tags={'a': '1'}), KEY_VAULT), None, now)
    assert args == {'size': 3072, 'hardware_protected': True, 'key_operations': ['wrapKey', 'unwrapKey'],
                    'enabled': True, 'expires_on': datetime.datetime(2027, 3, 1, tzinfo=UTC), 'tags': {'a': '1'}}
    args = _keys.create_arguments(_keys.desired_key(_params(key_type='RSA', key_size=2048, enabled=False), KEY_VAULT))
    assert args['hardware_protected'] is False and args['size'] == 2048 and args['enabled'] is False
    predicted = _keys.predict_key(None, create_args=args, key_type='RSA', vault_url='https://kv1.vault.azure.net',
                                  name='cmk1', now=now)
    assert predicted['key_id'] == 'https://kv1.vault.azure.net/keys/cmk1'
    assert predicted['version'] is None and predicted['key_size'] == 2048 and predicted['key_type'] == 'RSA'


def test_create_arguments_new_version_keeps_current_attributes():
    args = _keys.create_arguments(_keys.desired_key(_params(key_size=4096), KEY_VAULT), CURRENT)
    assert args['size'] == 4096 and args['hardware_protected'] is True
    assert args['tags'] == {'owner': 'platform'}
    assert args['expires_on'] == datetime.datetime(2027, 1, 1, tzinfo=UTC)


# -- dates a write would set (expired keys, future activation) -------------------------------------------
NOW = datetime.datetime(2026, 6, 1, tzinfo=UTC)


def test_past_absolute_expiry_fails_on_create_and_update():
    desired = _keys.desired_key(_params(expires='2020-01-01T00:00:00Z'), KEY_VAULT)
    args = _keys.create_arguments(desired, None, NOW)
    errors, warnings = _keys.check_key_dates(desired, args, {}, None, NOW)
    assert len(errors) == 1 and 'expires 2020-01-01T00:00:00Z is in the past' in errors[0] and warnings == []
    updates = _keys.key_updates(CURRENT, desired, NOW)
    errors = _keys.check_key_dates(desired, None, updates, CURRENT['created'], NOW)[0]
    assert len(errors) == 1 and 'is in the past' in errors[0]


def test_relative_expiry_resolving_into_the_past_fails_and_suggests_rotate():
    old = dict(CURRENT, created='2023-01-01T00:00:00Z', expires='2024-06-01T00:00:00Z')
    desired = _keys.desired_key(_params(expires='P2Y'), KEY_VAULT)
    updates = _keys.key_updates(old, desired, NOW)
    assert updates == {'expires_on': datetime.datetime(2025, 1, 1, tzinfo=UTC)}
    errors = _keys.check_key_dates(desired, None, updates, old['created'], NOW)[0]
    assert len(errors) == 1
    assert 'counts from the creation of the current key version (2023-01-01T00:00:00Z)' in errors[0]
    assert 'rotate=true' in errors[0] and 'absolute date' in errors[0]
    # after a rotation the new version is created now: P2Y is in the future
    rotated = _keys.predict_rotated_key(old, None, NOW)
    updates = _keys.key_updates(rotated, desired, NOW)
    assert _keys.check_key_dates(desired, None, updates, rotated['created'], NOW) == ([], [])


def test_new_version_inheriting_an_expired_expiry_fails():
    old = dict(CURRENT, expires='2024-06-01T00:00:00Z')
    desired = _keys.desired_key(_params(key_size=4096), KEY_VAULT)
    args = _keys.create_arguments(desired, old, NOW)
    errors = _keys.check_key_dates(desired, args, {}, old['created'], NOW)[0]
    assert len(errors) == 1 and 'expired on 2024-06-01T00:00:00Z' in errors[0]


def test_future_dates_pass_and_future_not_before_warns():
    desired = _keys.desired_key(_params(expires='P2Y', not_before='2026-07-01'), KEY_VAULT)
    args = _keys.create_arguments(desired, None, NOW)
    errors, warnings = _keys.check_key_dates(desired, args, {}, None, NOW)
    assert errors == []
    assert warnings == ['not_before 2026-07-01T00:00:00Z is in the future: services cannot use the key '
                        '(wrapKey/unwrapKey) until then']
    # an already-expired key that is not written again does not fail (nothing is set)
    desired = _keys.desired_key(_params(not_before='2026-01-01'), KEY_VAULT)
    assert _keys.check_key_dates(desired, None, {}, CURRENT['created'], NOW) == ([], [])


def test_predict_rotated_key_follows_the_rotation_policy():
    base = dict(CURRENT, not_before='2025-01-01T00:00:00Z', enabled=False)
    rotated = _keys.predict_rotated_key(base, {'expiry_time': 'P1Y', 'rotate_after_create': 'P90D'}, NOW)
    assert rotated['version'] is None and rotated['versioned_key_id'] is None
    assert rotated['created'] == '2026-06-01T00:00:00Z'
    assert rotated['not_before'] is None and rotated['enabled'] is True
    assert rotated['expires'] == '2027-06-01T00:00:00Z'  # now + 365 days
    assert rotated['tags'] == base['tags'] and rotated['key_operations'] == base['key_operations']
    assert rotated['key_size'] == 3072 and rotated['key_type'] == 'RSA-HSM'
    assert _keys.predict_rotated_key(base, None, NOW)['expires'] is None
    assert _keys.predict_rotated_key(base, {'expiry_time': None}, NOW)['expires'] is None
    # the service counts a year as 365 days and a month as 30
    assert _keys.service_duration('P18M') == datetime.timedelta(days=540)
    assert _keys.service_duration('P2Y') == datetime.timedelta(days=730)
    # a requested not_before and relative expiry are then set on the new version, as the real run reports
    desired = _keys.desired_key(_params(expires='P2Y', not_before='2026-01-01'), KEY_VAULT)
    rotated = _keys.predict_rotated_key(base, {'expiry_time': 'P1Y'}, NOW)
    assert sorted(_keys.key_updates(rotated, desired, NOW)) == ['expires_on', 'not_before']


def test_validate_partial_rotation_policy_skips_fields_it_does_not_set():
    """A deleted key's policy cannot be read: only the requested fields are checked before the recovery."""
    assert _keys.validate_rotation_policy({'notify_before_expiry': 'P30D'}, KEY_VAULT, partial=True) == []
    assert _keys.validate_rotation_policy({'notify_before_expiry': 'P30D'}, KEY_VAULT)
    errors = _keys.validate_rotation_policy({'rotate_after_create': 'P1D'}, KEY_VAULT, partial=True)
    assert errors and 'minimum is P7D' in errors[0]
    errors = _keys.validate_rotation_policy({'rotate_after_create': 'P90D', 'expiry_time': 'P60D'}, KEY_VAULT, partial=True)
    assert errors and 'must be shorter' in errors[0]


class _Props:
    def __init__(self):
        self.enabled = True
        self.not_before = None
        self.expires_on = datetime.datetime(2027, 1, 1, tzinfo=UTC)
        self.created_on = datetime.datetime(2025, 1, 1, tzinfo=UTC)
        self.updated_on = datetime.datetime(2025, 1, 1, tzinfo=UTC)
        self.recovery_level = 'Recoverable'
        self.tags = {'owner': 'platform'}


class _Jwk:
    kty = 'RSA-HSM'
    key_ops = ['wrapKey', 'unwrapKey']
    n = b'\x00' + b'\xff' * 384


class _Key:
    id = 'https://kv1.vault.azure.net/keys/cmk1/' + 'a' * 32
    properties = _Props()
    key = _Jwk()


def test_key_state_from_sdk_object():
    state = _keys.key_state(_Key(), 'https://kv1.vault.azure.net')
    assert state['key_id'] == 'https://kv1.vault.azure.net/keys/cmk1'
    assert state['versioned_key_id'] == CURRENT['versioned_key_id']
    assert state['key_size'] == 3072
    assert state['expires'] == '2027-01-01T00:00:00Z'
    assert state['tags'] == {'owner': 'platform'}
    assert _keys.key_state(None) is None


def test_key_size_from_modulus():
    assert _keys.key_size_from_modulus(b'\x00' + b'\x01' * 256) == 2048
    assert _keys.key_size_from_modulus(None) is None


# -- vaults ----------------------------------------------------------------------------------------------
def _vault(sku='premium', rbac=True, purge=True, soft=True):
    props = {'tenantId': 't', 'sku': {'family': 'A', 'name': sku}, 'vaultUri': 'https://kv1.vault.azure.net/',
             'enableRbacAuthorization': rbac, 'enableSoftDelete': soft, 'softDeleteRetentionInDays': 90,
             'accessPolicies': []}
    if purge is not None:
        props['enablePurgeProtection'] = purge
    return {'id': VAULT_ID, 'name': 'kv1', 'type': 'Microsoft.KeyVault/vaults', 'location': 'eastus',
            'properties': props}


def test_vault_info_vault():
    info = _vaults.vault_info(_vault())
    assert info['kind'] == KEY_VAULT and info['premium'] and info['purge_protection']
    assert info['uri'] == 'https://kv1.vault.azure.net'
    assert info['access_model'] == 'rbac' and info['resource_group'] == 'rg'
    assert _vaults.vault_info(_vault(rbac=None))['access_model'] == 'access_policies'
    assert _vaults.vault_info(_vault(purge=None))['purge_protection'] is False


def test_vault_info_hsm_without_uri_uses_cloud_suffix():
    body = {'id': HSM_ID, 'name': 'hsm1', 'type': 'Microsoft.KeyVault/managedHSMs', 'sku': {'family': 'B', 'name': 'Standard_B1'},
            'properties': {'enablePurgeProtection': True, 'hsmUri': None}}
    info = _vaults.vault_info(body, {'managed_hsm_suffix': 'managedhsm.usgovcloudapi.net'})
    assert info['kind'] == MANAGED_HSM and info['access_model'] == 'local_rbac'
    assert info['uri'] == 'https://hsm1.managedhsm.usgovcloudapi.net'


def test_prerequisites():
    assert _vaults.check_vault_prerequisites(_vaults.vault_info(_vault()), 'RSA-HSM') == ([], False)
    errors, enable = _vaults.check_vault_prerequisites(_vaults.vault_info(_vault(purge=False)), 'RSA-HSM')
    assert not enable and 'enable_purge_protection=true' in errors[0] and 'az keyvault update --name kv1' in errors[0]
    assert _vaults.check_vault_prerequisites(_vaults.vault_info(_vault(purge=False)), 'RSA-HSM', True) == ([], True)
    errors, _enable = _vaults.check_vault_prerequisites(_vaults.vault_info(_vault(sku='standard')), 'RSA-HSM')
    assert 'need a Premium vault' in errors[0]
    assert _vaults.check_vault_prerequisites(_vaults.vault_info(_vault(sku='standard')), 'RSA') == ([], False)
    errors, _enable = _vaults.check_vault_prerequisites(_vaults.vault_info(_vault(soft=False)), 'RSA')
    assert 'soft delete' in errors[0]


def test_vault_from_option():
    assert _vaults.vault_from_option(VAULT_ID, None, CLOUD)[0] == 'id'
    assert _vaults.vault_from_option('kv1', 'rg', CLOUD) == ('name', ('rg', 'kv1'))
    form, parsed = _vaults.vault_from_option('https://hsm1.managedhsm.azure.net/', None, CLOUD)
    assert form == 'uri' and parsed['kind'] == MANAGED_HSM and parsed['name'] == 'hsm1'
    form, parsed = _vaults.vault_from_option('https://kv1.vault.azure.cn', None, CLOUD)
    assert parsed['kind'] == KEY_VAULT
    for bad, rg in [('kv1', None), ('not a vault!', 'rg'), ('/subscriptions/x/resourceGroups/rg', None),
                    (VAULT_ID + '/keys/k1', None), ('https://kv1.example.com', None),
                    ('https://kv1.vault.azure.net/keys/k1', None), ('', None)]:
        with pytest.raises(InvalidIdError):
            _vaults.vault_from_option(bad, rg, CLOUD)


def test_vault_ids_for_name():
    assert _vaults.vault_ids_for_name(SUB, 'rg', 'x1') == [
        '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/x1' % SUB,
        '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/x1' % SUB]


def test_default_rotation_policy_is_the_services_notify_30_days():
    policy = _keys.default_rotation_policy()
    assert policy['notify_before_expiry'] == 'P30D'
    assert policy['rotate_after_create'] is None and policy['expiry_time'] is None
