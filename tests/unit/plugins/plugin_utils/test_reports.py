# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The run summary and its reports (plugins/plugin_utils/_reports.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import time
import xml.etree.ElementTree as ET

import jsonschema

from ansible_collections.sovereign.cmk.plugins.plugin_utils import _reports

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SUB = '11111111-2222-3333-4444-555555555555'
EVIL = '<img src=x onerror=alert(1)></script><script>alert(2)</script> & "quotes" | *md* `tick` \u2028'


def _id(name, rg='rg-data', sub=SUB):
    return '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/%s' % (sub, rg, name)


def legacy(name, status, environment='prod', service='storage_account', findings=(), changes=(), message=''):
    """An entry as the cmk_record filter gives it today."""
    return {'service': service, 'environment': environment, 'name': name, 'id': _id(name), 'status': status,
            'changes': list(changes), 'findings': list(findings), 'message': message}


def rich(name, status, **more):
    entry = legacy(name, status)
    entry.update(classification='pii', chain={
        'key_uri': 'https://kv-prod.vault.azure.net/keys/pii', 'key_store': 'vault',
        'vault_id': '/subscriptions/%s/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-prod' % SUB,
        'purge_protection': True, 'soft_delete': True, 'access_model': 'rbac',
        'identities': [{'principal_id': 'p-1', 'what': 'system-assigned', 'sufficient': status == 'compliant',
                        'effective_access': {'sufficient': False}}],
        'healthy': status == 'compliant'})
    entry.update(more)
    return entry


ENTRIES = [
    legacy('st-ok', 'compliant'),
    legacy('st-fixed', 'changed', changes=['key_version']),
    rich('st-drift', 'drift', findings=[{'code': 'identity_access', 'severity': 'drift', 'message': 'no access',
                                         'fix': 'grant get/wrapKey/unwrapKey', 'link': 'identity_access'},
                                        {'code': 'key_expiring', 'severity': 'warning', 'message': 'expires soon',
                                         'fix': None}]),
    legacy('aks-1', 'requires_recreate', environment='test', service='aks', findings=['DES set at creation only']),
    legacy('ci-1', 'failed', environment='dev', service='container_group', message='Forbidden'),
    {'name': 'st-nolabel', 'id': _id('st-nolabel', sub='99999999-0000-0000-0000-000000000000'), 'service':
     'storage_account', 'status': 'unlabelled', 'findings': ['no environment label']},
    {'name': 'sub-x', 'service': 'storage_account', 'environment': 'prod', 'status': 'unreachable',
     'subscription_id': 'aaaaaaaa-0000-0000-0000-000000000000', 'message': 'AuthorizationFailed'},
    {'name': 'redis-1', 'service': 'redis', 'environment': 'prod', 'status': 'exception',
     'message': 'Azure Cache for Redis Basic: no CMK'},
    legacy(EVIL, 'drift', findings=[{'code': 'encryption_settings', 'severity': 'drift', 'message': EVIL,
                                     'fix': EVIL}], message=EVIL),
]


def _build(entries=None, mode='drift', formats=_reports.FORMATS):
    return _reports.build(ENTRIES if entries is None else entries, mode, '2025-06-01T12:00:00Z',
                          scope={'subscriptions': [SUB], 'inventory': 'examples/inventory'}, run_id='run-1',
                          collection_version='0.2.0', formats=formats)


def test_summary_totals_and_legacy_keys():
    summary, extras, files = _build(formats=())
    assert files == {}
    assert set(summary) == {'mode', 'totals', 'by_service', 'by_environment', 'resources'}
    assert summary['mode'] == 'drift'
    assert summary['totals'] == {'compliant': 1, 'enforced': 0, 'exception': 1, 'drift': 3, 'requires_recreate': 1,
                                 'unlabelled': 1, 'unreachable': 1, 'failed': 1}
    assert summary['by_environment']['prod']['drift'] == 3 and summary['by_environment']['']['unlabelled'] == 1
    assert list(summary['by_service']) == sorted(summary['by_service'])
    assert summary['by_service']['aks']['requires_recreate'] == 1
    assert sum(sum(c.values()) for c in summary['by_service'].values()) == len(ENTRIES)
    first = summary['resources'][0]
    for key in ('service', 'environment', 'name', 'id', 'status', 'changes', 'findings', 'message'):
        assert key in first
    # findings stay messages in the summary, as summary.j2 gave them
    assert summary['resources'][2]['findings'] == ['no access', 'expires soon']
    assert extras['failed_count'] == 1
    assert extras['non_compliant'] == 7    # drift x3, requires_recreate, failed, unlabelled, unreachable
    assert extras['failed_resources'] == ['dev/container_group/ci-1']
    assert 'prod/storage_account/sub-x (unreachable)' in extras['non_compliant_resources']
    assert extras['text'][0].startswith('sovereign.cmk drift: compliant 1, enforced 0')


