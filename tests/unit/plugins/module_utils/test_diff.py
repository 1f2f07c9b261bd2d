# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils import _diff


def test_compare_tags():
    assert _diff.compare_tags({'a': '1'}, None) == (False, {'a': '1'})
    assert _diff.compare_tags({'a': '1'}, {'a': 1}) == (False, {'a': '1'})
    assert _diff.compare_tags({'a': '1', 'b': '2'}, {'a': '1'}) == (True, {'a': '1'})
    assert _diff.compare_tags({'a': '1', 'b': '2'}, {'a': '1'}, purge=False) == (False, {'a': '1', 'b': '2'})


def test_build_diff_masks_hidden_keys():
    diff = _diff.build_diff({'secret': 's', 'x': 1}, None, hide=('secret',))
    assert diff == {'before': {'secret': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER', 'x': 1}, 'after': {}}
