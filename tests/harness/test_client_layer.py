"""The client layer (module_utils) end to end through the emulator: every credential kind, the AWX
variable names, clouds, retries of throttled and failing requests, and how failures are reported."""

import contextlib
import datetime
import json
import os
import stat
import sys
import textwrap
import uuid

import pytest

from harness_lib import admin

from ansible.module_utils import basic
from ansible_collections.sovereign.cmk.plugins.module_utils._azure_module import AzureCMKModule

RG_API = '2021-04-01'
KEYVAULT_API = '2024-11-01'
STORAGE_API = '2026-09-01'
SUB = '5a0e0e5e-0000-4000-8000-000000000001'
TENANT = '72f988bf-0000-4000-8000-00000000c0de'
OPERATOR_CLIENT = '0a11ce00-0000-4000-8000-00000000a001'
OPERATOR_SECRET = 'emulator-operator-secret'


@contextlib.contextmanager
def module_args(args):
    try:
        from ansible.module_utils.testing import patch_module_args  # ansible-core >= 2.19
    except ImportError:  # pragma: no cover - older ansible-core
        patch_module_args = None
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
        return
    old = basic._ANSIBLE_ARGS  # pragma: no cover
    basic._ANSIBLE_ARGS = json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode()  # pragma: no cover
    try:  # pragma: no cover
        yield
    finally:  # pragma: no cover
        basic._ANSIBLE_ARGS = old


@pytest.fixture()
def make_module():
    """Create AzureCMKModule instances; their arguments stay in force until the test ends (exit/fail)."""
    with contextlib.ExitStack() as stack:
        def factory(**args):
            stack.enter_context(module_args(args))
            return AzureCMKModule(argument_spec={})
        yield factory


def expect_failure(capsys, fn, *args):
    """Run ``fn`` as a module body does (through ``AzureCMKModule.execute``, the one failure path)."""
    azmod = getattr(fn, '__self__', None)
    if not isinstance(azmod, AzureCMKModule):
        azmod = args[0]
    with pytest.raises(SystemExit):
        azmod.execute(fn, *args)
    out = capsys.readouterr().out
    return json.loads(out), out


def list_groups(azmod):
    return azmod.arm_request('listing resource groups', 'GET', '/subscriptions/%s/resourcegroups' % SUB, RG_API)


def create_group(azmod, name):
    return azmod.arm_request('creating a resource group', 'PUT', '/subscriptions/%s/resourcegroups/%s' % (SUB, name),
                             RG_API, {'location': 'eastus'})


def reader_principal(emulator, **fields):
    body = dict(fields, roles=[{'role': 'Reader', 'scope': '/subscriptions/%s' % SUB}])
    body.setdefault('client_id', str(uuid.uuid4()))
    return admin(emulator, 'POST', '/_emulator/principals', body)


@pytest.fixture()
def awx_only(in_process_env, monkeypatch):
    """The variables the AWX 'Microsoft Azure Resource Manager' credential injects, and nothing else."""
    for name in ('AZURE_TENANT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_ID'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('AZURE_SUBSCRIPTION_ID', SUB)
    return monkeypatch


def test_service_principal_from_awx_variables(fresh_emulator, awx_only, make_module):
    awx_only.setenv('AZURE_CLIENT_ID', OPERATOR_CLIENT)
    awx_only.setenv('AZURE_SECRET', OPERATOR_SECRET)
    awx_only.setenv('AZURE_TENANT', TENANT)
    azmod = make_module()
    create_group(azmod, 'rg-awx')
    vault = azmod.arm_request('creating the vault', 'PUT', '/subscriptions/%s/resourceGroups/rg-awx/providers/'
                              'Microsoft.KeyVault/vaults/kv-awx' % SUB, KEYVAULT_API, {
                                  'location': 'eastus',
                                  'properties': {'tenantId': TENANT, 'sku': {'family': 'A', 'name': 'premium'},
                                                 'enablePurgeProtection': True}})
    assert vault['properties']['vaultUri'].startswith('https://kv-awx.vault.azure.net')
    # One credential and one HTTP session for every client of the module run.
    authorization = azmod.arm('authorization')
    assert azmod.arm('authorization') is authorization
    assert azmod.clients.transport.session is azmod.clients.arm_pipeline()._pipeline._transport.session


def test_service_principal_from_azure_identity_variables(fresh_emulator, in_process_env, make_module):
    azmod = make_module()
    create_group(azmod, 'rg-identity-names')
    assert 'rg-identity-names' in [group['name'] for group in list_groups(azmod)['value']]


def test_user_and_password_from_awx_variables(fresh_emulator, awx_only, make_module):
    reader_principal(fresh_emulator, type='User', username='ops@contoso.example', password='pa55-word',
                     client_id=None)
    awx_only.setenv('AZURE_AD_USER', 'ops@contoso.example')
    awx_only.setenv('AZURE_PASSWORD', 'pa55-word')
    awx_only.setenv('AZURE_TENANT', TENANT)
    assert 'value' in list_groups(make_module())


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u'sovereign-cmk-test')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path = tmp_path / 'sp.pem'
    path.write_bytes(key_pem + cert_pem)
    return str(path), cert_pem.decode()


