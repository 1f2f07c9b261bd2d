# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Collection metadata stays consistent: the action group lists every Azure module, versions agree."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml

from ansible_collections.sovereign.cmk.plugins.module_utils._version import COLLECTION_VERSION

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(*path):
    with open(os.path.join(ROOT, *path)) as handle:
        return yaml.safe_load(handle)


def _modules_using_auth_fragment():
    folder = os.path.join(ROOT, 'plugins', 'modules')
    names = []
    for filename in sorted(os.listdir(folder)):
        if filename.endswith('.py') and not filename.startswith('_'):
            with open(os.path.join(folder, filename)) as handle:
                if 'sovereign.cmk.azure' in handle.read():
                    names.append(filename[:-3])
    return names


def test_action_group_lists_every_azure_module():
    runtime = _load('meta', 'runtime.yml')
    assert runtime['requires_ansible'] == '>=2.17.0'
    assert sorted(runtime['action_groups']['azure'] or []) == _modules_using_auth_fragment()


def test_versions_agree():
    assert _load('galaxy.yml')['version'] == COLLECTION_VERSION


def test_requirements_use_ranges_not_pins():
    with open(os.path.join(ROOT, 'requirements.txt')) as handle:
        lines = [line.strip() for line in handle if line.strip() and not line.startswith('#')]
    assert lines
    for line in lines:
        assert '>=' in line and '==' not in line, line
