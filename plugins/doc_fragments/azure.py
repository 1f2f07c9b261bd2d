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
      - Which credential to use.
      - V(auto) picks a service principal when O(secret) or O(certificate_path) is set, workload identity
        when O(federated_token_file) is set, user and password when O(ad_user) and O(password) are set,
        and otherwise the azure-identity default credential chain (environment, workload identity,
        managed identity, Azure CLI, ...).
      - V(service_principal) uses O(tenant), O(client_id) and O(secret) or O(certificate_path).
      - V(workload_identity) exchanges the federated token in O(federated_token_file) (AKS workload identity,
        GitHub Actions OIDC, ...).
      - V(managed_identity) uses the managed identity of the machine running the module; O(client_id) selects
        a user-assigned one.
      - V(cli) uses the signed-in Azure CLI account.
      - V(default_chain) uses the azure-identity C(DefaultAzureCredential) chain.
      - Can also be set with the E(ANSIBLE_AZURE_AUTH_SOURCE) environment variable.
    type: str
    default: auto
    choices: [auto, service_principal, workload_identity, managed_identity, cli, user_password, default_chain]
  subscription_id:
    description:
      - The Azure subscription id. Required by tasks that call Azure Resource Manager.
      - Defaults to the E(AZURE_SUBSCRIPTION_ID) environment variable.
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
      - Defaults to E(AZURE_CLIENT_CERTIFICATE_PATH).
    type: path
  certificate_password:
    description:
      - Password of the certificate file, if it has one. Defaults to E(AZURE_CLIENT_CERTIFICATE_PASSWORD).
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
    type: bool
    default: false
notes:
  - Requests go through the standard E(HTTPS_PROXY) and trust the CA bundle in E(REQUESTS_CA_BUNDLE). TLS
    certificate verification cannot be turned off.
  - Throttled (HTTP 429) and transiently failing (5xx) requests are retried, waiting as long as Azure's
    C(Retry-After) header asks. Long-running operations are polled at the interval Azure asks for.
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
