# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Pure comparison and diff helpers (no SDK imports)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy


def _norm(value, case_insensitive_keys, key=None):
    if isinstance(value, dict):
        return dict((k, _norm(v, case_insensitive_keys, k)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_norm(v, case_insensitive_keys, key) for v in value]
    if isinstance(value, str) and key in case_insensitive_keys:
        return value.lower()
    return value


def values_differ(current, desired, case_insensitive_keys=(), key=None, unordered_lists=True):
    """True when ``desired`` (a partial description) is not already satisfied by ``current``.

    Keys absent from ``desired`` (or set to None) are not managed and never differ. Lists are compared
    as sets of their items when ``unordered_lists`` (key operations, permissions); strings under a
    key in ``case_insensitive_keys`` (resource ids, URIs) are compared without case.
    """
    if desired is None:
        return False
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return True
        for k, v in desired.items():
            if values_differ(current.get(k), v, case_insensitive_keys, k, unordered_lists):
                return True
        return False
    cur = _norm(current, case_insensitive_keys, key)
    des = _norm(desired, case_insensitive_keys, key)
    if isinstance(des, list) and isinstance(cur, list) and unordered_lists:
        try:
            return sorted(cur, key=repr) != sorted(des, key=repr)
        except TypeError:  # pragma: no cover - unorderable mixed lists
            return cur != des
    return cur != des


def changed_keys(current, desired, case_insensitive_keys=()):
    """Sorted top-level keys of ``desired`` whose value ``current`` does not satisfy."""
    current = current or {}
    return sorted(k for k, v in (desired or {}).items()
                  if values_differ(current.get(k), v, case_insensitive_keys, k))


def merge(current, desired):
    """The state after applying ``desired`` over ``current`` (None in desired means 'leave alone')."""
    result = copy.deepcopy(current) if isinstance(current, dict) else {}
    for k, v in (desired or {}).items():
        if v is None:
            continue
        if isinstance(v, dict) and isinstance(result.get(k), dict):
            result[k] = merge(result[k], v)
        else:
            result[k] = copy.deepcopy(v)
    return result


def compare_tags(current, desired, purge=True):
    """Return (changed, resulting_tags). ``desired`` None leaves tags alone; purge drops unlisted tags."""
    current = dict(current or {})
    if desired is None:
        return False, current
    desired = dict((k, '' if v is None else str(v)) for k, v in desired.items())
    result = dict(desired) if purge else dict(current, **desired)
    return result != current, result


def build_diff(before, after, hide=()):
    """An Ansible diff dict; keys listed in ``hide`` are masked on both sides."""
    def masked(state):
        if not isinstance(state, dict):
            return state if state is not None else {}
        out = copy.deepcopy(state)
        for key in hide:
            if key in out and out[key] is not None:
                out[key] = 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
        return out
    return {'before': masked(before), 'after': masked(after)}
