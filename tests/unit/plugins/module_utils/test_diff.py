# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils import _diff


def test_values_differ_ignores_unmanaged_keys():
    current = {'enabled': True, 'tags': {'a': '1'}, 'key_size': 3072}
    assert not _diff.values_differ(current, {'enabled': True, 'key_size': None})
    assert _diff.values_differ(current, {'enabled': False})


def test_values_differ_lists_unordered_and_case_keys():
    assert not _diff.values_differ({'ops': ['wrapKey', 'unwrapKey']}, {'ops': ['unwrapKey', 'wrapKey']})
    assert _diff.values_differ({'ops': ['wrapKey']}, {'ops': ['unwrapKey', 'wrapKey']})
    assert not _diff.values_differ({'id': '/Subscriptions/X'}, {'id': '/subscriptions/x'}, case_insensitive_keys=('id',))
    assert _diff.values_differ({'id': '/Subscriptions/X'}, {'id': '/subscriptions/x'})
    assert _diff.values_differ(None, {'a': 1})


def test_changed_keys_and_merge():
    current = {'a': 1, 'b': {'c': 2, 'd': 3}}
    desired = {'a': 1, 'b': {'c': 5}, 'e': None}
    assert _diff.changed_keys(current, desired) == ['b']
    merged = _diff.merge(current, desired)
    assert merged == {'a': 1, 'b': {'c': 5, 'd': 3}}
    assert current['b']['c'] == 2  # not mutated


def test_compare_tags():
    assert _diff.compare_tags({'a': '1'}, None) == (False, {'a': '1'})
    assert _diff.compare_tags({'a': '1'}, {'a': 1}) == (False, {'a': '1'})
    assert _diff.compare_tags({'a': '1', 'b': '2'}, {'a': '1'}) == (True, {'a': '1'})
    assert _diff.compare_tags({'a': '1', 'b': '2'}, {'a': '1'}, purge=False) == (False, {'a': '1', 'b': '2'})


def test_build_diff_masks_hidden_keys():
    diff = _diff.build_diff({'secret': 's', 'x': 1}, None, hide=('secret',))
    assert diff == {'before': {'secret': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER', 'x': 1}, 'after': {}}
