"""The collection as users get it: `ansible-galaxy collection build` + `install`, then `ansible-doc`."""

import glob
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml

from harness_lib import ROOT

BIN = os.path.dirname(sys.executable)
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py'))
                 if not os.path.basename(p).startswith('_'))
with open(os.path.join(ROOT, 'meta', 'runtime.yml'), encoding='utf-8') as _handle:
    AZURE_GROUP = yaml.safe_load(_handle)['action_groups']['azure']


@pytest.fixture(scope='module')
def installed():
    # A private directory: pytest prunes old basetemp directories when other sessions run at the same time.
    work = pathlib.Path(tempfile.mkdtemp(prefix='sovereign-cmk-galaxy-'))
    try:
        yield _build_and_install(work)
    finally:
        shutil.rmtree(str(work), ignore_errors=True)


def _build_and_install(work):
    subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(work), ROOT],
                   check=True, capture_output=True, text=True)
    tarball = glob.glob(str(work / 'sovereign-cmk-*.tar.gz'))[0]
    target = work / 'collections'
    subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '-p', str(target), tarball],
                   check=True, capture_output=True, text=True)
    return target


def test_tarball_leaves_out_development_files(installed):
    root = installed / 'ansible_collections' / 'sovereign' / 'cmk'
    assert (root / 'meta' / 'runtime.yml').exists() and (root / 'requirements.txt').exists()
    for name in ('emulator', 'benchmarks', 'scripts', '.ci', 'Makefile', os.path.join('tests', 'harness'),
                 os.path.join('tests', 'molecule'), os.path.join('roles', 'key', 'molecule'),
                 # need the emulator or the checkout: the integration targets, the emulator's document, the EE
                 # definition (it builds from the checkout's tarball)
                 os.path.join('tests', 'integration'), os.path.join('docs', 'emulator.md'),
                 os.path.join('docs', 'design.md'), 'execution-environment.yml'):
        assert not (root / name).exists(), name


def test_tarball_has_what_the_readme_promises(installed):
    """Modules, roles, playbooks, plugins, the AWX project playbooks and the example inventory."""
    root = installed / 'ansible_collections' / 'sovereign' / 'cmk'
    for name in ('plugins/modules/azure_cmk_target.py', 'plugins/filter/policy.py', 'roles/key/tasks/main.yml',
                 'playbooks/enforce.yml', 'playbooks/drift.yml', 'playbooks/summary.yml', 'awx/drift.yml',
                 'awx/enforce.yml', 'awx/configure.yml', 'awx/vars/templates.yml', 'examples/inventory/hosts.yml',
                 'docs/user-guide.md', 'requirements.txt', 'bindep.txt', 'meta/execution-environment.yml'):
        assert (root / name).is_file(), name


def test_shipped_documents_link_only_to_shipped_files(installed):
    """Every relative link of a Markdown file in the tarball resolves inside the tarball (a document that points at
    the emulator, the tests or the design notes would only work in a checkout)."""
    root = installed / 'ansible_collections' / 'sovereign' / 'cmk'
    broken = []
    for doc in root.rglob('*.md'):
        for target in re.findall(r'\]\(([^)#\s]+)[^)]*\)', doc.read_text(encoding='utf-8')):
            if re.match(r'^[a-z]+:', target):
                continue  # https:, mailto:
            if not (doc.parent / target).exists():
                broken.append('%s -> %s' % (doc.relative_to(root), target))
    assert not broken, broken


def test_installed_playbooks_parse_with_the_awx_project_playbooks(installed):
    """The AWX project playbooks resolve the installed collection (what an execution environment has)."""
    root = installed / 'ansible_collections' / 'sovereign' / 'cmk'
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed))
    result = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '--syntax-check', '-i', 'examples/inventory',
                             'awx/drift.yml', 'awx/enforce.yml'], cwd=str(root), env=env, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize('module', MODULES)
def test_ansible_doc_shows_every_module(installed, module):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed))
    result = subprocess.run([os.path.join(BIN, 'ansible-doc'), 'sovereign.cmk.%s' % module], env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert 'sovereign.cmk.%s' % module in result.stdout
    if module in AZURE_GROUP:       # the Azure modules (not the controller-side cmk_report) share module_defaults
        assert 'group/sovereign.cmk.azure' in result.stdout or 'action_group' in result.stdout
