"""Run every integration target in tests/integration/targets against the emulator."""

import os
import tempfile

import pytest

from harness_lib import ROOT, admin, run_playbook

TARGETS_DIR = os.path.join(ROOT, 'tests', 'integration', 'targets')
TARGETS = sorted(t for t in os.listdir(TARGETS_DIR)
                 if not t.startswith('setup_') and os.path.isdir(os.path.join(TARGETS_DIR, t, 'tasks')))

PLAYBOOK = """---
- name: Integration target {target}
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - {target}
"""


@pytest.mark.parametrize('target', TARGETS)
def test_target(target, emulator, emu_env):
    admin(emulator, 'POST', '/_emulator/reset')
    with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as handle:
        handle.write(PLAYBOOK.format(target=target))
    try:
        result = run_playbook(emu_env, handle.name, extra_vars={
            'emulator_admin_url': emulator.url.rstrip('/'),
            'emulator_subscription_id': emu_env['AZURE_SUBSCRIPTION_ID'],
            'emulator_tenant_id': emu_env['AZURE_TENANT_ID'],
        })
    finally:
        os.unlink(handle.name)
    assert result.returncode == 0, '%s\n%s' % (result.stdout[-20000:], result.stderr[-5000:])
