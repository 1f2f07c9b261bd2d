# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Make ``ansible_collections.sovereign.cmk`` importable when pytest runs from a source checkout."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys


def _collection_root():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.dirname(os.path.dirname(here))


def _ensure_importable():
    root = _collection_root()
    parts = root.split(os.sep)
    if parts[-3:-2] == ['ansible_collections']:
        base = os.sep.join(parts[:-3])  # already laid out as ansible_collections/sovereign/cmk
    else:
        base = os.path.join(root, 'build', 'src')
        link = os.path.join(base, 'ansible_collections', 'sovereign', 'cmk')
        if not os.path.islink(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(root, link)
    if base not in sys.path:
        sys.path.insert(0, base)


_ensure_importable()
