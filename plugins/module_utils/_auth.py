# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Authentication options, Azure clouds and credential selection.

Everything here but ``build_credential`` is pure (no SDK import) and unit-tested.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import os

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.six.moves import configparser

# Client id of the Azure CLI: the public client used for user/password sign-in when no client id is
# given (the AWX "Microsoft Azure Resource Manager" credential with a user name and password).
AZURE_CLI_CLIENT_ID = '04b07795-8ddb-461a-bbee-02f9e1bf7b46'

# The collection's own sources, then azure.azcollection's (env, credential_file, msi) so that its playbooks run unchanged.
AUTH_SOURCES = ['auto', 'service_principal', 'workload_identity', 'managed_identity', 'cli',
                'user_password', 'default_chain', 'env', 'credential_file', 'msi']

# azure.azcollection options that have no effect here: accepted, with a warning.
IGNORED_OPTIONS = {
    'api_profile': 'every request uses the API version the service rules table names',
    'log_path': 'the modules write no SDK log file; run ansible with -vvv for more detail',
    'log_mode': 'the modules write no SDK log file; run ansible with -vvv for more detail',
}

# Options shared by every module (documented once in the sovereign.cmk.azure doc fragment).
# Environment names: the AWX credential's names first, then azure-identity's.
AUTH_ARGUMENT_SPEC = dict(
    auth_source=dict(type='str', default='auto', choices=AUTH_SOURCES,
                     fallback=(env_fallback, ['ANSIBLE_AZURE_AUTH_SOURCE'])),
    subscription_id=dict(type='str', fallback=(env_fallback, ['AZURE_SUBSCRIPTION_ID'])),
    tenant=dict(type='str', aliases=['tenant_id'], fallback=(env_fallback, ['AZURE_TENANT', 'AZURE_TENANT_ID'])),
    client_id=dict(type='str', fallback=(env_fallback, ['AZURE_CLIENT_ID'])),
    secret=dict(type='str', no_log=True, aliases=['client_secret'],
                fallback=(env_fallback, ['AZURE_SECRET', 'AZURE_CLIENT_SECRET'])),
    certificate_path=dict(type='path', aliases=['x509_certificate_path'],
                          fallback=(env_fallback, ['AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_X509_CERTIFICATE_PATH'])),
    thumbprint=dict(type='str', fallback=(env_fallback, ['AZURE_THUMBPRINT'])),
    certificate_password=dict(type='str', no_log=True,
                              fallback=(env_fallback, ['AZURE_CLIENT_CERTIFICATE_PASSWORD'])),
    federated_token_file=dict(type='path', fallback=(env_fallback, ['AZURE_FEDERATED_TOKEN_FILE'])),
    ad_user=dict(type='str', fallback=(env_fallback, ['AZURE_AD_USER', 'AZURE_USERNAME'])),
    password=dict(type='str', no_log=True, fallback=(env_fallback, ['AZURE_PASSWORD'])),
    cloud_environment=dict(type='str', default='AzureCloud',
                           fallback=(env_fallback, ['AZURE_CLOUD_ENVIRONMENT'])),
    disable_instance_discovery=dict(type='bool', default=False,
                                    fallback=(env_fallback, ['AZURE_DISABLE_INSTANCE_DISCOVERY'])),
    timeout=dict(type='int', default=1800),
    # azure.azcollection's names
    profile=dict(type='str', fallback=(env_fallback, ['AZURE_PROFILE'])),
    adfs_authority_url=dict(type='str', fallback=(env_fallback, ['AZURE_ADFS_AUTHORITY_URL'])),
    cert_validation_mode=dict(type='str', choices=['validate', 'ignore'],
                              fallback=(env_fallback, ['AZURE_CERT_VALIDATION_MODE'])),
    api_profile=dict(type='str'),
    log_path=dict(type='str'),
    log_mode=dict(type='str'),
)

