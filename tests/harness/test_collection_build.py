"""The collection as users get it: `ansible-galaxy collection build` + `install`, then `ansible-doc`."""

import glob
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

from harness_lib import ROOT

BIN = os.path.dirname(sys.executable)
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py'))
                 if not os.path.basename(p).startswith('_'))


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
                 os.path.join('tests', 'molecule'), os.path.join('roles', 'key', 'molecule')):
        assert not (root / name).exists(), name


@pytest.mark.parametrize('module', MODULES)
def test_ansible_doc_shows_every_module(installed, module):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed))
    result = subprocess.run([os.path.join(BIN, 'ansible-doc'), 'sovereign.cmk.%s' % module], env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert 'sovereign.cmk.%s' % module in result.stdout
    assert 'group/sovereign.cmk.azure' in result.stdout or 'action_group' in result.stdout
