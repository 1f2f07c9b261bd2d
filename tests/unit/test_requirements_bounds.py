# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The lower bounds of the runtime requirements are stated once and agree everywhere.

requirements.txt is the reference. tests/constraints-lowest.txt pins exactly its lower bounds, plus the
oldest supported ansible-core (meta/runtime.yml ``requires_ansible``, equal to requirements-dev.txt's bound);
the ``lowest`` gate of scripts/test.py installs them and runs the unit and client-layer tests on them. And
the ``requirements:`` of every module's DOCUMENTATION and of the doc fragments (what ``ansible-doc``
shows users) name only packages of requirements.txt, with the same lower bound.

A failure names the file and the line to change, for example
``plugins/modules/azure_cmk_target.py: azure-mgmt-storage >= 21.0.0 (storage_account): requirements.txt says >= 22.0.0``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# "name >= 1.2.3", then optionally an upper bound (", <4"), an environment marker ("; python_version ...")
# in requirements.txt, or a remark such as "(storage_account)" in module docs.
_LOWER_BOUND = re.compile(r'^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*(?:[,;(].*)?$')
_PIN = re.compile(r'^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([0-9][0-9A-Za-z.]*)\s*$')


def _canonical(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def _lines(*path):
    with open(os.path.join(ROOT, *path), encoding='utf-8') as handle:
        return [line.strip() for line in handle if line.strip() and not line.strip().startswith('#')]


def _parse(lines, pattern, source):
    found = {}
    for line in lines:
        match = pattern.match(line)
        assert match, '%s: cannot read %r' % (source, line)
        name = _canonical(match.group(1))
        assert name not in found, '%s: %s listed twice' % (source, name)
        found[name] = match.group(2)
    return found


def requirements():
    """requirements.txt as {package: lower bound}."""
    return _parse(_lines('requirements.txt'), _LOWER_BOUND, 'requirements.txt')


def _dev_lower_bound(name):
    for line in _lines('requirements-dev.txt'):
        match = _LOWER_BOUND.match(line)
        if match and _canonical(match.group(1)) == name:
            return match.group(2)
    raise AssertionError('requirements-dev.txt has no lower bound for %s' % name)


def oldest_ansible_core():
    """meta/runtime.yml requires_ansible (">=2.17.0") as "2.17.0"."""
    with open(os.path.join(ROOT, 'meta', 'runtime.yml'), encoding='utf-8') as handle:
        spec = str(yaml.safe_load(handle)['requires_ansible'])
    match = re.match(r'^>=\s*([0-9.]+)$', spec.strip())
    assert match, 'meta/runtime.yml: requires_ansible %r is not a plain lower bound' % spec
    return match.group(1)


def lowest_pins():
    """tests/constraints-lowest.txt as {package: pinned version}."""
    return _parse(_lines('tests', 'constraints-lowest.txt'), _PIN, 'tests/constraints-lowest.txt')


def _documentation(path):
    """The DOCUMENTATION string of a module or doc fragment, read without importing the file."""
    with open(path, encoding='utf-8') as handle:
        tree = ast.parse(handle.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == 'DOCUMENTATION' for t in node.targets):
            return yaml.safe_load(node.value.value)
    raise AssertionError('%s has no DOCUMENTATION' % path)


def _documented_files():
    files = []
    for folder in (('plugins', 'modules'), ('plugins', 'doc_fragments'), ('plugins', 'inventory')):
        directory = os.path.join(ROOT, *folder)
        if not os.path.isdir(directory):
            continue
        files.extend('/'.join(folder + (name,)) for name in sorted(os.listdir(directory))
                     if name.endswith('.py') and not name.startswith('_'))
    return files


DOCUMENTED = _documented_files()


def documented_requirements(relpath):
    """The ``requirements:`` entries of one file's DOCUMENTATION."""
    return list(_documentation(os.path.join(ROOT, *relpath.split('/'))).get('requirements') or [])


def _python_requires():
    """The modules' Python lower bound, from tests/config.yml (what ansible-test sanity applies)."""
    with open(os.path.join(ROOT, 'tests', 'config.yml'), encoding='utf-8') as handle:
        spec = yaml.safe_load(handle)['modules']['python_requires']
    match = re.match(r'^>=\s*([0-9.]+)$', spec.strip())
    assert match, 'tests/config.yml: modules.python_requires %r is not a plain lower bound' % spec
    return match.group(1)


def test_requirements_have_lower_bounds():
    assert requirements()


def test_constraints_lowest_pins_exactly_the_lower_bounds():
    wanted, pinned = requirements(), lowest_pins()
    wanted['ansible-core'] = oldest_ansible_core()
    problems = ['%s: missing from tests/constraints-lowest.txt (add %s==%s)' % (name, name, wanted[name])
                for name in sorted(set(wanted) - set(pinned))]
    problems += ['%s==%s: not in requirements.txt' % (name, pinned[name]) for name in sorted(set(pinned) - set(wanted))]
    problems += ['%s==%s: requirements.txt says >= %s' % (name, pinned[name], wanted[name])
                 for name in sorted(set(wanted) & set(pinned)) if pinned[name] != wanted[name]]
    assert not problems, ('tests/constraints-lowest.txt disagrees with requirements.txt (or meta/runtime.yml for '
                          'ansible-core):\n' + '\n'.join(problems))


def test_oldest_ansible_core_agrees():
    assert _dev_lower_bound('ansible-core') == oldest_ansible_core(), 'requirements-dev.txt vs meta/runtime.yml'


@pytest.mark.parametrize('relpath', DOCUMENTED)
def test_documented_requirements_agree_with_requirements_txt(relpath):
    """Fails per file, naming each DOCUMENTATION ``requirements:`` line that must change."""
    wanted = requirements()
    problems = []
    for entry in documented_requirements(relpath):
        match = _LOWER_BOUND.match(str(entry))
        if not match:
            problems.append('%r: not of the form "package >= version"' % entry)
            continue
        name, bound = _canonical(match.group(1)), match.group(2)
        if name == 'python':
            if bound != _python_requires():
                problems.append('%s: tests/config.yml says python >= %s' % (entry, _python_requires()))
        elif name not in wanted:
            problems.append('%s: %s is not in requirements.txt' % (entry, name))
        elif bound != wanted[name]:
            problems.append('%s: requirements.txt says >= %s' % (entry, wanted[name]))
    assert not problems, '\n'.join('%s: %s' % (relpath, p) for p in problems)


def test_every_runtime_requirement_is_documented():
    """Each package of requirements.txt appears in some module's or doc fragment's ``requirements:``."""
    documented = set()
    for relpath in DOCUMENTED:
        for entry in documented_requirements(relpath):
            match = _LOWER_BOUND.match(str(entry))
            if match:
                documented.add(_canonical(match.group(1)))
    missing = sorted(set(requirements()) - documented)
    assert not missing, ('requirements.txt packages that no module or doc fragment documents '
                         '(add them to a requirements: list, or drop them from requirements.txt): %s' % ', '.join(missing))