# Keys of a ~/.azure/credentials section (azure.azcollection's) and the option each sets.
PROFILE_KEYS = {
    'subscription_id': 'subscription_id', 'client_id': 'client_id', 'secret': 'secret', 'tenant': 'tenant',
    'ad_user': 'ad_user', 'password': 'password', 'cloud_environment': 'cloud_environment',
    'cert_validation_mode': 'cert_validation_mode', 'adfs_authority_url': 'adfs_authority_url',
    'x509_certificate_path': 'certificate_path', 'thumbprint': 'thumbprint',
    'disable_instance_discovery': 'disable_instance_discovery',
}
# Any of these given: ``auto`` does not look for the [default] profile (azure.azcollection: parameters, then env).
GIVEN_CREDENTIAL_OPTIONS = ('client_id', 'secret', 'certificate_path', 'federated_token_file', 'ad_user')
# The options that say who signs in: a credential file profile replaces all of them.
IDENTITY_OPTIONS = ('client_id', 'secret', 'tenant', 'ad_user', 'password', 'certificate_path',
                    'certificate_password', 'federated_token_file', 'thumbprint')

# Built-in clouds. ``key_vault_suffix``/``managed_hsm_suffix`` are the data-plane DNS suffixes.
CLOUDS = {
    'AzureCloud': dict(
        name='AzureCloud',
        resource_manager='https://management.azure.com',
        authority_host='https://login.microsoftonline.com',
        arm_audience='https://management.azure.com/',
        key_vault_suffix='vault.azure.net',
        managed_hsm_suffix='managedhsm.azure.net',
    ),
    'AzureChinaCloud': dict(
        name='AzureChinaCloud',
        resource_manager='https://management.chinacloudapi.cn',
        authority_host='https://login.chinacloudapi.cn',
        arm_audience='https://management.chinacloudapi.cn/',
        key_vault_suffix='vault.azure.cn',
        managed_hsm_suffix='managedhsm.azure.cn',
    ),
    'AzureUSGovernment': dict(
        name='AzureUSGovernment',
        resource_manager='https://management.usgovcloudapi.net',
        authority_host='https://login.microsoftonline.us',
        arm_audience='https://management.usgovcloudapi.net/',
        key_vault_suffix='vault.usgovcloudapi.net',
        managed_hsm_suffix='managedhsm.usgovcloudapi.net',
    ),
}
CLOUD_ALIASES = {
    'azurecloud': 'AzureCloud', 'azurepubliccloud': 'AzureCloud', 'public': 'AzureCloud',
    'azurechinacloud': 'AzureChinaCloud', 'china': 'AzureChinaCloud',
    'azureusgovernment': 'AzureUSGovernment', 'azureusgovernmentcloud': 'AzureUSGovernment',
    'usgovernment': 'AzureUSGovernment',
}
WELL_KNOWN_AUTHORITIES = ('login.microsoftonline.com', 'login.microsoft.com', 'login.windows.net',
                          'login.chinacloudapi.cn', 'login.microsoftonline.us', 'login.usgovcloudapi.net')
METADATA_API_VERSION = '2022-09-01'


class AuthConfigError(ValueError):
    """The authentication options do not add up; the message says what to set."""


def arm_scope(cloud):
    return cloud['arm_audience'].rstrip('/') + '/.default'


def builtin_cloud(name):
    """The cloud named ``name`` (case-insensitive, with the usual aliases), or None for a URL/unknown."""
    if not name:
        return dict(CLOUDS['AzureCloud'])
    canonical = CLOUD_ALIASES.get(name.strip().lower())
    return dict(CLOUDS[canonical]) if canonical else None


def metadata_url(endpoint):
    """The metadata URL for a custom cloud given as its Resource Manager URL or the metadata URL itself."""
    if not endpoint.lower().startswith('https://'):
        raise AuthConfigError("cloud_environment %r is neither AzureCloud, AzureChinaCloud, AzureUSGovernment "
                              "nor an https:// Azure Resource Manager endpoint" % endpoint)
    if '/metadata/endpoints' in endpoint.lower():
        return endpoint
    return '%s/metadata/endpoints?api-version=%s' % (endpoint.rstrip('/'), METADATA_API_VERSION)