def test_changed_is_enforced_in_enforce_mode_and_unknown_status_fails():
    summary = _build([legacy('a', 'changed'), legacy('b', 'weird'), {'name': 'c'}], mode='enforce', formats=())[0]
    assert [r['status'] for r in summary['resources']] == ['enforced', 'failed', 'failed']
    assert "unknown status 'weird'" in summary['resources'][1]['message']
    assert summary['resources'][2]['message'] == 'no status'


def test_entry_defaults():
    entry = _reports.normalize_entry({'id': _id('st9', rg='rg-x'), 'status': 'failed', 'findings': ['broken']}, 'drift')
    assert entry['name'] == 'st9' and entry['subscription_id'] == SUB and entry['resource_group'] == 'rg-x'
    assert entry['findings'] == [{'code': None, 'severity': 'error', 'message': 'broken', 'fix': None}]
    assert entry['chain'] is None and entry['classification'] == ''
    des = _reports.normalize_entry({'status': 'compliant', 'disk_encryption_set': {'id': '/des/1'}}, 'drift')
    assert des['chain']['disk_encryption_set'] == '/des/1' and des['chain']['identities'] == []


def test_json_report_matches_its_schema():
    files = _build()[2]
    doc = json.loads(files['json'])
    with open(os.path.join(ROOT, 'docs', 'report.schema.json'), encoding='utf-8') as handle:
        schema = json.load(handle)
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(doc, schema)
    assert doc['schema_version'] == _reports.SCHEMA_VERSION
    assert doc['subscriptions'] == sorted({SUB, '99999999-0000-0000-0000-000000000000',
                                           'aaaaaaaa-0000-0000-0000-000000000000'})
    assert doc['run_id'] == 'run-1' and doc['collection_version'] == '0.2.0' and doc['mode'] == 'drift'
    drift = [r for r in doc['resources'] if r['name'] == 'st-drift'][0]
    assert drift['chain']['identities'] == [{'principal_id': 'p-1', 'what': 'system-assigned', 'sufficient': False}]
    assert drift['findings'][0] == {'code': 'identity_access', 'severity': 'drift', 'message': 'no access',
                                    'fix': 'grant get/wrapKey/unwrapKey'}
    # a broken document does not pass
    doc['resources'][0]['status'] = 'changed'
    try:
        jsonschema.validate(doc, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError('the schema accepts an unknown status')


def test_junit_parses_and_counts():
    xml = _build()[2]['junit']
    root = ET.fromstring(xml.encode('utf-8'))
    assert root.tag == 'testsuites'
    assert (root.get('tests'), root.get('failures'), root.get('skipped'), root.get('errors')) == ('9', '7', '1', '0')
    suites = dict((s.get('name'), s) for s in root.findall('testsuite'))
    assert sorted(suites) == ['aks', 'container_group', 'redis', 'storage_account']
    storage = suites['storage_account']
    assert storage.get('tests') == '6' and storage.get('failures') == '5'   # 3 drift, unlabelled, unreachable
    cases = dict((c.get('name'), c) for c in storage.findall('testcase'))
    failure = cases['st-drift'].find('failure')
    assert failure.get('type') == 'identity_access' and 'grant get/wrapKey/unwrapKey' in failure.text
    assert cases['st-drift'].get('classname') == 'storage_account.prod'
    assert 'key_expiring' in cases['st-drift'].find('system-out').text    # warnings as system-out
    assert cases['st-ok'].find('failure') is None
    assert cases['st-fixed'].find('failure').get('type') == 'drift'     # changed in drift mode: drift
    assert cases['st-nolabel'].get('classname') == 'storage_account.unlabelled'
    assert cases['st-nolabel'].find('failure').get('type') == 'unlabelled'
    assert cases['sub-x'].find('failure').get('type') == 'unreachable'
    assert suites['redis'].find('testcase/skipped') is not None
    # text comes back as it was given (escaped on the way, not mangled)
    evil = [c for c in storage.findall('testcase') if c.get('name').startswith('<img')][0]
    assert evil.get('name') == EVIL and EVIL in evil.find('failure').text


def test_junit_drops_characters_xml_cannot_carry():
    xml = _build([legacy('bad\x00\x1bname', 'failed', message='nul \x00')])[2]['junit']
    case = ET.fromstring(xml.encode('utf-8')).find('testsuite/testcase')
    assert case.get('name') == 'bad\ufffd\ufffdname'


def test_markdown_caps_the_list():
    entries = [legacy('st-%04d' % i, 'drift', findings=['differs']) for i in range(250)] + [legacy('ok', 'compliant')]
    text = _build(entries, formats=['markdown'])[2]['markdown']
    assert text.count('\n- **drift**') == 200
    assert '... and 50 more non-compliant resources' in text
    assert '| drift | 250 |' in text and '| compliant | 1 |' in text
    assert '## Per service' in text and '## Per environment' in text


def test_markdown_escapes():
    text = _build(formats=['markdown'])[2]['markdown']
    assert '<img' not in text and '</script>' not in text and '&lt;img' in text
    assert '\\|' in text and '\\*md\\*' in text
    assert '\u2028' not in text.split('\n- **drift**')[0]


def _html():
    return _build()[2]['html']


def test_html_is_self_contained():
    page = _html()
    data = re.search(r'<script type="application/json" id="cmk-data">(.*?)</script>', page, re.S).group(1)
    rest = page.replace(data, '')
    # no external reference anywhere outside the embedded data (key URIs there are inert text)
    assert not re.search(r'https?://', rest), re.findall(r'.{30}https?://.{30}', rest)
    references = re.findall(r'(?:src|href|action)\s*=\s*["\']?([^"\'\s>]*)', rest, re.I)
    assert references and all(r.startswith('#') for r in references), references
    assert '<link' not in rest and '@import' not in rest and 'url(' not in rest
    assert "default-src 'none'" in rest


def test_html_escapes_everything():
    page = _html()
    # the embedded JSON cannot close its script element or open a comment; it still holds the text exactly
    blocks = re.findall(r'<script type="application/json" id="cmk-data">(.*?)</script>', page, re.S)
    assert len(blocks) == 1
    data = blocks[0]
    assert '<' not in data and '>' not in data and '\u2028' not in data
    doc = json.loads(data)
    assert [r for r in doc['resources'] if r['name'] == EVIL][0]['findings'][0]['fix'] == EVIL
    # exactly the two script elements of the template: no element injected by a name or a message
    assert page.count('<script') == 2 and page.count('</script>') == 2
    assert '<img' not in page


def test_html_summary_counts():
    page = _html()
    assert 'data-total="9" data-non-compliant="7"' in page
    assert 'data-status="drift" data-count="3"' in page
    assert '<a href="#environment=prod&amp;status=drift">3</a>' in page


def test_ten_thousand_entries_render_quickly():
    services = ['storage_account', 'managed_disk', 'virtual_machine', 'aks', 'container_group', 'sql_managed_instance']
    statuses = ['compliant'] * 6 + ['drift', 'failed', 'requires_recreate', 'exception']
    entries = [rich('res-%05d' % i, statuses[i % len(statuses)], service=services[i % 6],
                    environment=['dev', 'test', 'prod'][i % 3],
                    findings=[{'code': 'identity_access', 'severity': 'drift', 'message': 'no access', 'fix': 'grant'}]
                    if i % 10 == 6 else [])
               for i in range(10000)]
    start = time.time()
    summary, extras, files = _build(entries)
    elapsed = time.time() - start
    assert summary['totals']['drift'] == 1000 and extras['non_compliant'] == 3000
    assert len(files['html']) < 15 * 1024 * 1024
    assert elapsed < 10, elapsed
