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


# -- azure.azcollection compatibility ------------------------------------------------------------------------------
CREDENTIALS = u'''
[default]
subscription_id = 11111111-0000-4000-8000-000000000001
client_id = default-client
secret = default-secret
tenant = default-tenant

[user]
subscription_id = 22222222-0000-4000-8000-000000000002
ad_user = ops@contoso.example
password = pa55%word
cloud_environment = AzureChinaCloud

[cert]
subscription_id = 33333333-0000-4000-8000-000000000003
client_id = cert-client
tenant = cert-tenant
x509_certificate_path = /etc/sp.pem
thumbprint = AB:CD
disable_instance_discovery = true

[bad]
subscription_id = 44444444-0000-4000-8000-000000000004
cert_validation_mode = ignore
'''


def loader(name):
    return _auth.parse_profile(CREDENTIALS, name), '/home/u/.azure/credentials'


def no_file(name):
    return None, '/home/u/.azure/credentials'


def resolve(**given):
    return _auth.resolve_params(params(**given), load=loader)


def test_azcollection_option_names_and_environment_variables():
    spec = _auth.AUTH_ARGUMENT_SPEC
    for source in ('auto', 'cli', 'env', 'credential_file', 'msi'):
        assert source in spec['auth_source']['choices']
    assert spec['auth_source']['fallback'][1] == ['ANSIBLE_AZURE_AUTH_SOURCE']
    assert spec['profile']['fallback'][1] == ['AZURE_PROFILE']
    assert 'x509_certificate_path' in spec['certificate_path']['aliases']
    assert spec['certificate_path']['fallback'][1] == ['AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_X509_CERTIFICATE_PATH']
    assert spec['thumbprint']['fallback'][1] == ['AZURE_THUMBPRINT']
    assert spec['adfs_authority_url']['fallback'][1] == ['AZURE_ADFS_AUTHORITY_URL']
    assert spec['cert_validation_mode']['fallback'][1] == ['AZURE_CERT_VALIDATION_MODE']
    assert spec['cert_validation_mode']['choices'] == ['validate', 'ignore']
    assert spec['disable_instance_discovery']['fallback'][1] == ['AZURE_DISABLE_INSTANCE_DISCOVERY']
    for name in ('api_profile', 'log_path', 'log_mode'):
        assert name in spec and 'default' not in spec[name]


@pytest.mark.parametrize('given, method', [
    (dict(auth_source='msi'), 'managed_identity'),
    (dict(auth_source='env', tenant='t', client_id='c', secret='s'), 'secret'),
    (dict(auth_source='env', ad_user='u', password='p'), 'user_password'),
    (dict(auth_source='credential_file', tenant='t', client_id='c', certificate_path='/c.pem'), 'certificate'),
])
def test_azcollection_sources(given, method):
    assert _auth.choose_auth_method(params(**given)) == method


@pytest.mark.parametrize('source, words', [('env', 'AZURE_PROFILE'), ('credential_file', 'holds no credential')])
def test_env_and_credential_file_never_fall_back_to_the_default_chain(source, words):
    with pytest.raises(_auth.AuthConfigError) as err:
        _auth.choose_auth_method(params(auth_source=source))
    assert words in str(err.value)


def test_parse_profile():
    assert _auth.parse_profile(CREDENTIALS, 'user') == {
        'subscription_id': '22222222-0000-4000-8000-000000000002', 'ad_user': 'ops@contoso.example',
        'password': 'pa55%word', 'cloud_environment': 'AzureChinaCloud'}
    cert = _auth.parse_profile(CREDENTIALS, 'cert')
    assert cert['certificate_path'] == '/etc/sp.pem' and cert['thumbprint'] == 'AB:CD'
    assert cert['disable_instance_discovery'] is True
    assert _auth.parse_profile(CREDENTIALS, 'missing') is None
    with pytest.raises(_auth.AuthConfigError):
        _auth.parse_profile(u'not = an ini file', 'default')


def test_a_named_profile_replaces_the_identity_options():
    """profile (or AZURE_PROFILE) wins over the task's credential options and their environment variables."""
    resolved = resolve(profile='user', client_id='env-client', secret='env-secret', tenant='env-tenant',
                       subscription_id='env-sub')
    assert resolved['client_id'] is None and resolved['secret'] is None and resolved['tenant'] is None
    assert resolved['subscription_id'] == '22222222-0000-4000-8000-000000000002'
    assert resolved['cloud_environment'] == 'AzureChinaCloud'
    assert _auth.choose_auth_method(resolved) == 'user_password'
    assert _auth.choose_auth_method(resolve(profile='cert')) == 'certificate'
    assert _auth.choose_auth_method(resolve(auth_source='env', profile='user')) == 'user_password'


