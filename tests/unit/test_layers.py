# -*- coding: utf-8 -*-
"""The module_utils import graph has no back edge: each file imports only from lower layers."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MU = os.path.join(ROOT, 'plugins', 'module_utils')

# lowest first; a file may import only from files of a strictly lower layer
LAYERS = [
    ('_version', '_ids', '_errors', '_report', '_services', '_diff', '_journal'),   # pure (and the journal's file I/O)
    ('_estate',),                                                        # labels + policy -> the task (pure)
    ('_auth',),
    ('_clients',),
    ('_discovery',),                                                     # discovery (Resource Graph, list calls)
    ('_azure_module',),                                                  # the one wrapper (auth, clients, errors)
    ('_arm',),                                                           # Resource Manager I/O
    ('_vaults',),                                                        # vaults and HSMs
    ('_keys', '_access'),                                                # key lifecycle; grants
    ('_identities',),                                                    # identity envelopes and principals
    ('_chain',),                                                         # key chain verification
    ('_catalog',),                                                       # the key and grant tasks
    ('_des',),                                                           # Disk Encryption Set backend
    ('_targets._base',),
    ('_targets.storage_account', '_targets.managed_disk', '_targets.aks', '_targets.container_group',
     '_targets.sql_managed_instance', '_targets.disk_encryption_set'),
    ('_targets.virtual_machine',),
    ('_targets.adapters',),
    ('_workflow',),                                                      # verify, plan, grant, apply, report
    ('_scan',),                                                          # the bulk scan (the workflow, shared reads)
]
LAYER = dict((name, index) for index, names in enumerate(LAYERS) for name in names)
IMPORT = re.compile(r'^\s*from ansible_collections\.sovereign\.cmk\.plugins\.module_utils(\._targets)?(?:\.(\w+))? import ([\w, ()\n]+)',
                    re.M)


def _module_name(path):
    rel = os.path.relpath(path, MU)[:-3].replace(os.sep, '.')
    return rel


def _imports(path):
    source = open(path, encoding='utf-8').read()
    found = set()
    for targets, module, names in IMPORT.findall(source):
        prefix = '_targets.' if targets else ''
        if module:
            found.add(prefix + module)
        else:
            for name in re.split(r'[\s,()]+', names):
                if name:
                    found.add(prefix + name)
    return found


def test_every_module_util_has_a_layer():
    files = [_module_name(p) for p in glob.glob(os.path.join(MU, '**', '*.py'), recursive=True)
             if not p.endswith('__init__.py')]
    assert sorted(set(files) - set(LAYER)) == []


def test_no_back_edge():
    problems = []
    for path in glob.glob(os.path.join(MU, '**', '*.py'), recursive=True):
        if path.endswith('__init__.py'):
            continue
        name = _module_name(path)
        for imported in _imports(path):
            if imported not in LAYER:
                continue
            if LAYER[imported] >= LAYER[name]:
                problems.append('%s imports %s' % (name, imported))
    assert not problems, problems
