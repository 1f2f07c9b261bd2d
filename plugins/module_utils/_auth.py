# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Authentication options, Azure clouds and credential selection.

Everything here but ``build_credential`` is pure (no SDK import) and unit-tested.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import env_fallback

# Client id of the Azure CLI: the public client used for user/password sign-in when no client id is
# given (the AWX "Microsoft Azure Resource Manager" credential with a user name and password).
AZURE_CLI_CLIENT_ID = '04b07795-8ddb-461a-bbee-02f9e1bf7b46'

AUTH_SOURCES = ['auto', 'service_principal', 'workload_identity', 'managed_identity', 'cli',
                'user_password', 'default_chain']

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
    certificate_path=dict(type='path', fallback=(env_fallback, ['AZURE_CLIENT_CERTIFICATE_PATH'])),
    certificate_password=dict(type='str', no_log=True,
                              fallback=(env_fallback, ['AZURE_CLIENT_CERTIFICATE_PASSWORD'])),
    federated_token_file=dict(type='path', fallback=(env_fallback, ['AZURE_FEDERATED_TOKEN_FILE'])),
    ad_user=dict(type='str', fallback=(env_fallback, ['AZURE_AD_USER', 'AZURE_USERNAME'])),
    password=dict(type='str', no_log=True, fallback=(env_fallback, ['AZURE_PASSWORD'])),
    cloud_environment=dict(type='str', default='AzureCloud',
                           fallback=(env_fallback, ['AZURE_CLOUD_ENVIRONMENT'])),
    disable_instance_discovery=dict(type='bool', default=False),
    timeout=dict(type='int', default=1800),
)

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
    """Decide which credential to build from the options (after environment fallbacks).

    Returns one of 'secret', 'certificate', 'workload_identity', 'managed_identity', 'cli',
    'user_password', 'default_chain'. Raises AuthConfigError naming what is missing.
    """
    source = params.get('auth_source') or 'auto'
    names = ('tenant', 'client_id', 'secret', 'certificate_path', 'federated_token_file', 'ad_user', 'password')
    has = dict((k, bool(params.get(k))) for k in names)
    if source == 'auto':
        if has['secret'] or has['certificate_path']:
            source = 'service_principal'
        elif has['federated_token_file']:
            source = 'workload_identity'
        elif has['ad_user'] and has['password']:
            source = 'user_password'
        else:
            return 'default_chain'
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


def authority_kwargs(cloud, params):
    """Keyword arguments that point an azure-identity credential at the cloud's authority."""
    kwargs = {'authority': cloud['authority_host']}
    host = cloud['authority_host'].split('://', 1)[-1].split('/')[0].lower()
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
