"""Run every molecule scenario (roles/<role>/molecule/<scenario>) against the emulator."""

import glob
import os
import shutil
import subprocess
import sys

import pytest

from harness_lib import ROOT, ansible_env

SCENARIOS = sorted(glob.glob(os.path.join(ROOT, 'roles', '*', 'molecule', '*', 'molecule.yml')))
MOLECULE = shutil.which('molecule', path=os.path.dirname(sys.executable)) or shutil.which('molecule')


@pytest.mark.skipif(not SCENARIOS, reason='no molecule scenario yet: the roles are covered by test_enforce_e2e.py')
@pytest.mark.skipif(MOLECULE is None, reason='molecule is not installed')
@pytest.mark.parametrize('scenario', SCENARIOS or ['none'], ids=lambda p: p.split(os.sep)[-4] if os.sep in p else p)
def test_molecule(scenario, emu_env):
    role_dir = os.path.dirname(os.path.dirname(os.path.dirname(scenario)))
    name = os.path.basename(os.path.dirname(scenario))
    result = subprocess.run([MOLECULE, 'test', '-s', name], cwd=role_dir, env=ansible_env(emu_env),
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
