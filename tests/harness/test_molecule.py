"""Run every molecule scenario (roles/<role>/molecule/<scenario>) against the emulator.

Each scenario starts its own emulator (tests/molecule/create.yml, `python -m azemu` in the scenario's
ephemeral directory), loads its prerequisites through the admin API (prepare.yml), runs the role with the
emulator's environment (converge.yml, refused unless every Azure host goes to the emulator on loopback),
runs it again expecting zero changes (idempotence), reads the result back through the admin API
(verify.yml) and stops the emulator (destroy.yml). molecule itself runs with the harness's safe
environment too (the session emulator's), so nothing it starts could reach Azure either.
"""

import glob
import os
import shutil
import subprocess
import sys

import pytest

from harness_lib import COLLECTIONS_PATH, ROOT, ansible_env

SCENARIOS = sorted(glob.glob(os.path.join(ROOT, 'roles', '*', 'molecule', '*', 'molecule.yml')))
MOLECULE = shutil.which('molecule', path=os.path.dirname(sys.executable)) or shutil.which('molecule')


def _source_collection():
    """build/src/ansible_collections/sovereign/cmk -> the checkout (the link the unit tests create too)."""
    link = os.path.join(COLLECTIONS_PATH, 'ansible_collections', 'sovereign', 'cmk')
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    return COLLECTIONS_PATH


def test_every_role_has_a_scenario():
    roles = sorted(r for r in os.listdir(os.path.join(ROOT, 'roles')) if os.path.isdir(os.path.join(ROOT, 'roles', r, 'tasks')))
    with_scenario = sorted(set(p.split(os.sep)[-4] for p in SCENARIOS))
    assert with_scenario == roles


@pytest.mark.skipif(not SCENARIOS, reason='no molecule scenario')
@pytest.mark.skipif(MOLECULE is None, reason='molecule is not installed')
@pytest.mark.parametrize('scenario', SCENARIOS or ['none'], ids=lambda p: p.split(os.sep)[-4] if os.sep in p else p)
def test_molecule(scenario, emu_env):
    role_dir = os.path.dirname(os.path.dirname(os.path.dirname(scenario)))
    name = os.path.basename(os.path.dirname(scenario))
    env = ansible_env(emu_env)
    env['ANSIBLE_COLLECTIONS_PATH'] = _source_collection()
    env['NO_COLOR'] = '1'
    result = subprocess.run([MOLECULE, 'test', '-s', name], cwd=role_dir, env=env,
                            capture_output=True, text=True, timeout=900, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    for step in ('create', 'prepare', 'converge', 'idempotence', 'verify', 'destroy'):
        assert '%s: Executed: Successful' % step in output, '%s did not run:\n%s' % (step, output[-20000:])
