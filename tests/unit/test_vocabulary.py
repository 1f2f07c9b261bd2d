# -*- coding: utf-8 -*-
"""One vocabulary: every module's options and results, and every role's variables, use one name per concept."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re

import yaml

from ansible_collections.sovereign.cmk.plugins.module_utils import _report

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = sorted(glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py')))
# The modules that configure one object return the one result shape; the bulk scan returns one such verdict per
# resource (``resources[]``: status, compliant, findings, changes, requires_recreate) instead, and cmk_report (the
# documentation of an action plugin) the run's summary and report files.
CONTRACT_MODULES = [path for path in MODULES if os.path.basename(path) not in ('azure_cmk_scan.py', 'cmk_report.py')]

# concept -> the one name, and the names that must not appear for it (former names, synonyms)
CONCEPTS = {
    'vault or HSM holding the key': ('vault', ('key_vault', 'keyvault', 'vault_id_option', 'hsm', 'managed_hsm')),
    'the resource follows new key versions': ('auto_key_rotation', ('auto_rotation', 'rotation_enabled',
                                                                    'auto_rotate', 'follow_latest')),
    'what the run changed': ('changes', ('actions', 'changed_items', 'updates')),
    'what is broken or differs': ('findings', ('problems', 'issues', 'violations')),
    'one-word result': ('status', ('state_result', 'result_status', 'outcome')),
}
COMMON_RETURN = ('status', 'compliant', 'findings', 'changes', 'requires_recreate', 'before', 'after')


def _section(path, name):
    source = open(path, encoding='utf-8').read()
    return yaml.safe_load(re.search(name + r" = r'''(.*?)'''", source, re.S).group(1)) or {}


def _names(tree):
    """Every option/return name at any depth (suboptions, contains)."""
    names = set()
    for key, value in (tree or {}).items():
        names.add(key)
        if isinstance(value, dict):
            names |= _names(value.get('suboptions') or value.get('contains') or {})
    return names


def test_no_two_names_for_one_concept_in_modules():
    problems = []
    for path in MODULES:
        names = _names(_section(path, 'DOCUMENTATION').get('options')) | _names(_section(path, 'RETURN'))
        for concept, (name, others) in CONCEPTS.items():
            for other in others:
                if other in names:
                    problems.append('%s: %r for %s (the collection says %r)' % (os.path.basename(path), other, concept,
                                                                                name))
    assert not problems, problems


def test_no_two_names_for_one_concept_in_roles():
    """Role variables are the module names with the role prefix (``storage_auto_key_rotation``)."""
    problems = []
    for path in glob.glob(os.path.join(ROOT, 'roles', '*', 'meta', 'argument_specs.yml')):
        spec = yaml.safe_load(open(path, encoding='utf-8'))
        for entry in spec['argument_specs'].values():
            for option in entry.get('options') or {}:
                for concept, (name, others) in CONCEPTS.items():
                    for other in others:
                        if option.endswith('_' + other) and not option.endswith('_' + name):
                            problems.append('%s: %s for %s (use %r)' % (path, option, concept, name))
    assert not problems, problems


def test_every_module_returns_the_common_shape_documented_identically():
    shapes = {}
    for path in CONTRACT_MODULES:
        ret = _section(path, 'RETURN')
        missing = [name for name in COMMON_RETURN if name not in ret]
        assert not missing, '%s lacks %s' % (path, missing)
        shapes[os.path.basename(path)] = dict((name, ret[name]) for name in COMMON_RETURN)
    first = list(shapes.values())[0]
    for module, shape in shapes.items():
        assert shape == first, '%s documents the common results differently' % module


def test_status_words_are_the_documented_ones():
    assert _report.STATUSES == ('compliant', 'changed', 'drift', 'requires_recreate', 'failed')
    assert _report.status(True, True, False) == 'drift'
    assert _report.status(True, False, True) == 'compliant'
    assert _report.status(True, False, False) == 'drift'
    assert _report.status(False, True, True) == 'changed'
    assert _report.status(False, False, False) == 'drift'
    assert _report.status(False, True, True, requires_recreate=True) == 'requires_recreate'
    assert _report.status(False, False, True, failed=True) == 'failed'


def test_findings_doc_matches_the_registry():
    text = open(os.path.join(ROOT, 'docs', 'findings.md'), encoding='utf-8').read()
    table = text.split('<!-- BEGIN FINDINGS -->\n', 1)[1].split('<!-- END FINDINGS -->', 1)[0]
    assert table == _report.render_markdown()


def test_every_finding_code_in_the_code_is_registered():
    used = set()
    for path in glob.glob(os.path.join(ROOT, 'plugins', '**', '*.py'), recursive=True):
        source = open(path, encoding='utf-8').read()
        used |= set(re.findall(r"finding\(\s*'([a-z_]+)'", source))
    assert used and not used - set(_report.FINDINGS), sorted(used - set(_report.FINDINGS))


def test_chain_health_counts_drift_of_a_link():
    broken = [_report.finding('identity_access', 'no access', severity=_report.DRIFT)]
    assert not _report.chain_healthy(broken) and not _report.is_compliant(broken)
    assert _report.chain_healthy([_report.finding('encryption_settings', 'differs', severity=_report.DRIFT)])
    assert _report.chain_healthy([_report.finding('key_expiring', 'soon', severity=_report.WARNING)])
