# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This file is private to the sovereign.cmk collection: it may change without notice.

"""The run summary and its reports (JSON, JUnit XML, HTML, Markdown): pure functions, no Ansible, no I/O.

The ``sovereign.cmk.cmk_report`` action plugin calls :func:`build` and writes what it returns. The JSON report's
schema is ``docs/report.schema.json`` (described in ``docs/reports.md``); a unit test checks a produced report
against it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import html
import json
import re
import xml.etree.ElementTree as ET
from urllib.parse import quote

SCHEMA_VERSION = '1.0'

# Every status of an entry, from the best to the worst as the summary lists them.
STATUSES = ('compliant', 'enforced', 'exception', 'drift', 'requires_recreate', 'unlabelled', 'unreachable', 'failed')
# The statuses cmk_fail_on_drift fails on (exception, compliant and enforced are not).
NON_COMPLIANT = ('drift', 'requires_recreate', 'failed', 'unlabelled', 'unreachable')
# The worst first: the order of the reports' "status" sort.
SEVERITY_ORDER = ('failed', 'unreachable', 'unlabelled', 'requires_recreate', 'drift', 'enforced', 'exception',
                  'compliant')
SEVERITIES = ('error', 'drift', 'warning')
BLOCKING = ('error', 'drift')

FORMATS = ('json', 'junit', 'html', 'markdown')
FILENAMES = {
    'json': 'sovereign-cmk-report.json',
    'junit': 'sovereign-cmk-report.xml',
    'html': 'sovereign-cmk-report.html',
    'markdown': 'sovereign-cmk-report.md',
}
LIST_CAP = 200          # non-compliant resources listed in the Markdown report and the text summary
NAMES_CAP = 100         # resource names in failed_resources / non_compliant_resources
DEFAULT_TITLE = 'sovereign.cmk - encryption at rest with customer-managed keys'

_ID = re.compile(r'^/subscriptions/([^/]+)(?:/resourcegroups/([^/]+))?', re.I)
# Characters XML 1.0 cannot carry at all (even escaped).
_XML_INVALID = re.compile(u'[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')


def _text(value):
    """A plain str (also from Ansible's tagged or unsafe strings); None is ''."""
    if value is None:
        return ''
    return str(value)


def _opt(value):
    """A plain str, or None for an empty value."""
    return _text(value) or None


def _default_severity(status):
    """The severity of a finding given as a plain string (today's cmk_record entries carry the message only)."""
    if status in ('failed', 'unreachable', 'unlabelled'):
        return 'error'
    if status in ('drift', 'requires_recreate'):
        return 'drift'
    return 'warning'


def normalize_finding(finding, status):
    """One finding as ``{code, severity, message, fix}`` from a dict (module result) or a plain string."""
    if isinstance(finding, dict):
        severity = _text(finding.get('severity')).lower()
        return {
            'code': _opt(finding.get('code') or finding.get('link')),
            'severity': severity if severity in SEVERITIES else _default_severity(status),
            'message': _text(finding.get('message')),
            'fix': _opt(finding.get('fix')),
        }
    return {'code': None, 'severity': _default_severity(status), 'message': _text(finding), 'fix': None}


def normalize_chain(raw):
    """The key chain of an entry (``chain`` as the modules return it, plus ``disk_encryption_set``), or None."""
    chain = raw.get('chain')
    des = raw.get('disk_encryption_set')
    if not isinstance(chain, dict):
        if not des:
            return None
        chain = {}
    des = chain.get('disk_encryption_set') or des
    if isinstance(des, dict):
        des = des.get('id') or des.get('name')
    identities = []
    for identity in chain.get('identities') or []:
        if isinstance(identity, dict):
            identities.append({'principal_id': _text(identity.get('principal_id')), 'what': _text(identity.get('what')),
                               'sufficient': bool(identity.get('sufficient'))})
    healthy = chain.get('healthy')
    result = {
        'key_uri': _opt(chain.get('key_uri')),
        'key_store': _opt(chain.get('key_store')),
        'vault_id': _opt(chain.get('vault_id')),
        'disk_encryption_set': _opt(des),
        'identities': identities,
        'healthy': None if healthy is None else bool(healthy),
    }
    for name in ('purge_protection', 'soft_delete'):
        value = chain.get(name)
        result[name] = None if value is None else bool(value)
    result['access_model'] = _opt(chain.get('access_model'))
    return result


def normalize_entry(raw, mode):
    """One resource of the report from an entry of the run (today's cmk_record entries or richer ones).

    A role's ``changed`` becomes ``drift`` in drift mode and ``enforced`` otherwise; an unknown status is ``failed``
    (with a message saying so). Missing fields are empty; ``subscription_id`` and ``resource_group`` default to the
    parts of the resource id.
    """
    if not isinstance(raw, dict):
        raw = {'status': 'failed', 'message': 'not a summary entry: %s' % _text(raw)[:200]}
    status = _text(raw.get('status'))
    messages = []
    if status == 'changed':
        status = 'drift' if mode == 'drift' else 'enforced'
    elif status not in STATUSES:
        messages.append('unknown status %r' % status if status else 'no status')
        status = 'failed'
    rid = _text(raw.get('id') or raw.get('resource_id'))
    match = _ID.match(rid)
    message = _text(raw.get('message') or raw.get('msg'))
    if message:
        messages.insert(0, message)
    findings = raw.get('findings') or []
    if not isinstance(findings, (list, tuple)):
        findings = [findings]
    changes = raw.get('changes') or []
    if not isinstance(changes, (list, tuple)):
        changes = [changes]
    return {
        'name': _text(raw.get('name')) or rid.rstrip('/').rsplit('/', 1)[-1],
        'id': rid,
        'service': _text(raw.get('service')),
        'environment': _text(raw.get('environment')),
        'classification': _text(raw.get('classification')),
        'subscription_id': _text(raw.get('subscription_id')) or (match.group(1) if match else ''),
        'resource_group': _text(raw.get('resource_group')) or ((match.group(2) or '') if match else ''),
        'status': status,
        'findings': [normalize_finding(f, status) for f in findings],
        'changes': [_text(c) for c in changes],
        'message': '; '.join(messages),
        'chain': normalize_chain(raw),
    }


def _counts():
    return dict((status, 0) for status in STATUSES)


def summarize(entries, mode):
    """``mode``, ``totals``, ``by_service`` and ``by_environment`` (counts per status) of normalized entries."""
    totals, by_service, by_environment = _counts(), {}, {}
    for entry in entries:
        status = entry['status']
        totals[status] += 1
        by_service.setdefault(entry['service'], _counts())[status] += 1
        by_environment.setdefault(entry['environment'], _counts())[status] += 1
    return {
        'mode': mode,
        'totals': totals,
        'by_service': dict((k, by_service[k]) for k in sorted(by_service)),
        'by_environment': dict((k, by_environment[k]) for k in sorted(by_environment)),
    }


def legacy_resource(entry):
    """An entry of the summary's ``resources`` as summary.j2 gave it (findings as messages), plus the new labels."""
    return {
        'service': entry['service'],
        'environment': entry['environment'],
        'name': entry['name'],
        'id': entry['id'],
        'status': entry['status'],
        'changes': entry['changes'],
        'findings': [f['message'] for f in entry['findings']],
        'message': entry['message'],
        'classification': entry['classification'],
        'subscription_id': entry['subscription_id'],
        'resource_group': entry['resource_group'],
    }


def _label(entry):
    return '%s/%s/%s' % (entry['environment'] or '-', entry['service'] or '-', entry['name'] or entry['id'] or '-')


def _finding_line(finding):
    text = '[%s] %s%s' % (finding['code'] or finding['severity'], finding['message'],
                          (' Fix: %s' % finding['fix']) if finding['fix'] else '')
    return text


def _detail(entry):
    """One line about an entry: its message and findings, or its changes."""
    text = ' '.join(part for part in [entry['message']] + [_finding_line(f) for f in entry['findings']] if part)
    return text.strip() or ', '.join(entry['changes']) or '-'


def text_lines(summary, entries, cap=LIST_CAP):
    """The summary as lines for the job log (what summary_text.j2 printed, with every status)."""
    always = ('compliant', 'enforced', 'drift', 'requires_recreate', 'failed')    # the columns summary_text.j2 had
    statuses = [s for s in STATUSES if summary['totals'][s] or s in always]
    lines = ['sovereign.cmk %s: %s' % (summary['mode'], ', '.join('%s %d' % (s, summary['totals'][s])
                                                                  for s in STATUSES))]
    for title, table in (('per service', summary['by_service']), ('per environment', summary['by_environment'])):
        lines.append('%-24s' % title + ''.join('%18s' % s for s in statuses))
        for name, counts in table.items():
            lines.append('%-24s' % (name or '-') + ''.join('%18s' % counts[s] for s in statuses))
    listed = [e for e in entries if e['status'] != 'compliant']
    for entry in listed[:cap]:
        lines.append('%-18s %s: %s' % (entry['status'], _label(entry), _detail(entry)))
    if len(listed) > cap:
        lines.append('... and %d more (see the reports)' % (len(listed) - cap))
    return lines


def _scope_value(value):
    """A scope value as text: lists joined with commas, mappings (the scan's figures) as ``key value`` pairs."""
    if isinstance(value, (list, tuple)):
        return ', '.join(_text(x) for x in value)
    if isinstance(value, dict):
        return ', '.join('%s %s' % (_text(k).replace('_', ' '), _text(v)) for k, v in value.items()) or '-'
    return _text(value)


def document(entries, summary, generated_at, scope, run_id, collection_version, title=None):
    """The JSON report (schema ``SCHEMA_VERSION``, docs/report.schema.json)."""
    subscriptions = sorted(set(e['subscription_id'] for e in entries if e['subscription_id']))
    return {
        'schema_version': SCHEMA_VERSION,
        'title': title or DEFAULT_TITLE,
        'generated_at': generated_at,
        'mode': summary['mode'],
        'scope': scope or {},
        'subscriptions': subscriptions,
        'collection_version': collection_version,
        'run_id': run_id,
        'statuses': list(STATUSES),
        'non_compliant_statuses': list(NON_COMPLIANT),
        'totals': summary['totals'],
        'non_compliant': sum(summary['totals'][s] for s in NON_COMPLIANT),
        'by_service': summary['by_service'],
        'by_environment': summary['by_environment'],
        'resources': entries,
    }


def render_json(doc):
    return json.dumps(doc, indent=1, sort_keys=False, ensure_ascii=False) + '\n'


# ---------------------------------------------------------------------------------------------------- JUnit XML

def _xml(value):
    return _XML_INVALID.sub(u'\ufffd', _text(value))


def _failure_text(entry, findings):
    lines = ['status: %s' % entry['status']]
    if entry['id']:
        lines.append('id: %s' % entry['id'])
    if entry['message']:
        lines.append('message: %s' % entry['message'])
    for finding in findings:
        lines.append('[%s] %s: %s' % (finding['severity'], finding['code'] or '-', finding['message']))
        if finding['fix']:
            lines.append('    fix: %s' % finding['fix'])
    if entry['changes']:
        lines.append('changes: %s' % ', '.join(entry['changes']))
    return '\n'.join(lines)


def render_junit(doc):
    """JUnit XML: one testsuite per service, one testcase per resource (classname ``<service>.<environment>``).

    A non-compliant resource (or one with error/drift findings) has one ``<failure>`` whose ``type`` is the first
    finding's code (or the status) and whose text lists every finding with its fix; an exception is ``<skipped>``;
    warnings and the resource id go to the testcase's ``<system-out>``.
    """
    entries = doc['resources']
    services = {}
    for entry in entries:
        services.setdefault(entry['service'] or '-', []).append(entry)
    stamp = doc['generated_at'][:19]   # JUnit timestamps carry no time zone; the report's time is UTC
    root = ET.Element('testsuites', {'name': _xml('sovereign.cmk %s' % doc['mode']), 'time': '0'})
    all_tests = all_failures = all_skipped = 0
    for service in sorted(services):
        suite = ET.SubElement(root, 'testsuite', {'name': _xml(service), 'timestamp': stamp, 'time': '0',
                                                  'hostname': 'localhost', 'errors': '0'})
        properties = ET.SubElement(suite, 'properties')
        for name in ('mode', 'run_id', 'collection_version', 'schema_version'):
            ET.SubElement(properties, 'property', {'name': name, 'value': _xml(doc[name])})
        failures = skipped = 0
        seen = set()
        for entry in services[service]:
            classname = '%s.%s' % (service, entry['environment'] or 'unlabelled')
            name = entry['name'] or entry['id'] or '-'
            if (classname, name) in seen:
                name = '%s (%s)' % (name, entry['id'] or entry['resource_group'] or len(seen))
            seen.add((classname, name))
            case = ET.SubElement(suite, 'testcase', {'classname': _xml(classname), 'name': _xml(name), 'time': '0'})
            blocking = [f for f in entry['findings'] if f['severity'] in BLOCKING]
            warnings = [f for f in entry['findings'] if f['severity'] not in BLOCKING]
            if entry['status'] == 'exception':
                skipped += 1
                reason = entry['message'] or 'exception: the service cannot use a customer-managed key this way'
                ET.SubElement(case, 'skipped', {'message': _xml(reason)})
            elif entry['status'] in NON_COMPLIANT or blocking:
                failures += 1
                first = blocking[0] if blocking else None
                kind = (first['code'] if first and first['code'] else entry['status'])
                summary = '%s: %s' % (entry['status'], (first['message'] if first else entry['message'])
                                      or entry['status'])
                if len(blocking) > 1:
                    summary += ' (and %d more finding%s)' % (len(blocking) - 1, 's' if len(blocking) > 2 else '')
                failure = ET.SubElement(case, 'failure', {'type': _xml(kind), 'message': _xml(summary)})
                failure.text = _xml(_failure_text(entry, blocking))
            out = ['id: %s' % entry['id']] if entry['id'] else []
            out.extend('[warning] %s: %s%s' % (f['code'] or '-', f['message'], ('\n    fix: %s' % f['fix'])
                                               if f['fix'] else '') for f in warnings)
            if entry['changes']:
                out.append('changes: %s' % ', '.join(entry['changes']))
            if out:
                ET.SubElement(case, 'system-out').text = _xml('\n'.join(out))
        suite.set('tests', str(len(services[service])))
        suite.set('failures', str(failures))
        suite.set('skipped', str(skipped))
        all_tests += len(services[service])
        all_failures += failures
        all_skipped += skipped
    root.set('tests', str(all_tests))
    root.set('failures', str(all_failures))
    root.set('errors', '0')
    root.set('skipped', str(all_skipped))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding='unicode') + '\n'