def cloud_from_metadata(doc, endpoint):
    """Build a cloud from an ARM metadata document (Azure Stack Hub and other custom clouds).

    Accepts the single object that ``/metadata/endpoints?api-version=2022-09-01`` returns, or a list
    of them (the first whose resourceManager matches ``endpoint`` wins).
    """
    if isinstance(doc, list):
        base = endpoint.split('/metadata/')[0].rstrip('/').lower()
        matching = [d for d in doc if str(d.get('resourceManager', '')).rstrip('/').lower() == base]
        doc = (matching or doc or [None])[0]
    if not isinstance(doc, dict):
        raise AuthConfigError('the cloud metadata endpoint %s returned no cloud description' % endpoint)
    try:
        auth = doc['authentication']
        suffixes = doc.get('suffixes') or {}
        resource_manager = (doc.get('resourceManager') or endpoint.split('/metadata/')[0]).rstrip('/')
        return dict(
            name=doc.get('name') or 'Custom',
            resource_manager=resource_manager,
            authority_host=auth['loginEndpoint'].rstrip('/'),
            arm_audience=auth['audiences'][0],
            key_vault_suffix=(suffixes.get('keyVaultDns') or '').lstrip('.') or None,
            managed_hsm_suffix=(suffixes.get('mhsmDns') or '').lstrip('.') or None,
        )
    except (KeyError, IndexError, TypeError, AttributeError):
        raise AuthConfigError('the cloud metadata from %s lacks authentication.loginEndpoint or audiences' % endpoint)


def choose_auth_method(params):
    """Decide which credential to build from the options (after environment fallbacks and ``resolve_params``).

    Returns one of 'secret', 'certificate', 'workload_identity', 'managed_identity', 'cli',
    'user_password', 'default_chain'. Raises AuthConfigError naming what is missing.
    """
    source = params.get('auth_source') or 'auto'
    if source == 'msi':
        source = 'managed_identity'
    names = ('tenant', 'client_id', 'secret', 'certificate_path', 'federated_token_file', 'ad_user', 'password')
    has = dict((k, bool(params.get(k))) for k in names)
    if source in ('auto', 'env', 'credential_file'):
        if has['secret'] or has['certificate_path']:
            source = 'service_principal'
        elif has['federated_token_file']:
            source = 'workload_identity'
        elif has['ad_user'] and has['password']:
            source = 'user_password'
        elif source == 'auto':
            return 'default_chain'
        elif source == 'env':
            raise AuthConfigError('auth_source env found no credential: set AZURE_CLIENT_ID, AZURE_SECRET and '
                                  'AZURE_TENANT (a service principal), AZURE_AD_USER and AZURE_PASSWORD, '
                                  'AZURE_FEDERATED_TOKEN_FILE, or AZURE_PROFILE (a section of %s)'
                                  % credential_file_path())
        else:
            raise AuthConfigError('the profile [%s] of %s holds no credential: it needs client_id, secret and tenant, '
                                  'or client_id, tenant and x509_certificate_path, or ad_user and password'
                                  % (params.get('profile') or 'default', credential_file_path()))
    if source == 'service_principal':
        missing = [k for k in ('tenant', 'client_id') if not has[k]]
        if not (has['secret'] or has['certificate_path']):
            missing.append('secret or certificate_path')
        if missing:
            raise AuthConfigError('service principal authentication needs %s (or the AZURE_TENANT, '
                                  'AZURE_CLIENT_ID and AZURE_SECRET environment variables)' % ', '.join(missing))
        return 'secret' if has['secret'] else 'certificate'
    if source == 'workload_identity':
        missing = [k for k in ('tenant', 'client_id', 'federated_token_file') if not has[k]]
        if missing:
            raise AuthConfigError('workload identity authentication needs %s' % ', '.join(missing))
        return 'workload_identity'
    if source == 'user_password':
        missing = [k for k in ('ad_user', 'password') if not has[k]]
        if missing:
            raise AuthConfigError('user/password authentication needs %s (or AZURE_AD_USER and AZURE_PASSWORD)'
                                  % ', '.join(missing))
        return 'user_password'
    return source


