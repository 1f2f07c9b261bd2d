# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: azure_cmk
short_description: Discover the Azure resources that must encrypt at rest with a customer-managed key
version_added: 0.2.0
description:
  - Builds the inventory of C(playbooks/enforce.yml) and C(playbooks/drift.yml) from Azure itself - one host per
    storage account, managed disk, VM, AKS cluster, container group and SQL Managed Instance in scope - with the
    variables and groups a static inventory gives them (C(cmk_service), C(cmk_environment), C(cmk_classification),
    C(cmk_resource_group), C(cmk_subscription_id), C(cmk_identity); groups C(cmk_resources), C(storage_accounts), ...,
    and one group per environment and per classification).
  - Discovery is B(one) paged Azure Resource Graph query over every subscription in scope (1,000 resources a page),
    honouring the per-user quota headers. Where Resource Graph does not exist (Azure Stack Hub), O(use_resource_graph=false)
    lists each type in each subscription through Resource Manager instead.
  - Environment and classification come from two tags (O(environment_tag), O(classification_tag)). A resource missing
    either is in group C(cmk_unlabelled) (with C(cmk_missing_labels)), not in C(cmk_resources). Resources of services
    that cannot use a customer-managed key this way (App Service, Functions, Container Apps, ...) are in group
    C(cmk_exceptions) with C(cmk_exception_service) and C(cmk_exception_reason). A managed disk attached to a VM is
    covered by the VM's check - group C(cmk_covered), variable C(cmk_covered_by) - when virtual machines are in scope.
  - A resource's host name is its name; when several resources in scope share a name, each becomes
    C(<name>.<resource group>.<first 8 characters of the subscription id>) (the full subscription id, and then the
    type, are added when that is still ambiguous).
  - The inventory file name must end in C(azure_cmk.yml) or C(azure_cmk.yaml). The key catalog, the Disk Encryption
    Set catalog and the policy come from C(group_vars/) next to it, as with a static inventory.
  - Authentication takes the options and environment variables of the modules (C(azure.azcollection) names, the AWX
    credential's E(AZURE_*) variables, the credential file, the Azure CLI, managed identity), see
    C(docs/authentication.md). Costs, throttling and the cache are described in C(docs/discovery.md).
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
requirements:
  - python >= 3.9
  - azure-identity >= 1.19.0
  - azure-core >= 1.38.0
  - azure-mgmt-core >= 1.6.0
  - azure-mgmt-resourcegraph >= 8.0.0
options:
  plugin:
    description: The name of this plugin.
    type: str
    required: true
    choices: [sovereign.cmk.azure_cmk]
  subscriptions:
    description:
      - The subscriptions to discover. Default - the credential's subscription (O(subscription_id),
        E(AZURE_SUBSCRIPTION_ID), or the Azure CLI's current subscription).
    type: list
    elements: str
  management_groups:
    description:
      - Management groups to discover (their subscriptions and those of every group below them); takes precedence over
        O(subscriptions). Needs Resource Graph.
    type: list
    elements: str
  services:
    description: The services to discover; default all six.
    type: list
    elements: str
    choices: [storage_account, managed_disk, virtual_machine, aks, container_group, sql_managed_instance]
  environment_tag:
    description: The tag that names a resource's environment (matched case-insensitively); it becomes C(cmk_environment).
    type: str
    default: environment
  classification_tag:
    description: The tag that names a resource's data classification (matched case-insensitively); it becomes
      C(cmk_classification).
    type: str
    default: classification
  keep_label_case:
    description: Keep the case of the environment and classification tag values (by default they are lower-cased).
    type: bool
    default: false
  use_resource_graph:
    description:
      - Discover through Azure Resource Graph (one paged query). V(false) lists each resource type in each
        subscription through Resource Manager (types x subscriptions x pages requests) - for Azure Stack Hub, which
        has no Resource Graph.
    type: bool
    default: true
  auth_source:
    description:
      - Which credential to use, as in the modules (see C(sovereign.cmk.azure_cmk_key)). Defaults to
        E(ANSIBLE_AZURE_AUTH_SOURCE), then V(auto).
    type: str
    choices: [auto, service_principal, workload_identity, managed_identity, cli, user_password, default_chain, env,
              credential_file, msi]
  profile:
    description: A section of C(~/.azure/credentials). Defaults to E(AZURE_PROFILE).
    type: str
  subscription_id:
    description: The credential's subscription (the default scope). Defaults to E(AZURE_SUBSCRIPTION_ID).
    type: str
  tenant:
    description: The Microsoft Entra tenant id. Defaults to E(AZURE_TENANT), then E(AZURE_TENANT_ID).
    type: str
  client_id:
    description: The application (client) id. Defaults to E(AZURE_CLIENT_ID).
    type: str
  secret:
    description: The client secret. Defaults to E(AZURE_SECRET), then E(AZURE_CLIENT_SECRET).
    type: str
  certificate_path:
    description: A PEM certificate with its private key. Defaults to E(AZURE_CLIENT_CERTIFICATE_PATH).
    type: path
  certificate_password:
    description: The password of O(certificate_path). Defaults to E(AZURE_CLIENT_CERTIFICATE_PASSWORD).
    type: str
  thumbprint:
    description: Accepted for C(azure.azcollection) compatibility. Defaults to E(AZURE_THUMBPRINT).
    type: str
  federated_token_file:
    description: A workload identity token file. Defaults to E(AZURE_FEDERATED_TOKEN_FILE).
    type: path
  ad_user:
    description: A user name (with O(password)). Defaults to E(AZURE_AD_USER), then E(AZURE_USERNAME).
    type: str
  password:
    description: The user's password. Defaults to E(AZURE_PASSWORD).
    type: str
  cloud_environment:
    description:
      - V(AzureCloud), V(AzureChinaCloud), V(AzureUSGovernment), or the Resource Manager URL of another cloud (Azure
        Stack Hub). Defaults to E(AZURE_CLOUD_ENVIRONMENT), then V(AzureCloud).
    type: str
  disable_instance_discovery:
    description: Skip Entra authority validation (Azure Stack Hub with ADFS). Defaults to E(AZURE_DISABLE_INSTANCE_DISCOVERY).
    type: bool
  adfs_authority_url:
    description: An ADFS authority. Defaults to E(AZURE_ADFS_AUTHORITY_URL).
    type: str
  cert_validation_mode:
    description: Only V(validate) is supported. Defaults to E(AZURE_CERT_VALIDATION_MODE).
    type: str
    choices: [validate, ignore]
  timeout:
    description: The bound, in seconds, of the Resource Manager waits of the fallback listing.
    type: int
    default: 1800
notes:
  - Resource Graph is eventually consistent with Resource Manager (seconds to minutes); a resource created a moment
    ago may be missing and one deleted a moment ago may still be listed. Never use the inventory as proof that a write
    has taken effect - the modules read the resource itself.
  - A page that Resource Graph throttles (HTTP 429) or fails (5xx) is retried at most 6 times, each wait the quota's
    reset time (or C(Retry-After), or 1, 2, 4, ... seconds) and never longer than 60 seconds; when the quota is used
    up (C(x-ms-user-quota-remaining) 0) the next page waits for C(x-ms-user-quota-resets-after).
'''

EXAMPLES = r'''
# inventory/prod.azure_cmk.yml - with group_vars/all/ (cmk_keys, cmk_disk_encryption_sets, cmk_policy) next to it:
#   ansible-playbook -i inventory/prod.azure_cmk.yml playbooks/enforce.yml
plugin: sovereign.cmk.azure_cmk
subscriptions:
  - 00000000-0000-0000-0000-000000000001
  - 00000000-0000-0000-0000-000000000002

---
# a whole management group, tags named Env and DataClass, only storage and SQL MI, cached for an hour
plugin: sovereign.cmk.azure_cmk
management_groups: [landing-zones]
environment_tag: Env
classification_tag: DataClass
services: [storage_account, sql_managed_instance]
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/sovereign_cmk_inventory
cache_timeout: 3600

---
# Azure Stack Hub (no Resource Graph): list calls per type and subscription
plugin: sovereign.cmk.azure_cmk
cloud_environment: https://management.local.azurestack.external
use_resource_graph: false
keyed_groups:
  - key: cmk_location
    prefix: location
'''

import os

from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.sovereign.cmk.plugins.module_utils import _auth
from ansible_collections.sovereign.cmk.plugins.module_utils import _discovery
from ansible_collections.sovereign.cmk.plugins.module_utils._clients import ClientFactory, MissingLibraryError
from ansible_collections.sovereign.cmk.plugins.module_utils._errors import describe

display = Display()

# Options this plugin takes from the modules' authentication options (their environment fallbacks apply too).
AUTH_OPTIONS = ('auth_source', 'profile', 'subscription_id', 'tenant', 'client_id', 'secret', 'certificate_path',
                'certificate_password', 'thumbprint', 'federated_token_file', 'ad_user', 'password', 'cloud_environment',
                'disable_instance_discovery', 'adfs_authority_url', 'cert_validation_mode', 'timeout')


def auth_params(get_option, environ=None):
    """The modules' authentication options (``_auth.AUTH_ARGUMENT_SPEC``) from the inventory file, else their environment
    variables, else their defaults."""
    environ = os.environ if environ is None else environ
    params = {}
    for name, spec in _auth.AUTH_ARGUMENT_SPEC.items():
        value = get_option(name) if name in AUTH_OPTIONS else None
        if value is None:
            fallback = spec.get('fallback') or (None, [])
            for variable in fallback[1]:
                if environ.get(variable):
                    value = environ[variable]
                    break
            if value is not None and spec.get('type') == 'bool':
                value = boolean(value, strict=False)
            elif value is not None and spec.get('type') == 'path':
                value = os.path.expanduser(value)
        if value is None:
            value = spec.get('default')
        params[name] = value
    return params


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = 'sovereign.cmk.azure_cmk'

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(('azure_cmk.yml', 'azure_cmk.yaml'))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option('cache')
        records = None
        update_cache = False
        if use_cache and cache:
            try:
                records = self._cache[cache_key]
            except KeyError:
                update_cache = True
        elif use_cache:
            update_cache = True          # --flush-cache: discover, then store
        if records is None:
            records = self._discover()
        if update_cache:
            self._cache[cache_key] = records
        self._populate(records)

    # -- discovery --------------------------------------------------------------------------------------------------------
    def _factory(self):
        try:
            params = _auth.resolve_params(auth_params(self.get_option))
            method = _auth.choose_auth_method(params)
            subscription = params.get('subscription_id')
            if not subscription and method in ('cli', 'default_chain'):
                subscription, _path = _auth.load_cli_subscription()
        except _auth.AuthConfigError as exc:
            raise AnsibleError('sovereign.cmk.azure_cmk: %s' % exc)
        factory = ClientFactory(None, subscription,
                                lambda transport: _auth.build_credential(method, params, factory.cloud, transport),
                                timeout=params.get('timeout'))
        factory.cloud = self._cloud(params.get('cloud_environment'), factory)
        return factory

    @staticmethod
    def _cloud(name, factory):
        cloud = _auth.builtin_cloud(name)
        if cloud is not None:
            return cloud
        try:
            url = _auth.metadata_url(name)
            response = factory.transport.session.get(url, timeout=30)
            if response.status_code != 200:
                raise _auth.AuthConfigError('the cloud metadata endpoint %s answered HTTP %s' % (url, response.status_code))
            return _auth.cloud_from_metadata(response.json(), url)
        except (_auth.AuthConfigError, ValueError) as exc:
            raise AnsibleError('sovereign.cmk.azure_cmk: %s' % exc)
        except Exception as exc:  # pylint: disable=broad-except  # requests errors: reported with the URL
            raise AnsibleError('sovereign.cmk.azure_cmk: could not read the cloud metadata of %s: %s' % (name, exc))

    def _discover(self):
        factory = self._factory()
        stats = {}
        try:
            records = _discovery.discover(
                factory, subscriptions=self.get_option('subscriptions'),
                management_groups=self.get_option('management_groups'), services=self.get_option('services'),
                environment_tag=self.get_option('environment_tag'),
                classification_tag=self.get_option('classification_tag'),
                use_resource_graph=self.get_option('use_resource_graph'),
                keep_label_case=self.get_option('keep_label_case'), stats=stats)
        except _discovery.DiscoveryError as exc:
            raise AnsibleError('sovereign.cmk.azure_cmk: %s' % exc)
        except MissingLibraryError as exc:
            raise AnsibleError('sovereign.cmk.azure_cmk needs the Python package %s (pip install %s): %s'
                               % (exc.pip_name, exc.pip_name, exc))
        except Exception as exc:  # pylint: disable=broad-except  # Azure errors: code, message, request id, hint
            if type(exc).__module__.startswith('azure.'):
                raise AnsibleError('sovereign.cmk.azure_cmk: %s' % describe(exc, 'discovering resources')['msg'])
            raise
        display.vvv('sovereign.cmk.azure_cmk: %d resources, %d requests, %d retries, %.1f s waited for the quota'
                    % (len(records), stats.get('requests', 0), stats.get('retries', 0), stats.get('waited', 0.0)))
        return records

    # -- inventory --------------------------------------------------------------------------------------------------------
    def _populate(self, records):
        strict = self.get_option('strict')
        self.inventory.add_group(_discovery.GROUP_RESOURCES)
        for service in _discovery.SERVICE_GROUPS.values():
            self.inventory.add_group(service)
            self.inventory.add_child(_discovery.GROUP_RESOURCES, service)
        for group in (_discovery.GROUP_UNLABELLED, _discovery.GROUP_EXCEPTIONS, _discovery.GROUP_COVERED):
            self.inventory.add_group(group)
        unlabelled = 0
        for record in records:
            host = record['hostname']
            self.inventory.add_host(host)
            for group in _discovery.host_groups(record):
                if group == _discovery.GROUP_RESOURCES:
                    continue             # a parent of the service groups
                group = self.inventory.add_group(self._sanitize_group_name(group))
                self.inventory.add_child(group, host)
            # Names and tags come from Azure, where anyone who may tag a resource writes them: never templated.
            variables = wrap_var(_discovery.host_vars(record))
            for name, value in variables.items():
                self.inventory.set_variable(host, name, value)
            self._set_composite_vars(self.get_option('compose'), variables, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), variables, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), variables, host, strict=strict)
            unlabelled += record['category'] == 'unlabelled'
        if unlabelled:
            display.warning('sovereign.cmk.azure_cmk: %d resource%s in scope lack%s the %s or %s tag: in group %s, not '
                            'in %s (host variable cmk_missing_labels)'
                            % (unlabelled, '' if unlabelled == 1 else 's', 's' if unlabelled == 1 else '',
                               self.get_option('environment_tag'), self.get_option('classification_tag'),
                               _discovery.GROUP_UNLABELLED, _discovery.GROUP_RESOURCES))