# ---------------------------------------------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r'([\\`*_{}\[\]()#+!|~])')


def md(value):
    """Text safe in a Markdown table cell or list item: no markup, no HTML, one line."""
    text = _MD_SPECIAL.sub(r'\\\1', _text(value))
    text = text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
    return re.sub(r'[\r\n]+', ' ', text)


def _md_table(title, table, statuses):
    lines = ['| %s | %s | total |' % (title, ' | '.join(statuses)), '|---|' + '---:|' * (len(statuses) + 1)]
    for name, counts in table.items():
        lines.append('| %s | %s | %d |' % (md(name) or '-', ' | '.join(str(counts[s]) for s in statuses),
                                           sum(counts.values())))
    return lines


def render_markdown(doc, cap=LIST_CAP):
    """A Markdown summary for job logs and pull requests: totals, per service, per environment, and the first
    ``cap`` non-compliant resources with their findings."""
    totals = doc['totals']
    statuses = [s for s in STATUSES if totals[s]] or ['compliant']
    lines = ['# %s' % md(doc['title']), '',
             '%s run `%s`, %s (UTC), sovereign.cmk %s, %d subscription%s.' % (
                 md(doc['mode']).capitalize(), md(doc['run_id']).replace('`', ''), md(doc['generated_at']),
                 md(doc['collection_version']), len(doc['subscriptions']), '' if len(doc['subscriptions']) == 1
                 else 's'), '',
             '**%d resources: %d non-compliant** (%s).' % (
                 len(doc['resources']), doc['non_compliant'],
                 ', '.join('%s %d' % (s, totals[s]) for s in STATUSES if totals[s]) or 'none'), '',
             '| status | resources |', '|---|---:|']
    lines.extend('| %s | %d |' % (s, totals[s]) for s in STATUSES)
    lines.append('')
    lines.append('## Per service')
    lines.append('')
    lines.extend(_md_table('service', doc['by_service'], statuses))
    lines.append('')
    lines.append('## Per environment')
    lines.append('')
    lines.extend(_md_table('environment', doc['by_environment'], statuses))
    lines.append('')
    listed = [e for e in doc['resources'] if e['status'] in NON_COMPLIANT]
    listed.sort(key=lambda e: SEVERITY_ORDER.index(e['status']))
    lines.append('## Non-compliant resources (%d)' % len(listed))
    lines.append('')
    if not listed:
        lines.append('None.')
    for entry in listed[:cap]:
        lines.append('- **%s** %s / %s / %s%s' % (entry['status'], md(entry['environment'] or '-'),
                                                  md(entry['service'] or '-'), md(entry['name'] or '-'),
                                                  (' - %s' % md(entry['message'])) if entry['message'] else ''))
        for finding in entry['findings']:
            lines.append('  - %s `%s`: %s%s' % (finding['severity'], (finding['code'] or '-').replace('`', ''),
                                                md(finding['message']),
                                                (' Fix: %s' % md(finding['fix'])) if finding['fix'] else ''))
    if len(listed) > cap:
        lines.append('')
        lines.append('... and %d more non-compliant resources (not listed here: see the JSON or HTML report).'
                     % (len(listed) - cap))
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------------------------------------------- HTML