def test_service_principal_with_certificate(fresh_emulator, in_process_env, tmp_path, make_module):
    path, cert_pem = _self_signed(tmp_path)
    principal = reader_principal(fresh_emulator, certificates=[cert_pem])
    os.environ.pop('AZURE_CLIENT_SECRET', None)  # a certificate only: no secret anywhere
    azmod = make_module(client_id=principal['client_id'], tenant=TENANT, certificate_path=path)
    assert 'value' in list_groups(azmod)


def test_workload_identity(fresh_emulator, in_process_env, tmp_path, monkeypatch, make_module):
    principal = reader_principal(fresh_emulator, federated_tokens=['federated-token-for-ci'])
    token_file = tmp_path / 'token'
    token_file.write_text('federated-token-for-ci')
    monkeypatch.delenv('AZURE_CLIENT_SECRET')
    azmod = make_module(client_id=principal['client_id'], federated_token_file=str(token_file))
    assert 'value' in list_groups(azmod)


def test_managed_identity(fresh_emulator, in_process_env, monkeypatch, make_module):
    monkeypatch.delenv('AZURE_CLIENT_ID')
    azmod = make_module(auth_source='managed_identity')
    assert 'value' in list_groups(azmod)


def test_default_chain(fresh_emulator, in_process_env, make_module):
    azmod = make_module(auth_source='default_chain')
    assert 'value' in list_groups(azmod)


