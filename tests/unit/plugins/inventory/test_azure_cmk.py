# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import yaml

from ansible_collections.sovereign.cmk.plugins.inventory import azure_cmk
from ansible_collections.sovereign.cmk.plugins.module_utils import _auth


def _options():
    return yaml.safe_load(azure_cmk.DOCUMENTATION)['options']


def test_every_auth_option_is_documented():
    documented = _options()
    for name in azure_cmk.AUTH_OPTIONS:
        assert name in documented and name in _auth.AUTH_ARGUMENT_SPEC, name


def test_auth_params_take_the_file_then_the_modules_environment_variables():
    given = {'client_id': 'from-file', 'timeout': None}
    environ = {'AZURE_CLIENT_ID': 'env-client', 'AZURE_SECRET': 's3cret', 'AZURE_TENANT_ID': 'tenant',
               'AZURE_SUBSCRIPTION_ID': 'sub', 'AZURE_DISABLE_INSTANCE_DISCOVERY': 'yes'}
    params = azure_cmk.auth_params(given.get, environ)
    assert params['client_id'] == 'from-file' and params['secret'] == 's3cret' and params['tenant'] == 'tenant'
    assert params['subscription_id'] == 'sub' and params['disable_instance_discovery'] is True
    assert params['auth_source'] == 'auto' and params['cloud_environment'] == 'AzureCloud'
    assert params['timeout'] == 1800
    assert _auth.choose_auth_method(_auth.resolve_params(params, load=lambda name: (None, 'none'))) == 'secret'


def test_examples_are_yaml_documents():
    for document in azure_cmk.EXAMPLES.split('\n\n'):
        text = '\n'.join(line for line in document.splitlines() if not line.startswith('#'))
        assert yaml.safe_load(text)['plugin'] == 'sovereign.cmk.azure_cmk'


def test_verify_file_needs_the_suffix(tmp_path):
    plugin = azure_cmk.InventoryModule()
    for name, wanted in (('prod.azure_cmk.yml', True), ('azure_cmk.yaml', True), ('hosts.yml', False)):
        path = tmp_path / name
        path.write_text('plugin: sovereign.cmk.azure_cmk\n')
        assert plugin.verify_file(str(path)) is wanted, name