def script_json(value):
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` (so no ``</script>`` or
    ``<!--``), no U+2028/U+2029."""
    text = json.dumps(value, separators=(',', ':'), ensure_ascii=False)
    for char, escaped in (('&', '\\u0026'), ('<', '\\u003c'), ('>', '\\u003e'), (u'\u2028', '\\u2028'),
                          (u'\u2029', '\\u2029')):
        text = text.replace(char, escaped)
    return text


def _h(value):
    return html.escape(_text(value), quote=True)


def _html_table(title, key, table, statuses):
    head = ''.join('<th class="num">%s</th>' % _h(s) for s in statuses)
    rows = []
    for name, counts in table.items():
        cells = []
        for status in statuses:
            count = counts[status]
            if count:
                cells.append('<td class="num"><a href="#%s=%s&amp;status=%s">%d</a></td>' % (
                    key, _h(_fragment(name)), _h(status), count))
            else:
                cells.append('<td class="num zero">0</td>')
        rows.append('<tr><th scope="row"><a href="#%s=%s">%s</a></th>%s<td class="num">%d</td></tr>' % (
            key, _h(_fragment(name)), _h(name or '-'), ''.join(cells), sum(counts.values())))
    return ('<table class="counts" id="by-%s"><caption>%s</caption><thead><tr><th>%s</th>%s<th class="num">total</th>'
            '</tr></thead><tbody>%s</tbody></table>' % (key, _h(title), _h(key), head, ''.join(rows)))


def _fragment(value):
    """A value for the URL fragment (percent-encoded like encodeURIComponent)."""
    return quote(_text(value), safe="-_.!~*'()")


def render_html(doc):
    """One self-contained HTML file: inline CSS and JS, the report embedded as JSON, no external asset."""
    totals = doc['totals']
    statuses = [s for s in STATUSES if totals[s]] or ['compliant']
    cards = ''.join('<a class="card st-%s" href="#status=%s" data-status="%s" data-count="%d"><span class="n">%d'
                    '</span><span class="l">%s</span></a>' % (_h(s), _h(s), _h(s), totals[s], totals[s], _h(s))
                    for s in STATUSES)
    scope = doc['scope'] or {}
    scope_text = '; '.join('%s: %s' % (k, _scope_value(v)) for k, v in scope.items()) or '-'
    meta = [('mode', doc['mode']), ('generated (UTC)', doc['generated_at']), ('run id', doc['run_id']),
            ('collection version', doc['collection_version']), ('scope', scope_text),
            ('subscriptions', '%d' % len(doc['subscriptions'])), ('resources', '%d' % len(doc['resources'])),
            ('non-compliant', '%d' % doc['non_compliant'])]
    meta_html = ''.join('<dt>%s</dt><dd>%s</dd>' % (_h(k), _h(v)) for k, v in meta)
    page = _HTML_TEMPLATE
    for marker, value in (
            ('@@TITLE@@', _h(doc['title'])),
            ('@@META@@', meta_html),
            ('@@CARDS@@', cards),
            ('@@BY_ENVIRONMENT@@', _html_table('Per environment', 'environment', doc['by_environment'], statuses)),
            ('@@BY_SERVICE@@', _html_table('Per service', 'service', doc['by_service'], statuses)),
            ('@@TOTAL@@', '%d' % len(doc['resources'])),
            ('@@NONCOMPLIANT@@', '%d' % doc['non_compliant']),
            ('@@SCRIPT@@', _HTML_SCRIPT),
            ('@@DATA@@', script_json(doc))):   # last: the data never goes through another replacement
        page = page.replace(marker, value)
    return page


_HTML_TEMPLATE = u'''<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="sovereign.cmk cmk_report">
<title>@@TITLE@@</title>
<style>
:root { --ok: #1b7f3b; --warn: #9a6700; --bad: #b42318; --info: #475467; --line: #d0d5dd; --bg: #f9fafb; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #101828; }
header, main { padding: 12px 20px; }
header { background: var(--bg); border-bottom: 1px solid var(--line); }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 16px; margin: 18px 0 8px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 2px 12px; margin: 0; }
dl.meta dt { color: var(--info); } dl.meta dd { margin: 0; word-break: break-all; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; margin: 12px 0; }
.card { display: flex; flex-direction: column; min-width: 110px; padding: 8px 12px; border: 1px solid var(--line);
        border-radius: 6px; text-decoration: none; color: inherit; background: #fff; }
.card .n { font-size: 22px; font-weight: 600; } .card .l { color: var(--info); }
.summary { display: flex; flex-wrap: wrap; gap: 24px; }
table { border-collapse: collapse; }
table.counts caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
.num { text-align: right; } .zero { color: #98a2b3; }
.badge { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px; border: 1px solid currentColor; }
.st-compliant, .st-enforced { color: var(--ok); } .st-exception { color: var(--info); }
.st-drift, .st-requires_recreate, .st-unlabelled { color: var(--warn); }
.st-failed, .st-unreachable { color: var(--bad); }
.controls { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 8px 0; }
.controls label { display: flex; gap: 4px; align-items: center; }
#resources { width: 100%; }
#resources thead th { position: sticky; top: 0; background: #fff; cursor: pointer; user-select: none; white-space: nowrap; }
#resources thead th[aria-sort="ascending"]::after { content: " \\25B2"; }
#resources thead th[aria-sort="descending"]::after { content: " \\25BC"; }
td.name { word-break: break-all; }
button.toggle { border: 0; background: none; cursor: pointer; font-size: 12px; width: 20px; }
tr.detail td { background: var(--bg); }
ol.chain { margin: 4px 0; padding-left: 20px; } ol.chain li { margin: 2px 0; }
.ok { color: var(--ok); } .bad { color: var(--bad); } .muted { color: var(--info); }
code { font-size: 12px; word-break: break-all; }
.pager { display: flex; gap: 8px; align-items: center; margin: 8px 0; }
noscript p { color: var(--bad); }
@media print { .controls, .pager, button.toggle { display: none; } #resources thead th { position: static; } }
</style>
</head>
<body>
<header>
<h1>@@TITLE@@</h1>
<dl class="meta">@@META@@</dl>
<nav class="cards" id="totals" data-total="@@TOTAL@@" data-non-compliant="@@NONCOMPLIANT@@">@@CARDS@@</nav>
</header>
<main>
<section class="summary">
@@BY_ENVIRONMENT@@
@@BY_SERVICE@@
</section>
<h2>Resources</h2>
<noscript><p>The resource table needs JavaScript; the same data is in sovereign-cmk-report.json.</p></noscript>
<form class="controls" id="controls" onsubmit="return false">
<label>Status <select id="f-status"><option value="">all</option><option value="noncompliant">non-compliant (all)</option></select></label>
<label>Environment <select id="f-environment"><option value="">all</option></select></label>
<label>Service <select id="f-service"><option value="">all</option></select></label>
<label>Search <input id="f-q" type="search" placeholder="name, id, finding, key..." size="30"></label>
<button type="button" id="f-reset">Reset</button>
</form>
<p id="shown" aria-live="polite" data-matching="" data-total="@@TOTAL@@" data-rendered=""></p>
<div class="pager"><button type="button" id="prev">&larr; previous</button><span id="page"></span><button type="button" id="next">next &rarr;</button></div>
<table id="resources">
<thead><tr><th data-sort=""></th>
<th data-sort="name">name</th>
<th data-sort="status">status</th>
<th data-sort="environment">environment</th>
<th data-sort="service">service</th>
<th data-sort="classification">classification</th>
<th data-sort="subscription_id">subscription</th>
<th data-sort="resource_group">resource group</th>
<th data-sort="findings">findings</th></tr></thead>
<tbody id="rows"></tbody>
</table>
</main>
<script type="application/json" id="cmk-data">@@DATA@@</script>
<script>
@@SCRIPT@@
</script>
</body>
</html>
'''

_HTML_SCRIPT = u'''(function () {
  'use strict';
  var doc = JSON.parse(document.getElementById('cmk-data').textContent);
  var all = doc.resources;
  var ORDER = ['failed', 'unreachable', 'unlabelled', 'requires_recreate', 'drift', 'enforced', 'exception', 'compliant'];
  var NONCOMPLIANT = doc.non_compliant_statuses;
  var DEFAULT_SIZE = 100;
  var $ = function (id) { return document.getElementById(id); };
  var open = {};
  all.forEach(function (r, i) {
    r._i = i;
    r._rank = ORDER.indexOf(r.status);
    var parts = [r.name, r.id, r.status, r.service, r.environment, r.classification, r.subscription_id,
                 r.resource_group, r.message].concat(r.changes || []);
    (r.findings || []).forEach(function (f) { parts.push(f.code || '', f.message || '', f.fix || ''); });
    if (r.chain) { parts.push(r.chain.key_uri || '', r.chain.vault_id || '', r.chain.disk_encryption_set || ''); }
    r._text = parts.join('\\n').toLowerCase();
  });

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }

  function fill(select, values) {
    values.forEach(function (v) { if (v) { select.appendChild(el('option', {value: v, text: v})); } });
  }
  function distinct(key) {
    var seen = {};
    all.forEach(function (r) { seen[r[key]] = true; });
    return Object.keys(seen).sort();
  }
  fill($('f-status'), doc.statuses.filter(function (s) { return doc.totals[s] > 0; }));
  fill($('f-environment'), distinct('environment'));
  fill($('f-service'), distinct('service'));

  function defaults() {
    return {status: '', environment: null, service: null, q: '', sort: 'status', desc: false, page: 1,
            size: DEFAULT_SIZE, open: ''};
  }
  function parseHash() {
    var s = defaults();
    location.hash.replace(/^#/, '').split('&').forEach(function (part) {
      if (!part) { return; }
      var i = part.indexOf('=');
      var k, v;
      try {
        k = decodeURIComponent(i < 0 ? part : part.slice(0, i));
        v = i < 0 ? '' : decodeURIComponent(part.slice(i + 1).replace(/\\+/g, ' '));
      } catch (e) { return; }
      if (k === 'status') { s.status = v; }
      else if (k === 'environment' || k === 'env') { s.environment = v; }
      else if (k === 'service') { s.service = v; }
      else if (k === 'q') { s.q = v; }
      else if (k === 'sort') { s.desc = v.charAt(0) === '-'; s.sort = v.replace(/^-/, '') || 'status'; }
      else if (k === 'page') { s.page = Math.max(1, parseInt(v, 10) || 1); }
      else if (k === 'size') { s.size = v === 'all' ? 0 : Math.max(1, parseInt(v, 10) || DEFAULT_SIZE); }
      else if (k === 'open') { s.open = v; }
    });
    return s;
  }
  function toHash(s) {
    var parts = [];
    var add = function (k, v) { parts.push(k + '=' + encodeURIComponent(v)); };
    if (s.status) { add('status', s.status); }
    if (s.environment !== null) { add('environment', s.environment); }
    if (s.service !== null) { add('service', s.service); }
    if (s.q) { add('q', s.q); }
    if (s.sort !== 'status' || s.desc) { add('sort', (s.desc ? '-' : '') + s.sort); }
    if (s.size !== DEFAULT_SIZE) { add('size', s.size === 0 ? 'all' : s.size); }
    if (s.page > 1) { add('page', s.page); }
    return parts.length ? '#' + parts.join('&') : '';
  }

  var state = parseHash();

  function statusSet(v) {
    if (!v) { return null; }
    var set = {};
    v.split(',').forEach(function (x) {
      if (x === 'noncompliant' || x === 'non-compliant') { NONCOMPLIANT.forEach(function (n) { set[n] = true; }); }
      else { set[x] = true; }
    });
    return set;
  }
  function keyOf(r, key) {
    if (key === 'status') { return r._rank; }
    if (key === 'findings') { return (r.findings || []).length; }
    return (r[key] || '').toString().toLowerCase();
  }
  function matching() {
    var st = statusSet(state.status);
    var q = state.q.toLowerCase().trim();
    var rows = all.filter(function (r) {
      return (!st || st[r.status]) && (state.environment === null || r.environment === state.environment)
        && (state.service === null || r.service === state.service) && (!q || r._text.indexOf(q) >= 0);
    });
    var key = state.sort, sign = state.desc ? -1 : 1;
    rows.sort(function (a, b) {
      var x = keyOf(a, key), y = keyOf(b, key);
      if (x < y) { return -sign; }
      if (x > y) { return sign; }
      var n = a.name.toLowerCase(), m = b.name.toLowerCase();
      return n < m ? -1 : (n > m ? 1 : a._i - b._i);
    });
    return rows;
  }

  function line(label, value, cls) {
    return el('li', {}, [el('strong', {text: label + ': '}), el('span', {text: value || '-', 'class': cls || ''})]);
  }
  function detail(r) {
    var c = r.chain || {};
    var chain = el('ol', {'class': 'chain'});
    chain.appendChild(line('Key', c.key_uri ? c.key_uri + (c.key_store ? ' (' + c.key_store + ')' : '') : 'not reported'));
    var vault = c.vault_id || 'not reported';
    var props = [];
    if (c.purge_protection !== undefined && c.purge_protection !== null) { props.push('purge protection ' + (c.purge_protection ? 'on' : 'OFF')); }
    if (c.soft_delete !== undefined && c.soft_delete !== null) { props.push('soft delete ' + (c.soft_delete ? 'on' : 'OFF')); }
    if (c.access_model) { props.push('access: ' + c.access_model); }
    chain.appendChild(line('Vault / HSM', vault + (props.length ? ' (' + props.join(', ') + ')' : '')));
    var ids = el('li', {}, [el('strong', {text: 'Identities and access: '})]);
    if (!(c.identities || []).length) { ids.appendChild(el('span', {text: 'not reported', 'class': 'muted'})); }
    var idl = el('ul');
    (c.identities || []).forEach(function (i) {
      idl.appendChild(el('li', {}, [el('code', {text: i.principal_id || '-'}), ' ' + (i.what || '') + ' ',
        el('span', {'class': i.sufficient ? 'ok' : 'bad', text: i.sufficient ? 'get/wrapKey/unwrapKey granted' : 'access missing'})]));
    });
    ids.appendChild(idl);
    chain.appendChild(ids);
    chain.appendChild(line('Encryption setting', (c.disk_encryption_set ? 'disk encryption set ' + c.disk_encryption_set + ' on ' : '') + (r.id || r.name)));
    var healthy = c.healthy === true ? 'healthy' : (c.healthy === false ? 'broken' : 'not reported');
    chain.appendChild(line('Chain', healthy, c.healthy === true ? 'ok' : (c.healthy === false ? 'bad' : 'muted')));
    var parts = [el('div', {'class': 'muted', text: 'From key to setting:'}), chain];
    if (r.message) { parts.push(el('p', {}, [el('strong', {text: 'Message: '}), r.message])); }
    var fl = el('ul', {'class': 'findings'});
    (r.findings || []).forEach(function (f) {
      var badge = f.severity === 'warning' ? 'st-exception' : (f.severity === 'drift' ? 'st-drift' : 'st-failed');
      var item = el('li', {'data-severity': f.severity}, [el('span', {'class': 'badge ' + badge, text: f.severity}), ' ',
        el('code', {text: f.code || '-'}), ' ' + f.message]);
      if (f.fix) { item.appendChild(el('div', {}, [el('strong', {text: 'Fix: '}), f.fix])); }
      fl.appendChild(item);
    });
    parts.push(el('div', {}, [el('strong', {text: 'Findings: '}), (r.findings || []).length ? fl : el('span', {text: 'none', 'class': 'muted'})]));
    if ((r.changes || []).length) { parts.push(el('p', {}, [el('strong', {text: 'Changes: '}), r.changes.join(', ')])); }
    return el('tr', {'class': 'detail', 'data-detail-for': String(r._i)}, [el('td', {colspan: '9'}, parts)]);
  }

  function row(r) {
    var btn = el('button', {type: 'button', 'class': 'toggle', 'aria-expanded': open[r._i] ? 'true' : 'false',
                            title: 'key chain and findings', text: open[r._i] ? '\\u25BE' : '\\u25B8'});
    btn.addEventListener('click', function () { open[r._i] = !open[r._i]; render(); });
    var first = (r.findings || [])[0];
    return el('tr', {'class': 'resource', 'data-status': r.status, 'data-environment': r.environment,
                     'data-service': r.service, 'data-index': String(r._i)}, [
      el('td', {}, [btn]), el('td', {'class': 'name', title: r.id, text: r.name}),
      el('td', {}, [el('span', {'class': 'badge st-' + r.status, text: r.status})]),
      el('td', {text: r.environment}), el('td', {text: r.service}), el('td', {text: r.classification}),
      el('td', {text: r.subscription_id}), el('td', {text: r.resource_group}),
      el('td', {text: (r.findings || []).length ? (r.findings.length + ': ' + (first.code || first.message)) : ''})]);
  }

  function syncControls() {
    $('f-status').value = state.status;
    if ($('f-status').value !== state.status) {
      $('f-status').appendChild(el('option', {value: state.status, text: state.status}));
      $('f-status').value = state.status;
    }
    $('f-environment').value = state.environment === null ? '' : state.environment;
    $('f-service').value = state.service === null ? '' : state.service;
    $('f-q').value = state.q;
    Array.prototype.forEach.call(document.querySelectorAll('#resources thead th'), function (th) {
      var k = th.getAttribute('data-sort');
      if (k && k === state.sort) { th.setAttribute('aria-sort', state.desc ? 'descending' : 'ascending'); }
      else { th.removeAttribute('aria-sort'); }
    });
  }

  function render() {
    var rows = matching();
    if (state.open) {
      rows.forEach(function (r) { if (r.name === state.open || r.id === state.open) { open[r._i] = true; } });
      state.open = '';
    }
    var size = state.size || rows.length || 1;
    var pages = Math.max(1, Math.ceil(rows.length / size));
    if (state.page > pages) { state.page = pages; }
    var start = (state.page - 1) * size;
    var slice = rows.slice(start, start + size);
    var body = $('rows');
    var fresh = document.createElement('tbody');
    fresh.id = 'rows';
    slice.forEach(function (r) {
      fresh.appendChild(row(r));
      if (open[r._i]) { fresh.appendChild(detail(r)); }
    });
    body.parentNode.replaceChild(fresh, body);
    var shown = $('shown');
    shown.setAttribute('data-matching', String(rows.length));
    shown.setAttribute('data-rendered', String(slice.length));
    shown.textContent = rows.length + ' of ' + all.length + ' resources match' +
      (rows.length ? '; rows ' + (slice.length ? start + 1 : 0) + '\\u2013' + (start + slice.length) + ' shown' : '') + '.';
    $('page').textContent = 'page ' + state.page + ' of ' + pages;
    $('prev').disabled = state.page <= 1;
    $('next').disabled = state.page >= pages;
    syncControls();
    document.body.setAttribute('data-ready', 'true');
  }

  function update(change) {
    Object.keys(change).forEach(function (k) { state[k] = change[k]; });
    var hash = toHash(state);
    if (history.replaceState) {
      history.replaceState(null, '', hash || location.pathname + location.search);
    }
    render();
  }
  function blankIsAll(v) { return v === '' ? null : v; }
  $('f-status').addEventListener('change', function (e) { update({status: e.target.value, page: 1}); });
  $('f-environment').addEventListener('change', function (e) { update({environment: blankIsAll(e.target.value), page: 1}); });
  $('f-service').addEventListener('change', function (e) { update({service: blankIsAll(e.target.value), page: 1}); });
  var timer = null;
  $('f-q').addEventListener('input', function (e) {
    clearTimeout(timer);
    timer = setTimeout(function () { update({q: e.target.value, page: 1}); }, 150);
  });
  $('f-reset').addEventListener('click', function () { open = {}; update(defaults()); });
  $('prev').addEventListener('click', function () { update({page: state.page - 1}); });
  $('next').addEventListener('click', function () { update({page: state.page + 1}); });
  Array.prototype.forEach.call(document.querySelectorAll('#resources thead th'), function (th) {
    var k = th.getAttribute('data-sort');
    if (!k) { return; }
    th.addEventListener('click', function () {
      update({sort: k, desc: state.sort === k ? !state.desc : false, page: 1});
    });
  });
  window.addEventListener('hashchange', function () { state = parseHash(); render(); });
  render();
}());'''


def build(raw_entries, mode, generated_at, scope=None, run_id='', collection_version='', title=None,
          formats=FORMATS):
    """Everything the action returns and writes: ``(summary, extras, files)``.

    ``summary``: the keys summary.j2 gave (``mode``, ``totals``, ``by_service``, ``by_environment``, ``resources``);
    ``extras``: ``failed_count``, ``non_compliant``, ``failed_resources``, ``non_compliant_resources``, ``text``;
    ``files``: ``{format: content}`` for each of ``formats``.
    """
    entries = [normalize_entry(raw, mode) for raw in raw_entries or []]
    summary = summarize(entries, mode)
    extras = {
        'failed_count': summary['totals']['failed'],
        'non_compliant': sum(summary['totals'][s] for s in NON_COMPLIANT),
        'failed_resources': [_label(e) for e in entries if e['status'] == 'failed'][:NAMES_CAP],
        'non_compliant_resources': ['%s (%s)' % (_label(e), e['status']) for e in entries
                                    if e['status'] in NON_COMPLIANT][:NAMES_CAP],
        'text': text_lines(summary, entries),
    }
    files = {}
    if formats:
        doc = document(entries, summary, generated_at, scope, run_id, collection_version, title)
        renderers = {'json': render_json, 'junit': render_junit, 'html': render_html, 'markdown': render_markdown}
        for name in formats:
            files[name] = renderers[name](doc)
    summary['resources'] = [legacy_resource(e) for e in entries]
    return summary, extras, files
