# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Authentication options shared by every sovereign.cmk Azure module, and their attributes."""

    DOCUMENTATION = r'''
options:
  auth_source:
    description:
      - Which credential to use. The values of C(azure.azcollection) (V(auto), V(cli), V(env), V(credential_file),
        V(msi)) mean what they mean there, so its playbooks and C(module_defaults) run unchanged.
      - V(auto) uses the O(profile) of the credential file when O(profile) (or E(AZURE_PROFILE)) is set; otherwise a
        service principal when O(secret) or O(certificate_path) is set, workload identity when O(federated_token_file)
        is set, user and password when O(ad_user) and O(password) are set; otherwise, when no O(client_id) is given
        either, the C([default]) section of C(~/.azure/credentials) if the file has one; and otherwise the
        azure-identity default credential chain (environment, workload identity, managed identity, Azure CLI, ...).
      - V(env) uses the credentials of the task options and their environment variables (E(AZURE_CLIENT_ID),
        E(AZURE_SECRET), E(AZURE_TENANT), E(AZURE_AD_USER), E(AZURE_PASSWORD), ...), or the profile E(AZURE_PROFILE)
        names, and fails when there are none.
      - V(credential_file) uses the section O(profile) (default C(default)) of C(~/.azure/credentials).
      - V(service_principal) uses O(tenant), O(client_id) and O(secret) or O(certificate_path).
      - V(workload_identity) exchanges the federated token in O(federated_token_file) (AKS workload identity,
        GitHub Actions OIDC, ...).
      - V(managed_identity), or V(msi), uses the managed identity of the machine running the module; O(client_id)
        selects a user-assigned one.
      - V(cli) uses the signed-in Azure CLI account; without O(subscription_id) the Azure CLI's current subscription
        (C(az account set), the subscription marked C(isDefault) in C(azureProfile.json) of E(AZURE_CONFIG_DIR),
        default C(~/.azure)) is used.
      - V(default_chain) uses the azure-identity C(DefaultAzureCredential) chain.
      - Can also be set with the E(ANSIBLE_AZURE_AUTH_SOURCE) environment variable.
    type: str
    default: auto
    choices: [auto, service_principal, workload_identity, managed_identity, cli, user_password, default_chain, env,
              credential_file, msi]
  profile:
    description:
      - A section of the credential file C(~/.azure/credentials), the INI file of C(azure.azcollection). Its keys
        C(subscription_id), C(client_id), C(secret), C(tenant), C(ad_user), C(password), C(x509_certificate_path),
        C(thumbprint), C(cloud_environment), C(cert_validation_mode), C(adfs_authority_url) and
        C(disable_instance_discovery) replace the task's credential options (and their environment variables).
      - Defaults to E(AZURE_PROFILE).
    type: str
  subscription_id:
    description:
      - The Azure subscription id. Required by tasks that call Azure Resource Manager.
      - Defaults to the E(AZURE_SUBSCRIPTION_ID) environment variable, then (with O(auth_source=cli) or the default
        credential chain) the Azure CLI's current subscription.
    type: str
  tenant:
    description:
      - The Microsoft Entra tenant id.
      - Defaults to E(AZURE_TENANT) (the name the AWX Microsoft Azure Resource Manager credential injects),
        then E(AZURE_TENANT_ID).
    type: str
    aliases: [tenant_id]
  client_id:
    description:
      - The application (client) id of a service principal, workload identity or user-assigned managed identity.
      - Defaults to E(AZURE_CLIENT_ID).
    type: str
  secret:
    description:
      - The client secret of the service principal.
      - Defaults to E(AZURE_SECRET) (AWX), then E(AZURE_CLIENT_SECRET). Never logged.
    type: str
    aliases: [client_secret]
  certificate_path:
    description:
      - Path to a PEM or PKCS12 file with the service principal's certificate and private key.
      - O(x509_certificate_path) is the C(azure.azcollection) name (a PEM file, the certificate appended to the private
        key).
      - Defaults to E(AZURE_CLIENT_CERTIFICATE_PATH), then E(AZURE_X509_CERTIFICATE_PATH).
    type: path
    aliases: [x509_certificate_path]
  certificate_password:
    description:
      - Password of the certificate file, if it has one. Defaults to E(AZURE_CLIENT_CERTIFICATE_PASSWORD).
    type: str
  thumbprint:
    description:
      - The thumbprint of the certificate in O(certificate_path) (C(azure.azcollection) requires it with
        O(x509_certificate_path)). Accepted and not needed - the thumbprint is computed from the certificate.
      - Defaults to E(AZURE_THUMBPRINT).
    type: str
  federated_token_file:
    description:
      - File holding a federated token for workload identity. Defaults to E(AZURE_FEDERATED_TOKEN_FILE).
    type: path
  ad_user:
    description:
      - User name for user/password sign-in (accounts without multi-factor authentication only).
      - Defaults to E(AZURE_AD_USER) (AWX), then E(AZURE_USERNAME).
    type: str
  password:
    description:
      - Password for O(ad_user). Defaults to E(AZURE_PASSWORD). Never logged.
    type: str
  cloud_environment:
    description:
      - The Azure cloud. V(AzureCloud), V(AzureChinaCloud), V(AzureUSGovernment), or the V(https://) URL of a
        custom Azure Resource Manager endpoint (Azure Stack Hub), whose metadata endpoint then supplies the
        sign-in authority and the Key Vault and Managed HSM DNS suffixes.
      - Defaults to E(AZURE_CLOUD_ENVIRONMENT).
    type: str
    default: AzureCloud
  disable_instance_discovery:
    description:
      - Do not ask Microsoft Entra ID to validate the authority (for disconnected or private clouds). Always on
        for an authority that is not a public Microsoft Entra host.
      - Defaults to E(AZURE_DISABLE_INSTANCE_DISCOVERY).
    type: bool
    default: false
  adfs_authority_url:
    description:
      - The sign-in authority to use instead of the cloud's, for ADFS (Azure Stack Hub with ADFS) or another
        authority; for example V(https://adfs.contoso.com/adfs). A path names the tenant (V(adfs) for ADFS).
      - Applies to service principal (secret or certificate), user/password and workload identity sign-in.
      - Defaults to E(AZURE_ADFS_AUTHORITY_URL).
    type: str
  cert_validation_mode:
    description:
      - Accepted for C(azure.azcollection) compatibility. TLS certificate verification cannot be turned off here -
        V(validate) is what every request does, and V(ignore) fails the task before any request. For a
        TLS-inspecting proxy or Azure Stack Hub, trust its CA with E(REQUESTS_CA_BUNDLE) instead.
      - Defaults to E(AZURE_CERT_VALIDATION_MODE).
    type: str
    choices: [validate, ignore]
  api_profile:
    description:
      - Accepted for C(azure.azcollection) compatibility and ignored, with a warning - every request uses the API
        version the collection's service rules table names.
    type: str
  log_path:
    description:
      - Accepted for C(azure.azcollection) compatibility and ignored, with a warning - the modules write no SDK log.
    type: str
  log_mode:
    description:
      - Accepted for C(azure.azcollection) compatibility and ignored, with a warning - the modules write no SDK log.
    type: str
  timeout:
    description:
      - The bound, in seconds, of every wait of the task - a long-running operation (a VM deallocation, a container
        group deployment, a DES update) and the retries of a resource busy with another operation (HTTP 409
        C(AnotherOperationInProgress)). When it runs out the task fails with the operation, its last status and its
        status monitor URL; the resource is left as the next run can read and finish it.
    type: int
    default: 1800
notes:
  - Requests go through the standard E(HTTPS_PROXY) and trust the CA bundle in E(REQUESTS_CA_BUNDLE). TLS
    certificate verification cannot be turned off.
  - Throttled (HTTP 429) and transiently failing (5xx) requests and dropped connections are retried (a bounded number
    of times), waiting as long as Azure's C(Retry-After) header asks - writes too, because every Resource Manager write
    the collection sends is idempotent. A resource busy with another operation (HTTP 409) is retried with backoff
    within O(timeout). A token Azure declares expired (C(ExpiredAuthenticationToken)) is renewed once. Long-running
    operations are polled at the interval Azure asks for, up to O(timeout).
  - Every Azure error fails the task with Azure's error code, message and request id, and a hint where one helps.
requirements:
  - python >= 3.9
  - azure-identity >= 1.19.0
  - azure-core >= 1.38.0
  - azure-mgmt-core >= 1.6.0
attributes:
  action_group:
    description: Use C(group/sovereign.cmk.azure) in C(module_defaults) to set the authentication options once.
    support: full
    membership:
      - sovereign.cmk.azure
'''
