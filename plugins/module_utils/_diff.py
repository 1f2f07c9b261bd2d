# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Pure comparison and diff helpers (no SDK imports)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy


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
