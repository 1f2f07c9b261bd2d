#!/usr/bin/env python
"""The floor of an estate-wide drift check: one Python process, the same SDKs, only the reads the check needs.

No Ansible and no checks: one credential; one paged Resource Graph query for the resources (with their settings) and
the vaults, HSMs, DES and identities; each distinct key of the catalog read once; the role assignments at each key's
scope once; each Managed HSM's local role assignments once. What ``azure_cmk_scan`` does beyond this is the price of
the checks and of Ansible. Prints what it read.

Usage (environment: AZURE_* credentials, proxy and CA bundle as for the emulator):
    python benchmarks/floor.py <inventory dir with group_vars/all/*.yml>
"""

import glob
import os
import sys
import time

import yaml
from azure.identity import ClientSecretCredential
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions
from azure.keyvault.administration import KeyVaultAccessControlClient
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest
from azure.mgmt.core import ARMPipelineClient
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

TYPES = ('microsoft.storage/storageaccounts', 'microsoft.compute/disks', 'microsoft.compute/virtualmachines',
         'microsoft.containerservice/managedclusters', 'microsoft.containerinstance/containergroups',
         'microsoft.sql/managedinstances', 'microsoft.keyvault/vaults', 'microsoft.keyvault/managedhsms',
         'microsoft.compute/diskencryptionsets', 'microsoft.managedidentity/userassignedidentities')


def catalog(inventory):
    data = {}
    for path in glob.glob(os.path.join(inventory, 'group_vars', 'all', '*.yml')):
        with open(path, encoding='utf-8') as handle:
            data.update(yaml.safe_load(handle) or {})
    return data


def main(inventory):
    started = time.monotonic()
    data = catalog(inventory)
    credential = ClientSecretCredential(os.environ['AZURE_TENANT_ID'], os.environ['AZURE_CLIENT_ID'],
                                        os.environ['AZURE_CLIENT_SECRET'])
    transport = RequestsTransport()
    graph = ResourceGraphClient(credential, transport=transport)
    query = 'resources | where type in~ (%s) | order by id asc' % ', '.join("'%s'" % t for t in TYPES)
    rows, token = [], None
    while True:
        page = graph.resources(QueryRequest(query=query, options=QueryRequestOptions(top=1000, skip_token=token)))
        rows.extend(page.data)
        token = page.skip_token
        if not token:
            break
    stores = dict((r['name'].lower(), r) for r in rows if r['type'] in TYPES[6:8])
    arm = ARMPipelineClient(base_url='https://management.azure.com', transport=transport, policies=[
        ARMChallengeAuthenticationPolicy(credential, 'https://management.azure.com/.default')])
    authorization = {}
    keys = 0
    assignments = 0
    hsm_scopes = set()
    for entry in (data.get('cmk_keys') or {}).values():
        host = entry['vault_uri'].split('://', 1)[-1].split('/', 1)[0]
        store = stores.get(host.split('.', 1)[0].lower())
        if store is None:
            continue
        arm.send_request(HttpRequest('GET', 'https://management.azure.com%s/keys/%s' % (store['id'], entry['name']),
                                     params={'api-version': '2023-07-01'}))
        keys += 1
        if store['type'].endswith('managedhsms'):
            if host not in hsm_scopes:
                hsm_scopes.add(host)
                client = KeyVaultAccessControlClient('https://%s' % host, credential, transport=transport)
                assignments += len(list(client.list_role_assignments('/')))
            continue
        subscription = store['subscriptionId']
        if subscription not in authorization:
            authorization[subscription] = AuthorizationManagementClient(credential, subscription, transport=transport)
        scope = '%s/keys/%s' % (store['id'], entry['name'])
        assignments += len(list(authorization[subscription].role_assignments.list_for_scope(scope)))
    print('floor: %d rows, %d keys, %d role assignments, %d HSMs in %.1f s'
          % (len(rows), keys, assignments, len(hsm_scopes), time.monotonic() - started))


if __name__ == '__main__':
    main(sys.argv[1])
