# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The sovereign.cmk.cmk_report action plugin: options, results, files on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat
from unittest import mock

import pytest

from ansible.errors import AnsibleActionFail
from ansible.playbook.task import Task
from ansible.template import Templar
from ansible.parsing.dataloader import DataLoader

from ansible_collections.sovereign.cmk.plugins.action import cmk_report
from ansible_collections.sovereign.cmk.plugins.plugin_utils import _reports

ENTRIES = [
    {'service': 'storage_account', 'environment': 'prod', 'name': 'st1', 'id': '', 'status': 'changed',
     'changes': ['key'], 'findings': [], 'message': ''},
    {'service': 'aks', 'environment': 'prod', 'name': 'aks1', 'id': '', 'status': 'failed', 'changes': [],
     'findings': ['no access'], 'message': 'Forbidden'},
    {'service': 'storage_account', 'environment': '', 'name': 'st2', 'status': 'unlabelled'},
]


def _run(args, check_mode=False, task_vars=None):
    task = Task.load({'action': 'sovereign.cmk.cmk_report', 'args': args})
    task.check_mode = check_mode
    loader = DataLoader()
    action = cmk_report.ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader, Templar(loader=loader), None)
    return action.run(task_vars=task_vars or {})


def test_summary_only_without_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run({'results': ENTRIES}, check_mode=True)
    assert result['mode'] == 'drift' and result['summary']['mode'] == 'drift'
    assert result['summary']['totals']['drift'] == 1 and result['failed_count'] == 1
    assert result['non_compliant'] == 3 and result['files'] == [] and result['changed'] is False
    assert os.listdir(str(tmp_path)) == []


def test_writes_every_format_relative_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run({'results': ENTRIES, 'dir': 'out/reports', 'scope': {'inventory': 'inv/'}},
                  task_vars={'awx_job_id': 4242})
    target = tmp_path / 'out' / 'reports'
    assert result['files'] == [str(target / _reports.FILENAMES[f]) for f in _reports.FORMATS]
    assert result['mode'] == 'enforce' and result['summary']['totals']['enforced'] == 1
    doc = json.loads((target / 'sovereign-cmk-report.json').read_text(encoding='utf-8'))
    assert doc['run_id'] == '4242' and doc['scope'] == {'inventory': 'inv/'}
    assert doc['collection_version'] == cmk_report.collection_version() != ''
    assert stat.S_IMODE(os.stat(str(target / 'sovereign-cmk-report.html')).st_mode) == 0o644
    assert not [n for n in os.listdir(str(target)) if n.startswith('.')]    # no temporary file left


def test_formats_and_run_id(tmp_path):
    result = _run({'results': [], 'dir': str(tmp_path), 'formats': ['markdown', 'junit'], 'mode': 'drift',
                   'run_id': 'abc'})
    assert [os.path.basename(p) for p in result['files']] == ['sovereign-cmk-report.md', 'sovereign-cmk-report.xml']
    assert result['run_id'] == 'abc' and result['summary']['totals'] == dict.fromkeys(_reports.STATUSES, 0)


def test_random_run_id_is_a_uuid(tmp_path):
    import uuid
    result = _run({'results': [], 'dir': str(tmp_path), 'formats': ['json']})
    assert str(uuid.UUID(result['run_id'])) == result['run_id']


def test_bad_options_fail():
    with pytest.raises(AnsibleActionFail, match='pdf'):
        _run({'results': [], 'formats': ['pdf']})


def test_unwritable_dir_fails(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    with pytest.raises(AnsibleActionFail, match='cannot write the reports'):
        _run({'results': [], 'dir': str(blocker / 'sub')})


def test_collection_version_sources(tmp_path):
    assert cmk_report.collection_version(str(tmp_path)) == cmk_report.COLLECTION_VERSION
    (tmp_path / 'galaxy.yml').write_text('namespace: sovereign\nversion: 9.8.7\n')
    assert cmk_report.collection_version(str(tmp_path)) == '9.8.7'
    (tmp_path / 'MANIFEST.json').write_text(json.dumps({'collection_info': {'version': '1.2.3'}}))
    assert cmk_report.collection_version(str(tmp_path)) == '1.2.3'