def test_credential_file_source_reads_the_default_profile():
    resolved = resolve(auth_source='credential_file')
    assert resolved['client_id'] == 'default-client' and resolved['profile'] == 'default'
    assert _auth.choose_auth_method(resolved) == 'secret'


def test_auto_uses_the_default_profile_only_when_no_credential_is_given():
    assert resolve()['client_id'] == 'default-client'
    assert resolve(client_id='mi-client')['client_id'] == 'mi-client'
    assert resolve(tenant='t', client_id='c', secret='s')['secret'] == 's'
    # No file: auto stays on the default chain; a named profile must exist.
    assert _auth.choose_auth_method(_auth.resolve_params(params(), load=no_file)) == 'default_chain'
    for given in (dict(profile='prod'), dict(auth_source='credential_file')):
        with pytest.raises(_auth.AuthConfigError) as err:
            _auth.resolve_params(params(**given), load=no_file)
        assert 'is not in /home/u/.azure/credentials' in str(err.value)


@pytest.mark.parametrize('given', [dict(cert_validation_mode='ignore'), dict(profile='bad')])
def test_cert_validation_cannot_be_turned_off(given):
    with pytest.raises(_auth.AuthConfigError) as err:
        resolve(**given)
    assert 'always verifies TLS' in str(err.value) and 'REQUESTS_CA_BUNDLE' in str(err.value)
    assert resolve(cert_validation_mode='validate', tenant='t', client_id='c', secret='s')['secret'] == 's'


@pytest.mark.parametrize('url, authority, tenant', [
    ('https://adfs.contoso.com/adfs', 'https://adfs.contoso.com', 'adfs'),
    ('https://adfs.contoso.com/adfs/', 'https://adfs.contoso.com', 'adfs'),
    ('https://login.local.azurestack.external', 'https://login.local.azurestack.external', 't'),
    ('https://login.microsoftonline.com/other', 'https://login.microsoftonline.com', 't'),
])
def test_adfs_authority(url, authority, tenant):
    resolved = resolve(adfs_authority_url=url, tenant='t', client_id='c', secret='s')
    assert resolved['adfs_authority_url'] == authority and resolved['tenant'] == tenant
    kwargs = _auth.authority_kwargs(_auth.builtin_cloud('AzureCloud'), resolved)
    assert kwargs['authority'] == authority
    assert kwargs.get('disable_instance_discovery') is (None if 'microsoftonline' in url else True)
    with pytest.raises(_auth.AuthConfigError):
        _auth.split_authority('http://adfs.contoso.com/adfs')


def test_default_cli_subscription():
    doc = {'installationId': 'x', 'subscriptions': [
        {'id': 'aaa', 'isDefault': False, 'state': 'Enabled'},
        {'id': 'bbb', 'isDefault': True, 'state': 'Enabled'}]}
    import json
    assert _auth.default_cli_subscription(json.dumps(doc)) == 'bbb'
    assert _auth.default_cli_subscription('{"subscriptions": []}') is None
    with pytest.raises(_auth.AuthConfigError):
        _auth.default_cli_subscription('not json')


def test_cli_profile_path_follows_azure_config_dir(monkeypatch, tmp_path):
    monkeypatch.setenv('AZURE_CONFIG_DIR', str(tmp_path))
    assert _auth.cli_profile_path() == str(tmp_path / 'azureProfile.json')
    (tmp_path / 'azureProfile.json').write_bytes(u'\ufeff{"subscriptions": [{"id": "s1", "isDefault": true}]}'.encode('utf-8'))
    assert _auth.load_cli_subscription() == ('s1', str(tmp_path / 'azureProfile.json'))
    monkeypatch.delenv('AZURE_CONFIG_DIR')
    monkeypatch.setenv('HOME', str(tmp_path))
    assert _auth.cli_profile_path() == str(tmp_path / '.azure' / 'azureProfile.json')
    assert _auth.credential_file_path() == str(tmp_path / '.azure' / 'credentials')
    assert _auth.load_cli_subscription()[0] is None


def test_ignored_options_are_warned_about():
    warnings = _auth.ignored_option_warnings(params(api_profile='latest', log_path='/tmp/azure.log'))
    assert len(warnings) == 2
    assert "api_profile='latest' is accepted for azure.azcollection compatibility and ignored" in warnings[0]
    assert warnings[1].startswith("log_path='/tmp/azure.log' is accepted")
    assert _auth.ignored_option_warnings(params()) == []
