"""The HTML report in a real browser: headless Chromium opens the page the cmk_report action wrote and the test reads
the DOM it dumps (summary counts, the rows a URL fragment filters and sorts, the key chain of an opened row).

The report comes from a real ``ansible-playbook`` run of ``sovereign.cmk.cmk_report`` (check mode, a relative
``dir``) over a synthetic estate of a few thousand entries; ``SOVEREIGN_CMK_REPORT_ENTRIES=<file.json>`` (a JSON list
of entries) replaces the synthetic estate, for example with a generated one.

Chromium comes from the distribution (``make setup`` installs it with apt-get). Without it the test fails, saying so:
a browser test that skips silently proves nothing. ``CHROMIUM=<path>`` names another binary.
"""

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

import pytest

from harness_lib import COLLECTIONS_PATH

from ansible_collections.sovereign.cmk.plugins.plugin_utils import _reports

BIN = os.path.dirname(sys.executable)
SERVICES = ('storage_account', 'managed_disk', 'virtual_machine', 'aks', 'container_group', 'sql_managed_instance')
ENVIRONMENTS = ('dev', 'test', 'prod')
# weights of the statuses in the synthetic estate (every status present)
STATUS_CYCLE = (['compliant'] * 12 + ['changed'] * 2 + ['drift'] * 2 + ['requires_recreate', 'failed', 'unlabelled',
                                                                        'unreachable', 'exception'])
EVIL = '</script><img src=x onerror="document.title=1">&amp; <b>bold</b>'
SUB = '00000000-0000-0000-0000-0000000000%02d'


def _chromium():
    for name in (os.environ.get('CHROMIUM'), 'chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'):
        if name and shutil.which(name):
            return shutil.which(name)
    pytest.fail('Chromium is not installed: run `make setup` (it installs the distribution package `chromium` with '
                'apt-get, as root or with sudo -n), install it by hand, or set CHROMIUM=<path to the binary>',
                pytrace=False)
    return None


