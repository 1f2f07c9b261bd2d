# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Every role's meta/argument_specs.yml agrees with its defaults/main.yml, and variables carry the role prefix."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml

ROLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'roles')
ROLE_NAMES = sorted(r for r in os.listdir(ROLES) if os.path.isdir(os.path.join(ROLES, r)))


def _load(role, *parts):
    with open(os.path.join(ROLES, role, *parts), encoding='utf-8') as handle:
        return yaml.safe_load(handle) or {}


def test_there_are_roles():
    assert {'key', 'storage', 'disk_encryption', 'aks', 'container_instances', 'sql_managed_instance'} <= set(ROLE_NAMES)


@pytest.mark.parametrize('role', ROLE_NAMES)
def test_defaults_match_argument_specs(role):
    defaults = _load(role, 'defaults', 'main.yml')
    options = _load(role, 'meta', 'argument_specs.yml')['argument_specs']['main']['options']
    assert sorted(set(defaults) - set(options)) == [], 'defaults without an argument spec'
    for name, spec in options.items():
        assert name.startswith(role + '_'), '%s: public variables start with %s_' % (name, role)
        assert spec.get('description'), '%s has no description' % name
        if spec.get('required'):
            assert name not in defaults, '%s is required: it must have no default' % name
            assert 'default' not in spec
        else:
            assert name in defaults, '%s is optional: defaults/main.yml must set it' % name
            assert spec.get('default') == defaults[name], '%s: default %r in the spec, %r in defaults' % (
                name, spec.get('default'), defaults[name])
        if 'choices' in spec and name in defaults:
            assert defaults[name] in spec['choices']


@pytest.mark.parametrize('role', ROLE_NAMES)
def test_role_has_readme_with_example(role):
    with open(os.path.join(ROLES, role, 'README.md'), encoding='utf-8') as handle:
        text = handle.read()
    assert 'sovereign.cmk.%s' % role in text and '```yaml' in text
