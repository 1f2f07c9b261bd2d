"""End to end on a generated estate (emulator/azemu/generate.py): the drift check finds every injected break.

A small estate with a break on every labelled resource (all break kinds), loaded into the emulator; the collection's
drift playbook runs over the generated inventory and each resource's status (and, for a broken key chain, the finding
code in its message) must be the one `BREAKS` names for its break; resources without a break are compliant.
Run it alone: python -m pytest tests/harness/test_generated_estate.py -k generated (about two minutes).
"""

import json
import os
import subprocess
import tempfile

import pytest

from harness_lib import ROOT, admin, ansible_env

from azemu.generate import BREAKS, generate_estate


def _expected_status(service, kind, overrides):
    return overrides.get('%s/%s' % (service, kind)) or BREAKS[kind]['status']


@pytest.fixture()
def generated(emulator):
    # one subscription: the collection looks key stores up in the resource's own subscription (see the report)
    estate = generate_estate(40, subscriptions=1, break_share=0.85, seed=3)
    admin(emulator, 'POST', '/_emulator/reset')
    emulator.load_seed(estate.seed)
    yield estate
    admin(emulator, 'POST', '/_emulator/reset')


def test_generated_estate_drift_finds_every_break(generated, emu_env):
    estate = generated
    document = estate.expected_document()
    inventory = estate.inventory(tempfile.mkdtemp(prefix='generated-inventory-'))
    summary_path = os.path.join(str(inventory), 'summary.json')
    cmd = ['ansible-playbook', 'sovereign.cmk.drift', '-i', str(inventory), '-f', '8',
           '-e', json.dumps({'cmk_summary_file': summary_path, 'cmk_fail_on_failure': False})]
    result = subprocess.run(cmd, env=ansible_env(emu_env), cwd=ROOT, capture_output=True, text=True, timeout=900,
                            check=False)
    assert result.returncode == 0, '%s\n%s' % (result.stdout[-20000:], result.stderr[-5000:])
    with open(summary_path, encoding='utf-8') as handle:
        summary = json.load(handle)
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
    # nothing outside cmk_resources was looked at
    outside = {r.name for r in estate.resources if r.category != 'cmk'}
    assert not outside & set(entries)