def test_azure_cli(fresh_emulator, in_process_env, tmp_path, monkeypatch, make_module):
    """AzureCliCredential runs `az account get-access-token`; a stand-in `az` signs in to the emulator."""
    fake_az = tmp_path / 'az'
    fake_az.write_text(textwrap.dedent('''\
        #!%s
        import json, sys, time, requests
        resource = sys.argv[sys.argv.index('--resource') + 1] if '--resource' in sys.argv else sys.argv[sys.argv.index('--scope') + 1]
        scope = resource.rstrip('/') + '/.default' if not resource.endswith('/.default') else resource
        token = requests.post('https://login.microsoftonline.com/%s/oauth2/v2.0/token', data={
            'grant_type': 'client_credentials', 'client_id': '%s', 'client_secret': '%s', 'scope': scope}).json()
        print(json.dumps({'accessToken': token['access_token'], 'expires_on': int(time.time()) + 3600,
                          'expiresOn': '2099-01-01 00:00:00.000000', 'subscription': '%s', 'tenant': '%s',
                          'tokenType': 'Bearer'}))
        ''' % (sys.executable, TENANT, OPERATOR_CLIENT, OPERATOR_SECRET, SUB, TENANT)))
    fake_az.chmod(fake_az.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv('PATH', '%s%s%s' % (tmp_path, os.pathsep, os.environ['PATH']))
    azmod = make_module(auth_source='cli')
    assert 'value' in list_groups(azmod)


@pytest.mark.parametrize('cloud, host', [
    ('AzureChinaCloud', 'management.chinacloudapi.cn'),
    ('AzureUSGovernment', 'management.usgovcloudapi.net'),
    ('https://management.local.azurestack.external', 'management.local.azurestack.external'),
])
def test_clouds(fresh_emulator, in_process_env, monkeypatch, cloud, host, make_module):
    monkeypatch.setenv('AZURE_CLOUD_ENVIRONMENT', cloud)
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    azmod = make_module()
    assert 'value' in list_groups(azmod)
    hosts = set(entry['host'] for entry in admin(fresh_emulator, 'GET', '/_emulator/requests'))
    assert host in hosts
    assert 'management.azure.com' not in hosts
    if cloud.startswith('https://'):
        assert azmod.cloud['key_vault_suffix'].endswith('local.azurestack.external')
        log = admin(fresh_emulator, 'GET', '/_emulator/requests')
        assert len([e for e in log if e['path'].endswith('/metadata/endpoints')]) == 1


def test_unreachable_custom_cloud_fails_clearly(fresh_emulator, in_process_env, monkeypatch, capsys, make_module):
    monkeypatch.setenv('AZURE_CLOUD_ENVIRONMENT', 'https://management.unknown-cloud.example')
    result, raw = expect_failure(capsys, list_groups, make_module())
    assert result['msg'].startswith('Failed resolving the Azure cloud: could not read the cloud metadata')
    assert 'Traceback' not in raw


@pytest.mark.parametrize('fault', [
    {'kind': 'throttle', 'status': 429, 'retry_after': 1, 'count': 2},
    {'kind': 'error', 'status': 503, 'retry_after': 1, 'count': 1},
    {'kind': 'error', 'status': 500, 'count': 1},
    {'kind': 'drop', 'count': 1},
])
def test_transient_faults_are_retried(fresh_emulator, in_process_env, fault, make_module):
    admin(fresh_emulator, 'DELETE', '/_emulator/faults')
    admin(fresh_emulator, 'POST', '/_emulator/faults',
          dict(fault, match={'method': 'GET', 'host': 'management.azure.com', 'path_regex': '/resourcegroups$'}))
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    try:
        assert 'value' in list_groups(make_module())
    finally:
        admin(fresh_emulator, 'DELETE', '/_emulator/faults')
    gets = [e for e in admin(fresh_emulator, 'GET', '/_emulator/requests')
            if e['method'] == 'GET' and e['path'].lower().endswith('/resourcegroups')]
    assert len(gets) >= (fault.get('count') or 1) + (0 if fault['kind'] == 'drop' else 1)
    assert gets[-1]['status'] == 200


def test_wrong_secret_fails_with_code_and_hint_and_no_secret(fresh_emulator, in_process_env, monkeypatch, capsys, make_module):
    monkeypatch.setenv('AZURE_CLIENT_SECRET', 'definitely-wrong-secret')
    result, raw = expect_failure(capsys, list_groups, make_module())
    assert result['failed'] and result['error']['code'] == 'AADSTS7000215'
    assert 'secret' in result['error']['hint']
    assert 'definitely-wrong-secret' not in raw


def test_wrong_tenant(fresh_emulator, in_process_env, monkeypatch, capsys, make_module):
    monkeypatch.setenv('AZURE_TENANT_ID', '00000000-0000-4000-8000-0000000000ff')
    result, _raw = expect_failure(capsys, list_groups, make_module())
    # MSAL reports an unknown tenant as an authority it cannot configure (the AADSTS90002 body is dropped)
    assert result['error']['code'] == 'ClientAuthenticationError'
    assert 'tenant option' in result['error']['hint']


def test_not_found_is_absent_and_other_errors_carry_request_id(fresh_emulator, in_process_env, capsys, make_module):
    azmod = make_module()
    missing = '/subscriptions/%s/resourceGroups/rg-missing/providers/Microsoft.KeyVault/vaults/kv-missing' % SUB
    assert azmod.get_or_none('reading the vault', azmod.clients.arm_request, 'GET', missing, KEYVAULT_API) is None
    result, _raw = expect_failure(capsys, azmod.run, 'reading the vault', azmod.clients.arm_request, 'GET', missing,
                                  KEYVAULT_API)
    assert result['error']['code'] in ('ResourceGroupNotFound', 'ResourceNotFound')
    assert result['error']['request_id']
    assert 'request id' in result['msg']


def test_missing_permission_is_reported_with_hint(fresh_emulator, in_process_env, monkeypatch, capsys, make_module):
    monkeypatch.delenv('AZURE_CLIENT_ID')
    azmod = make_module(auth_source='managed_identity')  # the runner identity is a Reader
    result, _raw = expect_failure(capsys, create_group, azmod, 'rg-denied')
    assert result['error']['code'] == 'AuthorizationFailed'
    assert result['error']['status'] == 403 and 'RBAC' in result['error']['hint']


def test_bad_auth_options_fail_before_any_request(fresh_emulator, in_process_env, capsys, make_module):
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    azmod = make_module(auth_source='workload_identity', federated_token_file=None)
    os.environ.pop('AZURE_FEDERATED_TOKEN_FILE', None)
    result, _raw = expect_failure(capsys, list_groups, azmod)
    assert 'federated_token_file' in result['msg']
    assert admin(fresh_emulator, 'GET', '/_emulator/requests') == []


@pytest.mark.parametrize('style', ['location', 'azure-asyncoperation'])
def test_long_running_writes_are_followed_to_their_end(fresh_emulator, in_process_env, make_module, style):
    """A write Azure answers as a long-running operation (a storage account: 202 + Location; a disk:
    Azure-AsyncOperation) is followed to its end and returns the final resource body."""
    azmod = make_module()
    create_group(azmod, 'rg-lro')
    if style == 'location':
        path = '/subscriptions/%s/resourceGroups/rg-lro/providers/Microsoft.Storage/storageAccounts/stlro001' % SUB
        body = azmod.arm_request('creating a storage account', 'PUT', path, STORAGE_API,
                                 {'location': 'eastus', 'kind': 'StorageV2', 'sku': {'name': 'Standard_LRS'},
                                  'properties': {}})
    else:
        path = '/subscriptions/%s/resourceGroups/rg-lro/providers/Microsoft.Compute/disks/dlro001' % SUB
        body = azmod.arm_request('creating a disk', 'PUT', path, '2026-03-02',
                                 {'location': 'eastus', 'sku': {'name': 'Premium_LRS'},
                                  'properties': {'creationData': {'createOption': 'Empty'}, 'diskSizeGB': 4}})
    assert body['properties']['provisioningState'] == 'Succeeded'
    assert body['id'].lower() == path.lower()
    monitors = [e for e in admin(fresh_emulator, 'GET', '/_emulator/requests')
                if e['method'] == 'GET' and e['path'].lower().startswith('/subscriptions/%s/providers/' % SUB)
                or 'operation' in e['path'].lower()]
    assert monitors, 'the status monitor was polled'


# -- reliability of the one transport: every write retried, every wait bounded ---------------------------------------
STORAGE_PATH = '/subscriptions/%s/resourceGroups/rg-rel/providers/Microsoft.Storage/storageAccounts/%s'


def _fault(emulator, **rule):
    admin(emulator, 'POST', '/_emulator/faults', rule)


def _account(azmod, name):
    path = STORAGE_PATH % (SUB, name)
    create_group(azmod, 'rg-rel')
    azmod.arm_request('creating a storage account', 'PUT', path, STORAGE_API,
                      {'location': 'eastus', 'kind': 'StorageV2', 'sku': {'name': 'Standard_LRS'}, 'properties': {}})
    return path


def _requests(emulator, method, suffix):
    return [e for e in admin(emulator, 'GET', '/_emulator/requests')
            if e['method'] == method and e['path'].lower().split('?')[0].endswith(suffix.lower())]


@pytest.mark.parametrize('method', ['PATCH', 'POST'])
def test_dropped_connections_on_writes_are_retried(fresh_emulator, in_process_env, make_module, method):
    """azure-core retries only GET/PUT/DELETE on a dropped connection; every write of the collection is idempotent
    and is retried too (PATCH of a whole property, the POST actions)."""
    azmod = make_module()
    path = _account(azmod, 'strel%s' % method.lower())
    target = path + ('/regenerateKey' if method == 'POST' else '')
    body = {'keyName': 'key1'} if method == 'POST' else {'properties': {'minimumTlsVersion': 'TLS1_2'}}
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    _fault(fresh_emulator, kind='drop', count=2, match={'method': method, 'path_regex': '/storageAccounts/strel'})
    try:
        azmod.arm_request('writing', method, target, STORAGE_API, body)
    finally:
        admin(fresh_emulator, 'DELETE', '/_emulator/faults')
    sent = _requests(fresh_emulator, method, target.rsplit('/', 1)[1])
    assert len(sent) == 3 and sent[-1]['status'] == 200


def test_a_busy_resource_is_retried_within_the_timeout(fresh_emulator, in_process_env, make_module):
    azmod = make_module()
    path = _account(azmod, 'strelbusy')
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    _fault(fresh_emulator, kind='error', status=409, code='AnotherOperationInProgress', retry_after=0.05, count=2,
           match={'method': 'PATCH', 'path_regex': '/storageAccounts/strelbusy$'})
    try:
        azmod.arm_request('updating', 'PATCH', path, STORAGE_API, {'properties': {'minimumTlsVersion': 'TLS1_2'}})
    finally:
        admin(fresh_emulator, 'DELETE', '/_emulator/faults')
    assert [e['status'] for e in _requests(fresh_emulator, 'PATCH', 'strelbusy')] == [409, 409, 200]


def test_a_resource_busy_for_the_whole_timeout_fails_with_a_hint(fresh_emulator, in_process_env, make_module, capsys):
    azmod = make_module()
    path = _account(azmod, 'strelstuck')
    azmod.clients.timeout = 1
    _fault(fresh_emulator, kind='error', status=409, code='AnotherOperationInProgress', retry_after=0.3,
           match={'method': 'PATCH', 'path_regex': '/storageAccounts/strelstuck$'})
    try:
        result, _raw = expect_failure(capsys, azmod.arm_request, 'updating the account', 'PATCH', path, STORAGE_API,
                                      {'properties': {'minimumTlsVersion': 'TLS1_2'}})
    finally:
        admin(fresh_emulator, 'DELETE', '/_emulator/faults')
    assert result['error']['code'] == 'AnotherOperationInProgress' and result['error']['status'] == 409
    assert 'timeout' in result['error']['hint'] and result['status'] == 'failed'


def test_a_long_running_operation_that_never_finishes_ends_at_the_timeout(fresh_emulator, in_process_env, make_module,
                                                                          capsys):
    azmod = make_module(timeout=1)
    create_group(azmod, 'rg-rel')
    admin(fresh_emulator, 'POST', '/_emulator/settings', {'lro_hold': True})
    path = STORAGE_PATH % (SUB, 'strelhung')
    try:
        result, _raw = expect_failure(capsys, azmod.arm_request, 'creating the account', 'PUT', path, STORAGE_API,
                                      {'location': 'eastus', 'kind': 'StorageV2', 'sku': {'name': 'Standard_LRS'},
                                       'properties': {}})
    finally:
        admin(fresh_emulator, 'POST', '/_emulator/settings', {'lro_hold': False})
    assert result['error']['code'] == 'OperationTimeout'
    message = result['error']['message']
    assert 'PUT %s did not finish within 1 seconds' % path in message
    assert 'last status' in message and 'status monitor https://' in message
    assert 'the next run' in message and 'timeout' in result['error']['hint']


def test_a_token_azure_declares_expired_is_renewed_once(fresh_emulator, in_process_env, make_module):
    azmod = make_module()
    assert 'value' in list_groups(azmod)
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    _fault(fresh_emulator, kind='error', status=401, code='ExpiredAuthenticationToken', count=1,
           match={'method': 'GET', 'host': 'management.azure.com', 'path_regex': '/resourcegroups$'})
    try:
        assert 'value' in list_groups(azmod)
    finally:
        admin(fresh_emulator, 'DELETE', '/_emulator/faults')
    assert azmod.clients.renewed_credential
    assert [e['status'] for e in _requests(fresh_emulator, 'GET', '/resourcegroups')] == [401, 200]
    tokens = [e for e in admin(fresh_emulator, 'GET', '/_emulator/requests') if 'token' in e['path'].lower()]
    assert tokens, 'a new token was requested'


def test_a_vault_host_that_does_not_resolve_is_named(fresh_emulator, in_process_env, make_module, capsys):
    """Azure answers a host that names no vault with no HTTP status at all (the name does not resolve; through a proxy,
    the CONNECT is refused): the failure names the host and what to check, never "key absent"."""
    azmod = make_module()
    client = azmod.data('keys', 'https://kvnosuchvault01.vault.azure.net')
    result, _raw = expect_failure(capsys, azmod.get_or_none, 'reading key k1', client.get_key, 'k1')
    assert result['error']['code'] == 'VaultHostUnreachable'
    assert 'vault host kvnosuchvault01.vault.azure.net does not resolve' in result['msg']
    assert 'cloud_environment' in result['error']['hint']


# -- azure.azcollection-compatible authentication: its option names, sources, credential file and CLI profile --------
OTHER_SUB = '5a0e0e5e-0000-4000-8000-0000000000ff'


@pytest.fixture()
def azure_home(in_process_env, tmp_path, monkeypatch):
    """A temporary HOME (and ~/.azure) with none of the emulator's credential variables: each test writes what the
    azure.azcollection user would have there. The real home directory is never read."""
    home = tmp_path / 'home'
    (home / '.azure').mkdir(parents=True)
    monkeypatch.setenv('HOME', str(home))
    monkeypatch.setenv('AZURE_CONFIG_DIR', str(home / '.azure'))
    for name in ('AZURE_TENANT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_ID', 'AZURE_SUBSCRIPTION_ID'):
        monkeypatch.delenv(name, raising=False)
    return home / '.azure'


def _write_credentials(azure_dir, **sections):
    text = ''.join('[%s]\n%s\n' % (name, ''.join('%s = %s\n' % item for item in values.items()))
                   for name, values in sections.items())
    (azure_dir / 'credentials').write_text(text)


def _signed_in_as(emulator, principal):
    """Resource Manager saw only ``principal``'s token since the log was cleared."""
    arm = [e for e in admin(emulator, 'GET', '/_emulator/requests') if e['host'] == 'management.azure.com']
    assert arm and set(e['principal'] for e in arm) == {principal['object_id']}, arm


def test_credential_file_profile_from_azure_profile(fresh_emulator, azure_home, monkeypatch, make_module):
    """AZURE_PROFILE names a section of ~/.azure/credentials: a service principal with a secret."""
    principal = reader_principal(fresh_emulator, secrets=['profile-secret'])
    _write_credentials(azure_home, default={'subscription_id': OTHER_SUB},
                       ci={'subscription_id': SUB, 'client_id': principal['client_id'], 'secret': 'profile-secret',
                           'tenant': TENANT})
    monkeypatch.setenv('AZURE_PROFILE', 'ci')
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    azmod = make_module()
    assert azmod.subscription_id == SUB
    assert 'value' in list_groups(azmod)
    _signed_in_as(fresh_emulator, principal)


def test_credential_file_source_with_user_and_password(fresh_emulator, azure_home, make_module):
    """auth_source credential_file reads [default] (the profile option picks another); user and password here."""
    user = reader_principal(fresh_emulator, type='User', username='profile@contoso.example', password='pr0file',
                            client_id=None)
    _write_credentials(azure_home, default={'subscription_id': SUB, 'ad_user': 'profile@contoso.example',
                                            'password': 'pr0file', 'tenant': TENANT})
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    assert 'value' in list_groups(make_module(auth_source='credential_file'))
    _signed_in_as(fresh_emulator, user)


def test_auto_falls_back_to_the_default_profile(fresh_emulator, azure_home, make_module):
    """azure.azcollection's auto: task options, then the environment, then [default] of ~/.azure/credentials."""
    principal = reader_principal(fresh_emulator, secrets=['default-secret'])
    _write_credentials(azure_home, default={'subscription_id': SUB, 'client_id': principal['client_id'],
                                            'secret': 'default-secret', 'tenant': TENANT})
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    assert 'value' in list_groups(make_module())
    _signed_in_as(fresh_emulator, principal)


def test_a_missing_profile_fails_before_any_request(fresh_emulator, azure_home, capsys, make_module):
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    result, _raw = expect_failure(capsys, list_groups, make_module(profile='prod'))
    assert result['msg'].startswith('Failed reading the authentication options: the profile [prod] is not in ')
    assert str(azure_home / 'credentials') in result['msg']
    assert admin(fresh_emulator, 'GET', '/_emulator/requests') == []


def test_env_source_with_awx_variables(fresh_emulator, awx_only, make_module):
    awx_only.setenv('AZURE_CLIENT_ID', OPERATOR_CLIENT)
    awx_only.setenv('AZURE_SECRET', OPERATOR_SECRET)
    awx_only.setenv('AZURE_TENANT', TENANT)
    assert 'value' in list_groups(make_module(auth_source='env'))


def test_msi_is_managed_identity(fresh_emulator, in_process_env, monkeypatch, make_module):
    monkeypatch.delenv('AZURE_CLIENT_ID')
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    assert 'value' in list_groups(make_module(auth_source='msi'))
    assert any(e['path'].startswith('/msi/token') for e in admin(fresh_emulator, 'GET', '/_emulator/requests'))


def _fake_az(tmp_path):
    """A stand-in `az` (what AzureCliCredential runs) that signs in to the emulator as the operator."""
    fake_az = tmp_path / 'az'
    fake_az.write_text(textwrap.dedent('''\
        #!%s
        import json, sys, time, requests
        resource = sys.argv[sys.argv.index('--resource') + 1] if '--resource' in sys.argv else sys.argv[sys.argv.index('--scope') + 1]
        scope = resource.rstrip('/') + '/.default' if not resource.endswith('/.default') else resource
        token = requests.post('https://login.microsoftonline.com/%s/oauth2/v2.0/token', data={
            'grant_type': 'client_credentials', 'client_id': '%s', 'client_secret': '%s', 'scope': scope}).json()
        print(json.dumps({'accessToken': token['access_token'], 'expires_on': int(time.time()) + 3600,
                          'expiresOn': '2099-01-01 00:00:00.000000', 'subscription': '%s', 'tenant': '%s',
                          'tokenType': 'Bearer'}))
        ''' % (sys.executable, TENANT, OPERATOR_CLIENT, OPERATOR_SECRET, SUB, TENANT)))
    fake_az.chmod(fake_az.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def _cli_profile(azure_dir, default):
    """azureProfile.json as `az login` writes it (with a byte order mark), ``default`` the `az account set` one."""
    subscriptions = [{'id': sub, 'name': 'sub-%s' % sub[-4:], 'isDefault': sub == default, 'state': 'Enabled',
                      'tenantId': TENANT, 'environmentName': 'AzureCloud',
                      'user': {'name': 'ops@contoso.example', 'type': 'user'}} for sub in (OTHER_SUB, SUB)]
    (azure_dir / 'azureProfile.json').write_bytes(
        json.dumps({'installationId': str(uuid.uuid4()), 'subscriptions': subscriptions}).encode('utf-8-sig'))


@pytest.mark.parametrize('config_dir', ['AZURE_CONFIG_DIR', 'HOME'])
def test_azure_cli_uses_the_cli_current_subscription(fresh_emulator, azure_home, tmp_path, monkeypatch, make_module,
                                                     config_dir):
    """auth_source cli without subscription_id: the subscription `az account set` chose (isDefault in azureProfile.json
    of AZURE_CONFIG_DIR, else ~/.azure)."""
    if config_dir == 'HOME':
        monkeypatch.delenv('AZURE_CONFIG_DIR')
    _cli_profile(azure_home, default=SUB)
    monkeypatch.setenv('PATH', '%s%s%s' % (_fake_az(tmp_path), os.pathsep, os.environ['PATH']))
    azmod = make_module(auth_source='cli')
    assert azmod.subscription_id == SUB
    create_group(azmod, 'rg-cli-default')
    assert 'rg-cli-default' in [group['name'] for group in list_groups(azmod)['value']]
    # A given subscription wins over the CLI's.
    _cli_profile(azure_home, default=OTHER_SUB)
    assert make_module(auth_source='cli', subscription_id=SUB).subscription_id == SUB


def _subscription(azmod):
    return azmod.subscription_id


def test_azure_cli_without_any_subscription_says_how_to_choose_one(fresh_emulator, azure_home, capsys, make_module):
    result, _raw = expect_failure(capsys, _subscription, make_module(auth_source='cli'))
    assert result['msg'] == 'subscription_id is required (or set AZURE_SUBSCRIPTION_ID, or choose a default ' \
        'subscription with az account set)'


@pytest.mark.parametrize('how', ['options', 'environment', 'profile'])
def test_x509_certificate_path_and_thumbprint(fresh_emulator, azure_home, tmp_path, monkeypatch, make_module, how):
    """azure.azcollection's certificate names: x509_certificate_path (a PEM, certificate appended to the key) and
    thumbprint, as options, as AZURE_X509_CERTIFICATE_PATH / AZURE_THUMBPRINT, or in a credential file profile."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    path, cert_pem = _self_signed(tmp_path)
    thumbprint = x509.load_pem_x509_certificate(cert_pem.encode()).fingerprint(hashes.SHA1()).hex().upper()
    principal = reader_principal(fresh_emulator, certificates=[cert_pem])
    cert = {'client_id': principal['client_id'], 'tenant': TENANT, 'x509_certificate_path': path,
            'thumbprint': thumbprint}
    monkeypatch.setenv('AZURE_SUBSCRIPTION_ID', SUB)
    if how == 'options':
        azmod = make_module(**cert)
    elif how == 'environment':
        for name, value in cert.items():
            monkeypatch.setenv('AZURE_%s' % name.upper(), value)
        azmod = make_module()
    else:
        _write_credentials(azure_home, sp=dict(cert, subscription_id=SUB))
        azmod = make_module(auth_source='credential_file', profile='sp')
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    assert 'value' in list_groups(azmod)
    _signed_in_as(fresh_emulator, principal)


def test_adfs_authority_url_is_where_tokens_are_requested(fresh_emulator, in_process_env, make_module):
    """adfs_authority_url replaces the cloud's sign-in authority (ADFS, Azure Stack Hub's own authority)."""
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    azmod = make_module(adfs_authority_url='https://login.local.azurestack.external/%s' % TENANT)
    assert 'value' in list_groups(azmod)
    token_hosts = set(e['host'] for e in admin(fresh_emulator, 'GET', '/_emulator/requests')
                      if e['path'].endswith('/token'))
    assert token_hosts == {'login.local.azurestack.external'}


@pytest.mark.parametrize('where', ['option', 'environment'])
def test_cert_validation_mode_ignore_fails_before_any_request(fresh_emulator, in_process_env, monkeypatch, capsys,
                                                              make_module, where):
    admin(fresh_emulator, 'DELETE', '/_emulator/requests')
    if where == 'option':
        azmod = make_module(cert_validation_mode='ignore')
    else:
        monkeypatch.setenv('AZURE_CERT_VALIDATION_MODE', 'ignore')
        azmod = make_module()
    result, _raw = expect_failure(capsys, list_groups, azmod)
    assert 'cert_validation_mode ignore is not supported' in result['msg']
    assert 'REQUESTS_CA_BUNDLE' in result['msg']
    assert admin(fresh_emulator, 'GET', '/_emulator/requests') == []


def test_cert_validation_mode_validate_is_accepted(fresh_emulator, in_process_env, make_module):
    assert 'value' in list_groups(make_module(cert_validation_mode='validate'))


def test_api_profile_and_log_path_are_accepted_with_a_warning(fresh_emulator, in_process_env, make_module):
    from ansible.module_utils.common import warnings
    azmod = make_module(api_profile='latest', log_path='/tmp/azure_rm.log', log_mode='file')
    assert 'value' in list_groups(azmod)
    messages = [m for m in warnings.get_warning_messages() if 'azure.azcollection compatibility' in m]
    assert len(messages) == 3
    assert any(m.startswith("api_profile='latest' is accepted") and 'ignored' in m for m in messages)
    assert any(m.startswith("log_path='/tmp/azure_rm.log'") for m in messages)
