# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ``cmk_record`` filter: one summary entry from a registered module result (documented in cmk_record.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# From the best to the worst: an entry made of several results takes the worst status.
STATUSES = ('compliant', 'changed', 'drift', 'requires_recreate', 'failed')


def _status(result):
    status = result.get('status')
    if status not in STATUSES or (result.get('failed') and status != 'failed'):
        return 'failed'
    return status


def cmk_record(result, service, environment, name, more=None):
    """The summary entry the roles record for one module result (success or failure alike).

    The module's own ``status`` is used as it is; a result without one (a failure before the module ran, such as
    an argument error) is ``failed``. ``more``: further results of the same resource (a loop's ``results``; skipped
    ones are ignored) - the entry takes the worst status and every change and finding.
    """
    results = [result or {}] + [r for r in more or [] if isinstance(r, dict) and not r.get('skipped')]
    status = max((_status(r) for r in results), key=STATUSES.index)
    changes, findings, messages = [], [], []
    for item in results:
        changes.extend(item.get('changes') or [])
        findings.extend(dict((k, f.get(k)) for k in ('code', 'severity', 'message', 'fix')) if isinstance(f, dict)
                        else str(f) for f in item.get('findings') or [])
        if _status(item) == 'failed':
            messages.append(item.get('msg') or 'failed')
    first = results[0]
    return {
        'service': service,
        'environment': environment or '',
        'name': name,
        'id': first.get('id') or first.get('key_id') or '',
        'status': status,
        'changes': changes,
        'findings': findings,
        'message': '; '.join(messages),
    }


class FilterModule:
    """sovereign.cmk result filters."""

    def filters(self):
        return {'cmk_record': cmk_record}