def synthetic_entries(count=3000):
    entries = []
    for i in range(count):
        status = STATUS_CYCLE[i % len(STATUS_CYCLE)]
        service = SERVICES[i % len(SERVICES)]
        environment = '' if status == 'unlabelled' else ENVIRONMENTS[(i // 7) % len(ENVIRONMENTS)]
        name = 'res-%05d' % i if i != 5 else EVIL
        rid = '/subscriptions/%s/resourceGroups/rg-%s/providers/Microsoft.Fake/things/%s' % (
            SUB % (i % 4), environment or 'x', 'res-%05d' % i)
        findings = []
        if status in ('drift', 'changed'):
            findings = [{'code': 'identity_access', 'severity': 'drift', 'message': 'identity lacks wrapKey on %s' % name,
                         'fix': 'grant Key Vault Crypto Service Encryption User on the key'}]
        elif status == 'failed':
            findings = ['key is disabled']    # today's entries: findings as plain messages
        entry = {'service': service, 'environment': environment, 'name': name, 'id': rid, 'status': status,
                 'changes': ['key_version'] if status == 'changed' else [], 'findings': findings,
                 'message': 'AuthorizationFailed' if status == 'unreachable' else ''}
        if i % 2:
            entry.update(classification='pii' if i % 4 == 1 else 'general', chain={
                'key_uri': 'https://kv-%s.vault.azure.net/keys/cmk' % (environment or 'x'), 'key_store': 'vault',
                'vault_id': '/subscriptions/%s/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv' % SUB % 0,
                'identities': [{'principal_id': 'principal-%d' % i, 'what': 'system-assigned',
                                'sufficient': status in ('compliant', 'changed')}],
                'healthy': status in ('compliant', 'changed'), 'purge_protection': True, 'soft_delete': True})
        entries.append(entry)
    return entries


@pytest.fixture(scope='module')
def report():
    """(entries as the report holds them, path of the HTML report), from a check-mode ansible-playbook run."""
    source = os.environ.get('SOVEREIGN_CMK_REPORT_ENTRIES')
    if source:
        with open(source, encoding='utf-8') as handle:
            raw = json.load(handle)
    else:
        raw = synthetic_entries()
    work = tempfile.mkdtemp(prefix='sovereign-cmk-report-')
    try:
        with open(os.path.join(work, 'entries.json'), 'w', encoding='utf-8') as handle:
            json.dump({'entries': raw}, handle)
        with open(os.path.join(work, 'play.yml'), 'w', encoding='utf-8') as handle:
            handle.write('- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n'
                         '    - sovereign.cmk.cmk_report:\n        results: "{{ entries }}"\n'
                         '        dir: out/reports\n        scope: {inventory: synthetic}\n      register: r\n'
                         '    - ansible.builtin.copy:\n        content: "{{ r | to_json }}"\n'
                         '        dest: "{{ playbook_dir }}/result.json"\n        mode: "0644"\n      check_mode: false\n')
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith('ANSIBLE_'))
        env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='0',
                   ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
        proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '--check', '-e', '@entries.json', 'play.yml'],
                              cwd=work, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        with open(os.path.join(work, 'result.json'), encoding='utf-8') as handle:
            result = json.load(handle)
        target = os.path.join(work, 'out', 'reports')     # relative to the current directory of ansible-playbook
        assert result['files'] == [os.path.join(target, _reports.FILENAMES[f]) for f in _reports.FORMATS]
        assert result['mode'] == 'drift'
        with open(os.path.join(target, 'sovereign-cmk-report.json'), encoding='utf-8') as handle:
            doc = json.load(handle)
        yield doc, os.path.join(target, 'sovereign-cmk-report.html'), result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def dump(path, fragment=''):
    """The DOM Chromium has after running the page's script (the URL fragment sets the view)."""
    profile = tempfile.mkdtemp(prefix='sovereign-cmk-chromium-')
    try:
        proc = subprocess.run([_chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                               '--user-data-dir=%s' % profile, '--virtual-time-budget=5000', '--dump-dom',
                               'file://%s%s' % (path, fragment)], capture_output=True, text=True, timeout=180, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0 and '<html' in proc.stdout, proc.stderr[-2000:]
    assert 'data-ready="true"' in proc.stdout, 'the page script did not finish: %s' % proc.stderr[-2000:]
    return proc.stdout


def shown(dom):
    match = re.search(r'<p id="shown"[^>]*data-matching="(\d+)" data-total="(\d+)" data-rendered="(\d+)">([^<]*)</p>',
                      dom)
    assert match, 'no "N of M" line in the page'
    return int(match.group(1)), int(match.group(2)), int(match.group(3)), match.group(4)


def rows(dom):
    """The rendered resource rows, in order: (index in the report, status)."""
    found = re.findall(r'<tr class="resource" data-status="([^"]*)" data-environment="[^"]*" data-service="[^"]*" '
                       r'data-index="(\d+)">', dom)
    return [(int(index), status) for status, index in found]


def test_page_opens_with_the_right_summary(report):
    doc, path, result = report
    dom = dump(path)
    resources = doc['resources']
    totals = Counter(r['status'] for r in resources)
    assert result['summary']['totals'] == dict((s, totals.get(s, 0)) for s in _reports.STATUSES)
    cards = dict((s, int(n)) for s, n in re.findall(r'data-status="([a-z_]+)" data-count="(\d+)"', dom))
    assert cards == dict((s, totals.get(s, 0)) for s in _reports.STATUSES)
    assert 'data-total="%d" data-non-compliant="%d"' % (len(resources), result['non_compliant']) in dom
    matching, total, rendered, text = shown(dom)
    assert (matching, total) == (len(resources), len(resources))
    assert rendered == min(100, len(resources)) == len(rows(dom))
    assert text.startswith('%d of %d resources match' % (len(resources), len(resources)))
    # the default order: the worst status first
    ranks = [_reports.SEVERITY_ORDER.index(s) for _index, s in rows(dom)]
    assert ranks == sorted(ranks)
    # per environment table: the counts of the report
    prod = re.search(r'<a href="#environment=prod">prod</a></th>(.*?)</tr>', dom).group(1)
    assert prod.endswith('<td class="num">%d</td>' % sum(1 for r in resources if r['environment'] == 'prod'))


def test_fragment_filters_exactly_the_matching_rows(report):
    doc, path = report[:2]
    resources = doc['resources']
    drift = [i for i, r in enumerate(resources) if r['status'] == 'drift']
    assert drift
    matching, _total, rendered, _text = shown(dump(path, '#status=drift'))
    assert (matching, rendered) == (len(drift), min(100, len(drift)))

    dom = dump(path, '#status=drift&size=all')
    assert sorted(i for i, _status in rows(dom)) == drift
    assert set(s for _index, s in rows(dom)) == {'drift'}

    wanted = sorted(i for i, r in enumerate(resources) if r['status'] in _reports.NON_COMPLIANT
                    and r['environment'] == 'prod' and r['service'] == 'aks')
    dom = dump(path, '#status=noncompliant&environment=prod&service=aks&size=all')
    assert shown(dom)[0] == len(wanted) and sorted(i for i, _status in rows(dom)) == wanted


def test_fragment_sorts_and_pages(report):
    doc, path = report[:2]
    names = sorted(((r['name'].lower(), i) for i, r in enumerate(doc['resources'])), reverse=True)
    dom = dump(path, '#sort=-name&size=25&page=2')
    assert [i for i, _status in rows(dom)] == [i for _name, i in names[25:50]]
    assert 'aria-sort="descending"' in dom and 'page 2 of' in dom


def test_free_text_and_an_opened_chain_with_escaped_text(report):
    doc, path = report[:2]
    evil = [i for i, r in enumerate(doc['resources']) if r['name'] == EVIL]
    assert evil, 'the synthetic estate has a hostile name'
    dom = dump(path, '#q=%s&open=res-00001' % 'res-0000')
    matching = [i for i, r in enumerate(doc['resources']) if 'res-0000' in json.dumps(r).lower()]
    assert shown(dom)[0] == len(matching)
    detail = re.search(r'<tr class="detail" data-detail-for="1">(.*?)</tr>', dom, re.S)
    assert detail, 'the row named in open= is expanded'
    text = detail.group(1)
    for part in ('Key: ', 'kv-', 'Vault / HSM: ', 'Identities and access: ', 'principal-1', 'Encryption setting: '):
        assert part in text, part
    # a hostile name is text in the page, never markup
    dom = dump(path, '#q=onerror&size=all')
    assert shown(dom)[0] >= 1
    assert '<img' not in dom and '<b>bold' not in dom
    assert html.escape(EVIL, quote=False) in dom
