# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ``sovereign.cmk.cmk_report`` action: the run's summary and its reports, on the controller (documented in
plugins/modules/cmk_report.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import tempfile
import uuid

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.sovereign.cmk.plugins.module_utils._version import COLLECTION_VERSION
from ansible_collections.sovereign.cmk.plugins.plugin_utils import _reports

# ``results`` is checked apart: the generic validation walks (and copies) every entry, seconds for 10,000.
OPTIONS_SPEC = dict(
    mode=dict(type='str', choices=['drift', 'enforce']),
    dir=dict(type='path'),
    formats=dict(type='list', elements='str', choices=list(_reports.FORMATS), default=list(_reports.FORMATS)),
    scope=dict(type='dict', default={}),
    run_id=dict(type='str'),
    title=dict(type='str', default=_reports.DEFAULT_TITLE),
)
ARGUMENT_SPEC = dict(OPTIONS_SPEC, results=dict(type='list', elements='raw', required=True))

# The collection's root: plugins/action/ is two levels below it.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collection_version(root=ROOT):
    """The version of the installed collection (MANIFEST.json), of the checkout (galaxy.yml), or the built-in one."""
    try:
        with open(os.path.join(root, 'MANIFEST.json'), encoding='utf-8') as handle:
            return str(json.load(handle)['collection_info']['version'])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        with open(os.path.join(root, 'galaxy.yml'), encoding='utf-8') as handle:
            for line in handle:
                if line.startswith('version:'):
                    return line.split(':', 1)[1].strip().strip('"\'')
    except OSError:
        pass
    return COLLECTION_VERSION


def write_atomically(path, content):
    """Write ``content`` (str, UTF-8) to ``path`` through a temporary file in the same directory, mode 0644."""
    directory = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(handle, 'w', encoding='utf-8', newline='\n') as out:
            out.write(content)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def resolve_dir(path):
    """``dir`` as an absolute path: ``~`` expanded, a relative one against the current directory of
    ansible-playbook (not the playbook's directory)."""
    return os.path.abspath(os.path.expanduser(os.path.expandvars(path)))


class ActionModule(ActionBase):
    """Build the summary and write the reports on the controller (no module is transferred)."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False

    def arguments(self):
        """The validated options, and ``results`` (a list, checked without walking its entries)."""
        options = dict(self._task.args)
        unknown = sorted(set(options) - set(ARGUMENT_SPEC))
        if unknown:
            raise AnsibleActionFail('Unsupported parameters for (%s) module: %s. Supported parameters include: %s.'
                                    % (self._load_name, ', '.join(unknown), ', '.join(sorted(ARGUMENT_SPEC))))
        if 'results' not in options:
            raise AnsibleActionFail('missing required arguments: results')
        results = options.pop('results')
        if isinstance(results, tuple):
            results = list(results)
        if not isinstance(results, list):
            raise AnsibleActionFail('results must be a list of entries, got %s' % type(results).__name__)
        validation = ArgumentSpecValidator(OPTIONS_SPEC).validate(options)
        if validation.error_messages:
            raise AnsibleActionFail('; '.join(validation.error_messages))
        return validation.validated_parameters, results

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args, results = self.arguments()
        mode = args['mode'] or ('drift' if self._task.check_mode else 'enforce')
        run_id = args['run_id'] or task_vars.get('awx_job_id') or task_vars.get('tower_job_id') or str(uuid.uuid4())
        generated = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        formats = list(dict.fromkeys(args['formats'])) if args['dir'] else []
        summary, extras, contents = _reports.build(
            results, mode, generated.strftime('%Y-%m-%dT%H:%M:%SZ'), scope=args['scope'], run_id=str(run_id),
            collection_version=collection_version(), title=args['title'], formats=formats)
        files = []
        if formats:
            directory = resolve_dir(args['dir'])
            try:
                os.makedirs(directory, exist_ok=True)
                for name in formats:
                    path = os.path.join(directory, _reports.FILENAMES[name])
                    write_atomically(path, contents[name])
                    files.append(path)
            except OSError as exc:
                raise AnsibleActionFail('cannot write the reports to %s: %s' % (directory, exc))
        result.update(extras)
        result.update(changed=False, summary=summary, files=files, mode=mode, run_id=str(run_id))
        return result