# -- azure.azcollection compatibility: the credential file, the Azure CLI profile, option mapping -------------------
def credential_file_path():
    """azure.azcollection's credential file, ``~/.azure/credentials`` (like azure.azcollection, not AZURE_CONFIG_DIR)."""
    return os.path.join(os.path.expanduser('~'), '.azure', 'credentials')


def cli_profile_path():
    """The Azure CLI's profile (its accounts and the default subscription): ``$AZURE_CONFIG_DIR/azureProfile.json``."""
    base = os.environ.get('AZURE_CONFIG_DIR') or os.path.join(os.path.expanduser('~'), '.azure')
    return os.path.join(base, 'azureProfile.json')


def _read_text(path):
    """The text of ``path`` (a UTF-8 byte order mark dropped, as the Azure CLI writes one), or None if absent."""
    try:
        with io.open(path, encoding='utf-8-sig') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def parse_profile(text, name):
    """The options section ``[name]`` of a credentials file sets, or None when the file has no such section."""
    parser = configparser.ConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise AuthConfigError('the credential file is not an INI file: %s' % exc)
    if not parser.has_section(name):
        return None
    values = {}
    for key, option in PROFILE_KEYS.items():
        if parser.has_option(name, key):
            value = parser.get(name, key, raw=True).strip()
            if value:
                values[option] = value
    if 'disable_instance_discovery' in values:
        values['disable_instance_discovery'] = values['disable_instance_discovery'].lower() in ('true', 'yes', '1', 'on')
    return values


def load_profile(name, path=None):
    """(the options of profile ``name`` or None, the file's path)."""
    path = path or credential_file_path()
    text = _read_text(path)
    return (parse_profile(text, name) if text is not None else None), path


