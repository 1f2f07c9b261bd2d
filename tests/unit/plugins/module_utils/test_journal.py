# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recovery journal: atomic, private entries keyed by resource id; a lock that survives nothing but its process."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat

from ansible_collections.sovereign.cmk.plugins.module_utils import _journal

RID = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/cg1'


def test_entries_are_private_atomic_and_keyed_case_insensitively(tmp_path):
    journal = _journal.Journal(str(tmp_path / 'j'))
    path = journal.write(RID, 'recreate', body={'location': 'eastus'})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(journal.directory).st_mode) == 0o700
    assert journal.read(RID.upper())['body'] == {'location': 'eastus'}
    entry = json.load(open(path, encoding='utf-8'))
    assert entry['kind'] == 'recreate' and entry['resource_id'] == RID and entry['version'] == 1
    assert [name for name in os.listdir(journal.directory) if name.startswith('.tmp-')] == []
    assert journal.remove(RID) and journal.read(RID) is None and not journal.remove(RID)


def test_directory_from_option_environment_or_default(monkeypatch, tmp_path):
    monkeypatch.delenv(_journal.ENV_DIR, raising=False)
    assert _journal.journal_dir().endswith(os.path.join('.ansible', 'sovereign_cmk', 'journal'))
    monkeypatch.setenv(_journal.ENV_DIR, str(tmp_path / 'env'))
    assert _journal.journal_dir() == str(tmp_path / 'env')
    assert _journal.journal_dir(str(tmp_path / 'opt')) == str(tmp_path / 'opt')


def test_a_corrupt_entry_is_reported_not_ignored(tmp_path):
    journal = _journal.Journal(str(tmp_path))
    with open(journal.path(RID), 'w', encoding='utf-8') as handle:
        handle.write('{not json')
    try:
        journal.read(RID)
        raise AssertionError('no error')
    except _journal.JournalError as exc:
        assert 'not valid JSON' in str(exc) and RID in str(exc)


def test_lock_is_exclusive_and_a_dead_holder_is_taken_over(tmp_path):
    journal = _journal.Journal(str(tmp_path))
    assert journal.lock(RID)
    assert not journal.lock(RID)            # held by this (live) process
    journal.unlock(RID)
    assert journal.lock(RID)
    journal.unlock(RID)
    # a lock left by a process that died (kill -9) is stale
    with open(journal.path(RID) + '.lock', 'w', encoding='utf-8') as handle:
        json.dump({'pid': 2 ** 22 + 12345, 'host': _journal.socket.gethostname()}, handle)
    assert journal.lock(RID)
    journal.unlock(RID)
    # a lock of another host is respected
    with open(journal.path(RID) + '.lock', 'w', encoding='utf-8') as handle:
        json.dump({'pid': 1, 'host': 'another-host'}, handle)
    assert not journal.lock(RID)
