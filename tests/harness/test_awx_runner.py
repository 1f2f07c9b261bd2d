"""The drift job template run as AWX runs it, against the emulator's demo estate.

AWX (through receptor) hands ansible-runner a private data directory: the project checkout in project/, the
inventory as a script in inventory/, the job template's extra vars merged with the survey answers in
env/extravars, the credential's injected variables in the environment, and `--check --diff` for a check job
with diff mode. This test builds the same directory from awx/vars/templates.yml (the definition awx/configure.yml
sends to the controller), with the collection installed from its tarball (as the execution environment has it),
the inventory imported the way an AWX inventory source imports it (`ansible-inventory --list --export`), and
only the variables the built-in "Microsoft Azure Resource Manager" credential type injects
(AZURE_SUBSCRIPTION_ID, AZURE_CLIENT_ID, AZURE_SECRET, AZURE_TENANT). Then it checks the job's artifacts: the
status, the set_stats summary in the playbook_on_stats event, the summary file in the project directory.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml

from harness_lib import ROOT, JOURNAL_DIR, admin
from test_enforce_e2e import REQUIRES_RECREATE, SEEDED_DRIFT, demo_estate

from azemu.seed import OPERATOR_CLIENT_ID, OPERATOR_OBJECT_ID  # noqa: E402  (harness_lib puts emulator/ on the path)

BIN = os.path.dirname(sys.executable)
# The operator service principal of the emulator, as an AWX credential of the built-in Azure RM type holds it.
AWX_CREDENTIAL = {'subscription': '5a0e0e5e-0000-4000-8000-000000000001', 'client': OPERATOR_CLIENT_ID,
                  'secret': 'emulator-operator-secret', 'tenant': '72f988bf-0000-4000-8000-00000000c0de'}
# What the built-in credential type injects (awx/main/models/credential/injectors: azure_rm, service principal).
INJECTED = {'AZURE_SUBSCRIPTION_ID': AWX_CREDENTIAL['subscription'], 'AZURE_CLIENT_ID': AWX_CREDENTIAL['client'],
            'AZURE_SECRET': AWX_CREDENTIAL['secret'], 'AZURE_TENANT': AWX_CREDENTIAL['tenant']}
# The emulator's own plumbing (its proxy, CA bundle and managed-identity endpoint: the network of the test);
# its azure-identity credential variables are left out so that only the AWX credential can authenticate.
PLUMBING = ('HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'REQUESTS_CA_BUNDLE',
            'IDENTITY_ENDPOINT', 'IDENTITY_HEADER')

with open(os.path.join(ROOT, 'awx', 'vars', 'templates.yml'), encoding='utf-8') as _handle:
    TEMPLATES = {t['name']: t for t in yaml.safe_load(_handle)['cmk_awx_job_templates']}
DRIFT = TEMPLATES['sovereign.cmk drift']


def survey_answers(template, answers):
    """The survey answers AWX accepts: defaults for questions not answered, choices validated, multiselect as a list."""
    result = {}
    for question in template['survey_spec']['spec']:
        name, kind = question['variable'], question['type']
        value = answers.get(name, question.get('default'))
        choices = question['choices']
        if kind == 'multiselect':
            value = value.split('\n') if isinstance(value, str) else list(value)
            assert set(value) <= set(choices), 'AWX refuses %s=%r' % (name, value)
        else:
            assert value in choices, 'AWX refuses %s=%r' % (name, value)
        result[name] = value
    return result


@pytest.fixture(scope='module')
def collections():
    """sovereign.cmk installed from its tarball, as the execution environment has it."""
    work = tempfile.mkdtemp(prefix='sovereign-cmk-awx-ee-')
    try:
        subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', work, ROOT],
                       check=True, capture_output=True, text=True)
        tarball = glob.glob(os.path.join(work, 'sovereign-cmk-*.tar.gz'))[0]
        subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '-p',
                        os.path.join(work, 'collections'), tarball], check=True, capture_output=True, text=True)
        yield os.path.join(work, 'collections')
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope='module')
def inventory_json(emu_env):
    """The inventory source's import: what AWX stores and then serves to the job as an inventory script."""
    env = {k: v for k, v in emu_env.items() if k in PLUMBING}
    env['PATH'] = BIN + os.pathsep + os.environ.get('PATH', '')
    result = subprocess.run([os.path.join(BIN, 'ansible-inventory'), '-i', os.path.join(ROOT, 'examples', 'inventory'),
                             '--list', '--export'], env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


@pytest.fixture(scope='module')
def demo(emulator):
    admin(emulator, 'POST', '/_emulator/reset')
    demo_estate.load(emulator)
    yield emulator
    admin(emulator, 'POST', '/_emulator/reset')


def _hosts(inventory_json):
    return sorted(set(inventory_json['_meta']['hostvars']) | {h for g in inventory_json.values() for h in (g.get('hosts') or [])})


def sliced(inventory_json, number, count):
    """The inventory of slice `number` of `count`, as AWX serves it to a sliced job: the hosts ordered by name, every
    count-th from the number-th (groups and their variables stay; localhost plays run in every slice)."""
    hosts = _hosts(inventory_json)
    keep = set(hosts[number - 1::count])
    result = json.loads(json.dumps(inventory_json))
    for name, group in result.items():
        if name != '_meta' and group.get('hosts'):
            group['hosts'] = [h for h in group['hosts'] if h in keep]
    result['_meta']['hostvars'] = {h: v for h, v in result['_meta']['hostvars'].items() if h in keep}
    return result


def start_job(emu_env, collections, inventory_json, template, answers, extra=None):
    """One AWX job of `template`: the private data directory, then `ansible-runner run` (what the EE runs)."""
    private = tempfile.mkdtemp(prefix='sovereign-cmk-awx-job-')
    project = os.path.join(private, 'project')
    for name in ('awx', 'examples'):  # the project checkout (the files the job can see)
        shutil.copytree(os.path.join(ROOT, name), os.path.join(project, name))
    os.makedirs(os.path.join(private, 'inventory'))
    os.makedirs(os.path.join(private, 'env'))
    script = os.path.join(private, 'inventory', 'hosts')
    with open(script, 'w', encoding='utf-8') as handle:
        handle.write('#!%s\nimport sys\nsys.stdout.write(%r)\n' % (sys.executable, json.dumps(inventory_json)))
    os.chmod(script, 0o700)
    extravars = dict(template['extra_vars'], **survey_answers(template, answers))
    extravars.update(extra or {})
    with open(os.path.join(private, 'env', 'extravars'), 'w', encoding='utf-8') as handle:
        yaml.safe_dump(extravars, handle)
    cmdline = (['--check'] if template['job_type'] == 'check' else []) + (['--diff'] if template['diff_mode'] else [])
    with open(os.path.join(private, 'env', 'cmdline'), 'w', encoding='utf-8') as handle:
        handle.write(' '.join(cmdline))
    env = {k: v for k, v in emu_env.items() if k in PLUMBING}
    env.update(INJECTED)
    env.update({
        'PATH': BIN + os.pathsep + os.environ.get('PATH', ''),
        'HOME': os.environ.get('HOME', private),
        'ANSIBLE_COLLECTIONS_PATH': collections,             # the EE's /usr/share/ansible/collections
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,         # the EE's python
        'SOVEREIGN_CMK_JOURNAL_DIR': JOURNAL_DIR,             # the persistent volume of the journal
        'ANSIBLE_FORCE_COLOR': '0',
    })
    process = subprocess.Popen([os.path.join(BIN, 'ansible-runner'), 'run', private, '-p', template['playbook'],  # pylint: disable=consider-using-with
                                '--ident', 'job'], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process, private, project


def finish_job(started):
    """Wait for the job, then read its artifacts: status, command, the set_stats data of playbook_on_stats."""
    process, private, project = started
    stdout = process.communicate(timeout=900)[0]
    artifacts = os.path.join(private, 'artifacts', 'job')
    with open(os.path.join(artifacts, 'status'), encoding='utf-8') as handle:
        status = handle.read().strip()
    events = []
    for path in glob.glob(os.path.join(artifacts, 'job_events', '*.json')):
        with open(path, encoding='utf-8') as handle:
            events.append(json.load(handle))
    stats = [e for e in events if e.get('event') == 'playbook_on_stats']
    with open(os.path.join(artifacts, 'command'), encoding='utf-8') as handle:
        command = json.load(handle)['command']
    return {'status': status, 'stdout': stdout, 'private': private, 'project': project, 'command': command,
            'artifact_data': stats[0]['event_data'].get('artifact_data', {}) if stats else None}


def run_job(emu_env, collections, inventory_json, template, answers, extra=None):
    return finish_job(start_job(emu_env, collections, inventory_json, template, answers, extra))


def _by_status(summary, status):
    return {(e['service'], e['name']) for e in summary['resources'] if e['status'] == status}


def _arm_principals(emulator):
    return {e.get('principal') for e in admin(emulator, 'GET', '/_emulator/requests') if e.get('service') == 'arm'}


def test_drift_template_as_awx_runs_it(demo, emu_env, collections, inventory_json):
    admin(demo, 'DELETE', '/_emulator/requests')
    job = run_job(emu_env, collections, inventory_json, DRIFT, {'cmk_fail_on_drift': 'false'},
                  extra={'cmk_summary_file': 'drift-summary.json'})
    try:
        assert job['status'] == 'successful', job['stdout'][-20000:]
        assert '--check' in job['command'] and '--diff' in job['command']
        # check mode: not one write; every ARM request made with the AWX credential's service principal
        assert admin(demo, 'GET', '/_emulator/requests?writes_only=1') == []
        assert _arm_principals(demo) and _arm_principals(demo) <= {OPERATOR_OBJECT_ID, OPERATOR_CLIENT_ID}
        summary = job['artifact_data']['sovereign_cmk_drift_summary']
        assert summary['mode'] == 'drift'
        assert _by_status(summary, 'drift') == SEEDED_DRIFT
        assert _by_status(summary, 'requires_recreate') == REQUIRES_RECREATE
        assert summary['totals']['failed'] == 0
        # a relative summary file lands where the job ran (the project directory), never in the collection
        with open(os.path.join(job['project'], 'drift-summary.json'), encoding='utf-8') as handle:
            assert json.load(handle) == summary
        assert not glob.glob(os.path.join(collections, '**', 'drift-summary.json'), recursive=True)
    finally:
        shutil.rmtree(job['private'], ignore_errors=True)


def test_drift_template_survey_selects_and_fails_on_drift(demo, emu_env, collections, inventory_json):
    """Survey: prod, storage accounts only, fail on drift: the job fails, its artifacts still hold the summary."""
    job = run_job(emu_env, collections, inventory_json, DRIFT,
                  {'cmk_only_environments': 'prod', 'cmk_only_services': ['storage_account'], 'cmk_fail_on_drift': 'true'})
    try:
        assert job['status'] == 'failed', job['stdout'][-20000:]
        assert '2 not compliant' in job['stdout']
        summary = job['artifact_data']['sovereign_cmk_drift_summary']
        resources = {(e['service'], e['name']) for e in summary['resources'] if e['service'] not in ('key',)}
        assert resources == {('storage_account', 'stprodpii'), ('storage_account', 'stprodgen')}
        assert _by_status(summary, 'drift') == {('storage_account', 'stprodpii'), ('storage_account', 'stprodgen')}
    finally:
        shutil.rmtree(job['private'], ignore_errors=True)


def test_survey_choices_are_validated():
    with pytest.raises(AssertionError):
        survey_answers(DRIFT, {'cmk_only_environments': 'staging'})
    with pytest.raises(AssertionError):
        survey_answers(DRIFT, {'cmk_only_services': ['storage_account', 'cosmos_db']})
    assert survey_answers(DRIFT, {})['cmk_only_services'] == [
        'storage_account', 'managed_disk', 'virtual_machine', 'aks', 'container_group', 'sql_managed_instance']


def test_three_slices_at_once(demo, emu_env, collections, inventory_json):
    """Job slicing across 3 slices, all running at once (AWX runs the slices in parallel): every resource is checked by
    exactly one slice, the key and DES plays (localhost) run in every slice and agree; then the enforce template
    sliced the same way converges without a duplicated grant, and an unsliced drift job finds no drift left."""
    jobs = [finish_job(started) for started in [
        start_job(emu_env, collections, sliced(inventory_json, number, 3), DRIFT, {'cmk_fail_on_drift': 'false'})
        for number in (1, 2, 3)]]
    try:
        assert [j['status'] for j in jobs] == ['successful'] * 3, '\n'.join(j['stdout'][-5000:] for j in jobs)
        summaries = [j['artifact_data']['sovereign_cmk_drift_summary'] for j in jobs]
        per_slice = [{(e['service'], e['name']) for e in s['resources'] if e['service'] not in ('key', 'disk_encryption_set')}
                     for s in summaries]
        resources = set().union(*per_slice)
        assert sum(len(r) for r in per_slice) == len(resources) == len(_hosts(inventory_json))
        assert all(len(r) >= 4 for r in per_slice)  # 13 resources: 5, 4, 4
        assert set().union(*[_by_status(s, 'drift') for s in summaries]) == SEEDED_DRIFT
        shared = [{(e['service'], e['name'], e['status']) for e in s['resources']
                   if e['service'] in ('key', 'disk_encryption_set')} for s in summaries]
        assert shared[0] == shared[1] == shared[2] and shared[0]
        assert admin(demo, 'GET', '/_emulator/requests?writes_only=1') == []
    finally:
        for job in jobs:
            shutil.rmtree(job['private'], ignore_errors=True)

    enforce = TEMPLATES['sovereign.cmk enforce']
    jobs = [finish_job(started) for started in [
        start_job(emu_env, collections, sliced(inventory_json, number, 3), enforce, {}) for number in (1, 2, 3)]]
    try:
        assert [j['status'] for j in jobs] == ['successful'] * 3, '\n'.join(j['stdout'][-5000:] for j in jobs)
    finally:
        for job in jobs:
            shutil.rmtree(job['private'], ignore_errors=True)
    dump = admin(demo, 'GET', '/_emulator/resources')
    grants = [(a['principal_id'].lower(), a['role'].lower(), a['scope'].lower().rstrip('/'))
              for a in dump['role_assignments']]
    assert len(grants) == len(set(grants)), 'duplicated role assignments'
    for rid, body in dump['resources'].items():
        ids = [p.get('objectId') for p in ((body.get('properties') or {}).get('accessPolicies') or [])]
        assert len(ids) == len(set(ids)), 'duplicated access-policy entries in %s' % rid
    after = run_job(emu_env, collections, inventory_json, DRIFT, {'cmk_fail_on_drift': 'true'})
    try:
        # no drift left; the two create-time-only differences are not compliant either, so the gate still fails
        assert after['status'] == 'failed', after['stdout'][-20000:]
        assert '%d not compliant' % len(REQUIRES_RECREATE) in after['stdout']
        summary = after['artifact_data']['sovereign_cmk_drift_summary']
        assert summary['totals']['drift'] == 0 and summary['totals']['failed'] == 0
        assert _by_status(summary, 'requires_recreate') == REQUIRES_RECREATE
    finally:
        shutil.rmtree(after['private'], ignore_errors=True)
