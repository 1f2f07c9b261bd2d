# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sovereign.cmk.plugins.module_utils import _auth


def params(**kwargs):
    base = dict((k, None) for k in _auth.AUTH_ARGUMENT_SPEC)
    base['auth_source'] = 'auto'
    base.update(kwargs)
    return base


@pytest.mark.parametrize('given, method', [
    (dict(tenant='t', client_id='c', secret='s'), 'secret'),
    (dict(tenant='t', client_id='c', certificate_path='/c.pem'), 'certificate'),
    (dict(tenant='t', client_id='c', federated_token_file='/t'), 'workload_identity'),
    (dict(ad_user='u', password='p'), 'user_password'),
    (dict(), 'default_chain'),
    (dict(client_id='c'), 'default_chain'),
    (dict(auth_source='managed_identity'), 'managed_identity'),
    (dict(auth_source='cli'), 'cli'),
    (dict(auth_source='default_chain', secret='s'), 'default_chain'),
])
def test_choose_auth_method(given, method):
    assert _auth.choose_auth_method(params(**given)) == method


@pytest.mark.parametrize('given, words', [
    (dict(auth_source='service_principal', client_id='c', secret='s'), 'tenant'),
    (dict(auth_source='service_principal', tenant='t', client_id='c'), 'secret or certificate_path'),
    (dict(secret='s'), 'client_id'),
    (dict(auth_source='workload_identity', tenant='t', client_id='c'), 'federated_token_file'),
    (dict(auth_source='user_password', ad_user='u'), 'password'),
])
def test_choose_auth_method_names_what_is_missing(given, words):
    with pytest.raises(_auth.AuthConfigError) as err:
        _auth.choose_auth_method(params(**given))
    assert words in str(err.value)


def test_awx_environment_names_are_read_first():
    spec = _auth.AUTH_ARGUMENT_SPEC
    assert spec['tenant']['fallback'][1][0] == 'AZURE_TENANT'
    assert spec['secret']['fallback'][1] == ['AZURE_SECRET', 'AZURE_CLIENT_SECRET']
    assert spec['ad_user']['fallback'][1][0] == 'AZURE_AD_USER'
    assert spec['password']['fallback'][1] == ['AZURE_PASSWORD']
    assert spec['cloud_environment']['fallback'][1] == ['AZURE_CLOUD_ENVIRONMENT']
    assert spec['subscription_id']['fallback'][1] == ['AZURE_SUBSCRIPTION_ID']
    for name in ('secret', 'password', 'certificate_password'):
        assert spec[name]['no_log'] is True


@pytest.mark.parametrize('name, arm, kv', [
    ('AzureCloud', 'https://management.azure.com', 'vault.azure.net'),
    ('azurepubliccloud', 'https://management.azure.com', 'vault.azure.net'),
    ('AzureChinaCloud', 'https://management.chinacloudapi.cn', 'vault.azure.cn'),
    ('AzureUSGovernment', 'https://management.usgovcloudapi.net', 'vault.usgovcloudapi.net'),
    (None, 'https://management.azure.com', 'vault.azure.net'),
])
def test_builtin_clouds(name, arm, kv):
    cloud = _auth.builtin_cloud(name)
    assert cloud['resource_manager'] == arm and cloud['key_vault_suffix'] == kv
    assert _auth.arm_scope(cloud) == arm + '/.default'


def test_custom_cloud_from_metadata():
    assert _auth.builtin_cloud('https://management.local.azurestack.external') is None
    url = _auth.metadata_url('https://management.local.azurestack.external/')
    assert url == 'https://management.local.azurestack.external/metadata/endpoints?api-version=2022-09-01'
    doc = {'name': 'AzureStackDev', 'resourceManager': 'https://management.local.azurestack.external/',
           'authentication': {'loginEndpoint': 'https://login.local.azurestack.external/',
                              'audiences': ['https://management.local.azurestack.external/']},
           'suffixes': {'keyVaultDns': 'vault.local.azurestack.external', 'mhsmDns': 'managedhsm.local.azurestack.external'}}
    cloud = _auth.cloud_from_metadata([doc], url)
    assert cloud['authority_host'] == 'https://login.local.azurestack.external'
    assert cloud['key_vault_suffix'] == 'vault.local.azurestack.external'
    assert cloud['managed_hsm_suffix'] == 'managedhsm.local.azurestack.external'
    assert _auth.arm_scope(cloud) == 'https://management.local.azurestack.external/.default'
    kwargs = _auth.authority_kwargs(cloud, {})
    assert kwargs == {'authority': 'https://login.local.azurestack.external', 'disable_instance_discovery': True}
    assert _auth.authority_kwargs(_auth.builtin_cloud('AzureCloud'), {}) == {'authority': 'https://login.microsoftonline.com'}
    with pytest.raises(_auth.AuthConfigError):
        _auth.cloud_from_metadata({'name': 'x'}, url)
    with pytest.raises(_auth.AuthConfigError):
        _auth.metadata_url('MyCloud')
