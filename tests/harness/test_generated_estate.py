"""End to end on a generated estate (emulator/azemu/generate.py): the drift check finds every injected break, and the
bulk scan agrees with the per-resource modules finding for finding.

A small estate over three subscriptions with a break on most labelled resources (all break kinds), loaded into the
emulator; the collection's drift playbook runs over the generated inventory - with the scan (one task) and with
``cmk_scan=false`` (one ``azure_cmk_target`` task per resource) - and each resource's status (and, for a broken key
chain, the finding code in its message) must be the one `BREAKS` names for its break; resources without a break are
compliant; unlabelled and exception resources are reported as such; and both runs give every resource the same status
and the same findings.
"""

import json
import os
import re
import subprocess
import tempfile

import pytest

from harness_lib import ROOT, admin, ansible_env
from test_report_browser import dump, rows, shown

from azemu.generate import BREAKS, generate_estate


def _expected_status(service, kind, overrides):
    return overrides.get('%s/%s' % (service, kind)) or BREAKS[kind]['status']


@pytest.fixture()
def generated(emulator):
    # three subscriptions: the key stores live in the first one, the workloads in all three
    estate = generate_estate(40, subscriptions=3, break_share=0.85, seed=3)
    admin(emulator, 'POST', '/_emulator/reset')
    emulator.load_seed(estate.seed)
    yield estate
    admin(emulator, 'POST', '/_emulator/reset')


def drift(emu_env, inventory, **extra):
    summary_path = os.path.join(str(inventory), 'summary.json')
    extra.update(cmk_summary_file=summary_path, cmk_fail_on_failure=False, cmk_report_dir=os.path.join(str(inventory),
                                                                                                       'reports'))
    cmd = ['ansible-playbook', 'sovereign.cmk.drift', '-i', str(inventory), '-f', '8', '-e', json.dumps(extra)]
    result = subprocess.run(cmd, env=ansible_env(emu_env), cwd=ROOT, capture_output=True, text=True, timeout=900,
                            check=False)
    assert result.returncode == 0, '%s\n%s' % (result.stdout[-20000:], result.stderr[-5000:])
    with open(summary_path, encoding='utf-8') as handle:
        return json.load(handle)


def verdicts(summary, names):
    found = {}
    for entry in summary['resources']:
        if entry['name'] in names:
            found[entry['name']] = (entry['status'], sorted(f['message'] if isinstance(f, dict) else f
                                                            for f in entry.get('findings') or []))
    return found


def test_generated_estate_drift_finds_every_break(generated, emu_env):
    estate = generated
    document = estate.expected_document()
    inventory = estate.inventory(tempfile.mkdtemp(prefix='generated-inventory-'))
    summary = drift(emu_env, inventory)
    entries = {}
    for entry in summary['resources']:
        entries.setdefault(entry['name'], entry)
    services = {r.name: r.service for r in estate.resources}
    problems = []
    for name, kinds in sorted(estate.expected.items()):
        entry = entries.get(name)
        if entry is None:
            problems.append('%s: not in the summary' % name)
            continue
        if not kinds:
            if entry['status'] != 'compliant':
                problems.append('%s (compliant): %s %s' % (name, entry['status'], entry.get('findings')))
            continue
        kind = kinds[0]
        wanted = _expected_status(services[name], kind, document['status_overrides'])
        if entry['status'] != wanted:
            problems.append('%s (%s): status %s, expected %s: %s' % (name, kind, entry['status'], wanted,
                                                                     (entry.get('message') or entry.get('findings'))))
        elif wanted == 'failed' and '[%s]' % BREAKS[kind]['finding'] not in (entry.get('message') or ''):
            problems.append('%s (%s): no [%s] in %s' % (name, kind, BREAKS[kind]['finding'], entry.get('message')))
    assert not problems, '\n'.join(problems)
    covered = {kind for kinds in estate.expected.values() for kind in kinds}
    assert covered == set(BREAKS), set(BREAKS) - covered
    # unlabelled and exception resources are reported, never silently skipped
    for resource in estate.resources:
        if resource.category != 'cmk':
            assert entries[resource.name]['status'] in ('unlabelled', 'exception'), entries[resource.name]

    # the HTML report of the run, in a real browser: the right counts, and filtering works
    page = os.path.join(str(inventory), 'reports', 'sovereign-cmk-report.html')
    totals = summary['totals']
    dom = dump(page)
    cards = dict((s, int(n)) for s, n in re.findall(r'data-status="([a-z_]+)" data-count="(\d+)"', dom))
    assert cards == dict((s, n) for s, n in totals.items() if s in cards) and sum(cards.values()) == len(
        summary['resources'])
    assert shown(dom)[:2] == (len(summary['resources']), len(summary['resources']))
    dom = dump(page, '#status=drift&size=all')
    assert shown(dom)[0] == totals['drift'] == len(rows(dom)) and set(s for _i, s in rows(dom)) == {'drift'}
    non_compliant = sum(totals[s] for s in ('drift', 'requires_recreate', 'failed', 'unlabelled', 'unreachable'))
    assert shown(dump(page, '#status=noncompliant'))[0] == non_compliant

    # the per-resource modules (one task per host) agree with the scan, finding for finding
    per_host = drift(emu_env, inventory, cmk_scan=False)
    labelled = set(estate.expected)
    assert verdicts(summary, labelled) == verdicts(per_host, labelled)