def default_cli_subscription(text):
    """The id of the subscription the Azure CLI profile marks ``isDefault`` (``az account set``), or None."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise AuthConfigError('the Azure CLI profile is not JSON: %s' % exc)
    for subscription in (doc.get('subscriptions') if isinstance(doc, dict) else None) or []:
        if isinstance(subscription, dict) and subscription.get('isDefault') and subscription.get('id'):
            return subscription['id']
    return None


def load_cli_subscription(path=None):
    """(the Azure CLI's default subscription or None, the profile's path)."""
    path = path or cli_profile_path()
    text = _read_text(path)
    return (default_cli_subscription(text) if text is not None else None), path


def split_authority(url):
    """``adfs_authority_url`` -> (the authority URL, the tenant its path names or None).

    ``https://adfs.contoso.com/adfs`` -> (``https://adfs.contoso.com``, ``adfs``), as azure-identity wants an ADFS authority.
    """
    if not url.lower().startswith('https://'):
        raise AuthConfigError('adfs_authority_url %r is not an https:// URL' % url)
    host, _sep, path = url[len('https://'):].partition('/')
    segments = [segment for segment in path.split('/') if segment]
    return 'https://' + host, (segments[0] if segments else None)


def ignored_option_warnings(params):
    """The warnings for azure.azcollection options that are set but mean nothing here."""
    return ['%s=%r is accepted for azure.azcollection compatibility and ignored: %s' % (name, params[name], why)
            for name, why in sorted(IGNORED_OPTIONS.items()) if params.get(name) is not None]


def resolve_params(params, load=load_profile):
    """The effective authentication options: azure.azcollection's names and sources mapped onto this collection's.

    - ``msi`` is ``managed_identity``.
    - A profile of ``~/.azure/credentials`` (``profile``/AZURE_PROFILE with ``auto`` or ``env``; ``credential_file``,
      default profile ``default``; or, for ``auto`` with no client_id, secret, certificate, federated token or user
      given, the ``[default]`` section if the file has one) replaces every identity option; its subscription_id,
      cloud_environment, cert_validation_mode and adfs_authority_url win over the options.
    - ``cert_validation_mode: ignore`` fails: TLS verification is never turned off.
    - ``adfs_authority_url`` with a path (``https://adfs.contoso.com/adfs``) also sets the tenant (``adfs``).

    ``load(name)`` returns (options or None, path); raises AuthConfigError.
    """
    resolved = dict(params)
    source = resolved.get('auth_source') or 'auto'
    if source == 'msi':
        source = 'managed_identity'
    name, required = None, False
    if source == 'credential_file' or (source in ('auto', 'env') and resolved.get('profile')):
        name, required = resolved.get('profile') or 'default', True
    elif source == 'auto' and not any(resolved.get(k) for k in GIVEN_CREDENTIAL_OPTIONS):
        name = 'default'
    if name:
        values, path = load(name)
        if values is None and required:
            raise AuthConfigError('the profile [%s] is not in %s (an INI file whose [%s] section has subscription_id, '
                                  'client_id, secret and tenant, or ad_user and password)' % (name, path, name))
        if values is not None:
            for option in IDENTITY_OPTIONS:
                resolved[option] = None
            resolved.update(values)
            resolved['profile'] = name
    resolved['auth_source'] = source
    if resolved.get('cert_validation_mode') == 'ignore':
        raise AuthConfigError('cert_validation_mode ignore is not supported: sovereign.cmk always verifies TLS '
                              'certificates. For a TLS-inspecting proxy or Azure Stack Hub, add its CA certificate to '
                              'the bundle named by REQUESTS_CA_BUNDLE and set cert_validation_mode to validate')
    if resolved.get('adfs_authority_url'):
        authority, tenant = split_authority(resolved['adfs_authority_url'])
        resolved['adfs_authority_url'] = authority
        if tenant and (tenant.lower() == 'adfs' or not resolved.get('tenant')):
            resolved['tenant'] = tenant
    return resolved


def authority_kwargs(cloud, params):
    """Keyword arguments that point an azure-identity credential at the cloud's authority (or adfs_authority_url)."""
    authority = params.get('adfs_authority_url') or cloud['authority_host']
    kwargs = {'authority': authority}
    host = authority.split('://', 1)[-1].split('/')[0].lower()
    if params.get('disable_instance_discovery') or host not in WELL_KNOWN_AUTHORITIES:
        kwargs['disable_instance_discovery'] = True
    return kwargs


def build_credential(method, params, cloud, transport=None):
    """Create the azure-identity credential for ``method`` (imports azure.identity only here)."""
    from azure import identity  # pylint: disable=import-outside-toplevel

    common = dict(authority_kwargs(cloud, params))
    if transport is not None:
        common['transport'] = transport
    tenant = params.get('tenant')
    if method == 'secret':
        return identity.ClientSecretCredential(tenant, params['client_id'], params['secret'], **common)
    if method == 'certificate':
        return identity.CertificateCredential(tenant, params['client_id'], params['certificate_path'],
                                              password=params.get('certificate_password'), **common)
    if method == 'workload_identity':
        return identity.WorkloadIdentityCredential(tenant_id=tenant, client_id=params['client_id'],
                                                   token_file_path=params['federated_token_file'], **common)
    if method == 'user_password':
        return identity.UsernamePasswordCredential(params.get('client_id') or AZURE_CLI_CLIENT_ID,
                                                   params['ad_user'], params['password'],
                                                   tenant_id=tenant or 'organizations', **common)
    if method == 'managed_identity':
        kwargs = {'transport': transport} if transport is not None else {}
        return identity.ManagedIdentityCredential(client_id=params.get('client_id'), **kwargs)
    if method == 'cli':
        return identity.AzureCliCredential(tenant_id=tenant or '')
    # default_chain
    kwargs = dict(common)
    kwargs.pop('disable_instance_discovery', None)
    if params.get('client_id'):
        kwargs['managed_identity_client_id'] = params['client_id']
    if tenant:
        kwargs['additionally_allowed_tenants'] = [tenant]
    return identity.DefaultAzureCredential(**kwargs)
