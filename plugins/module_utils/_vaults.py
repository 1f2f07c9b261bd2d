# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Key Vaults and Managed HSMs as Resource Manager resources: their canonical description (kind, URI, access model,
soft delete, purge protection), finding one from an option (resource id, name or URI), and the CMK prerequisites.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not supported by the modules
    from urllib import quote  # type: ignore

from ansible_collections.sovereign.cmk.plugins.module_utils import _discovery
from ansible_collections.sovereign.cmk.plugins.module_utils._errors import CMKError
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import (
    KEY_VAULT, MANAGED_HSM, InvalidIdError, format_resource_id, parse_resource_id, parse_vault_uri, valid_vault_name)

KEYVAULT_API_VERSION = '2024-11-01'
RESOURCES_API_VERSION = '2021-04-01'
VAULT_TYPE = 'microsoft.keyvault/vaults'
HSM_TYPE = 'microsoft.keyvault/managedhsms'


def vault_info(body, cloud=None):
    """Canonical dict of a vault or Managed HSM resource body (ARM JSON).

    ``cloud`` (with ``key_vault_suffix``/``managed_hsm_suffix``) builds the URI when the body has none.
    """
    rid = body.get('id') or ''
    rtype = (body.get('type') or '').lower()
    props = body.get('properties') or {}
    kind = MANAGED_HSM if rtype == HSM_TYPE or 'managedhsms' in rid.lower() else KEY_VAULT
    parsed = parse_resource_id(rid) if rid else {'subscription': None, 'resource_group': None}
    sku = body.get('sku') or props.get('sku') or {}
    soft_delete = props.get('enableSoftDelete')
    if kind == MANAGED_HSM:
        uri = props.get('hsmUri')
        model = 'local_rbac'
        sku_name = sku.get('name')
        premium = True
    else:
        uri = props.get('vaultUri')
        model = 'rbac' if props.get('enableRbacAuthorization') else 'access_policies'
        sku_name = (sku.get('name') or '').lower() or None
        premium = sku_name == 'premium'
    suffix = (cloud or {}).get('managed_hsm_suffix' if kind == MANAGED_HSM else 'key_vault_suffix')
    if not uri and body.get('name') and suffix:
        uri = 'https://%s.%s' % (body['name'].lower(), suffix)
    return {
        'id': rid,
        'name': body.get('name'),
        'kind': kind,
        'subscription': parsed['subscription'],
        'resource_group': parsed['resource_group'],
        'location': body.get('location'),
        'uri': (uri or '').rstrip('/') or None,
        'sku': sku_name,
        'premium': premium,
        # Soft delete is always on for Managed HSM and for vaults created since 2020; only an explicit false fails.
        'soft_delete': soft_delete is not False,
        'soft_delete_retention_days': props.get('softDeleteRetentionInDays'),
        'purge_protection': bool(props.get('enablePurgeProtection')),
        'access_model': model,
        'access_policies': list(props.get('accessPolicies') or []),
        'tenant_id': props.get('tenantId'),
        'network': network_info(props),
    }


def network_info(props):
    """The network rules of a vault or HSM: who can reach its data plane (where the services unwrap their keys)."""
    acls = props.get('networkAcls') or {}
    return {
        'public_network_access': props.get('publicNetworkAccess') or 'Enabled',
        'default_action': acls.get('defaultAction') or 'Allow',
        'bypass': acls.get('bypass') or 'AzureServices',
        'ip_rules': len(acls.get('ipRules') or []),
        'virtual_network_rules': len(acls.get('virtualNetworkRules') or []),
        'private_endpoints': len(props.get('privateEndpointConnections') or []),
    }


def check_vault_prerequisites(info, key_type, enable_purge_protection=False):
    """(errors, enable_purge_protection_needed) for a CMK in the vault or HSM described by ``info``."""
    errors = []
    what = 'Managed HSM' if info['kind'] == MANAGED_HSM else 'Key Vault'
    if not info['soft_delete']:
        errors.append('%s %s has soft delete disabled; customer-managed keys need soft delete and purge protection. '
                      'Soft delete cannot be enabled in place on such an old vault: move the key to a new vault.'
                      % (what, info['name']))
    enable = False
    if not info['purge_protection']:
        if enable_purge_protection:
            enable = True
        else:
            errors.append('%s %s does not have purge protection, which customer-managed keys require (Storage, Disk '
                          'Encryption Sets, AKS, SQL refuse the key). Set enable_purge_protection=true to turn it on '
                          '(irreversible), or run: az keyvault %s %s --enable-purge-protection true'
                          % (what, info['name'], 'update --name' if info['kind'] == KEY_VAULT else 'update-hsm --hsm-name',
                             info['name']))
    if info['kind'] == KEY_VAULT and key_type == 'RSA-HSM' and not info['premium']:
        errors.append('Key Vault %s is %s SKU: HSM-protected keys (key_type RSA-HSM) need a Premium vault. Use a '
                      'Premium vault or a Managed HSM, or key_type RSA for a software-protected key.'
                      % (info['name'], (info['sku'] or 'standard').capitalize()))
    return errors, enable


def vault_from_option(value, resource_group, cloud):
    """Classify the ``vault`` option: ('id', parsed-id), ('name', (rg, name)) or ('uri', parsed-uri)."""
    if not value or not isinstance(value, str):
        raise InvalidIdError('vault must be a resource id, a name (with resource_group) or a vault/HSM URI')
    value = value.strip()
    if value.lower().startswith('https://') or value.lower().startswith('http://'):
        parsed = parse_vault_uri(value, (cloud or {}).get('key_vault_suffix') and [cloud['key_vault_suffix']] or (),
                                 (cloud or {}).get('managed_hsm_suffix') and [cloud['managed_hsm_suffix']] or ())
        return 'uri', parsed
    if value.startswith('/'):
        parsed = parse_resource_id(value)
        if (parsed['type'] or '').lower() not in (VAULT_TYPE, HSM_TYPE) or len(parsed['types']) != 1:
            raise InvalidIdError('%r is not a Key Vault (Microsoft.KeyVault/vaults) or Managed HSM '
                                 '(Microsoft.KeyVault/managedHSMs) resource id' % value)
        return 'id', parsed
    if not valid_vault_name(value):
        raise InvalidIdError('%r is not a vault or HSM name (3-24 letters, digits and dashes, starting with a letter), '
                             'a resource id or an https:// URI' % value)
    if not resource_group:
        raise InvalidIdError('vault %r is a name: also set resource_group (or pass the resource id or URI)' % value)
    return 'name', (resource_group, value)


def vault_ids_for_name(subscription_id, resource_group, name):
    """The two ids a name may stand for: the vault, then the Managed HSM."""
    return [format_resource_id(subscription_id, resource_group, 'Microsoft.KeyVault', 'vaults', name),
            format_resource_id(subscription_id, resource_group, 'Microsoft.KeyVault', 'managedHSMs', name)]


def read_vault(azmod, resource_id):
    """The vault or HSM body by id (None when absent)."""
    return azmod.get_or_none('reading %s' % resource_id, azmod.clients.arm_request, 'GET', resource_id,
                             KEYVAULT_API_VERSION)


def resolve_vault(azmod, vault, resource_group=None):
    """Find the vault or HSM the ``vault`` option names and return its ``vault_info``; fails clearly."""
    try:
        form, value = vault_from_option(vault, resource_group, azmod.cloud)
    except InvalidIdError as exc:
        raise CMKError('Invalid vault: %s' % exc)
    if form == 'id':
        body = read_vault(azmod, value['id'])
        if body is None:
            raise CMKError('The %s %s does not exist' % (value['type'], value['id']))
        return vault_info(body, azmod.cloud)
    if form == 'name':
        for rid in vault_ids_for_name(azmod.subscription_id, value[0], value[1]):
            body = read_vault(azmod, rid)
            if body is not None:
                return vault_info(body, azmod.cloud)
        raise CMKError('No Key Vault or Managed HSM named %s in resource group %s of subscription %s'
                       % (value[1], value[0], azmod.subscription_id))
    return find_vault_by_uri(azmod, value, resource_group)


def find_vault_by_uri(azmod, parsed, resource_group=None):
    """The vault or HSM behind a data-plane URI: by name in ``resource_group``, or by listing the subscription."""
    kind = parsed['kind']
    rtype = 'managedHSMs' if kind == MANAGED_HSM else 'vaults'
    if resource_group:
        rid = format_resource_id(azmod.subscription_id, resource_group, 'Microsoft.KeyVault', rtype, parsed['name'])
        body = read_vault(azmod, rid)
        if body is None:
            raise CMKError('%s %s (from %s) is not in resource group %s'
                           % (rtype, parsed['name'], parsed['vault_url'], resource_group))
        return vault_info(body, azmod.cloud)
    known = azmod.known_vault(rtype, parsed['name'])
    if known:   # a bulk scan knows every vault and HSM of its scope (Resource Graph): any subscription
        body = read_vault(azmod, known)
        if body is not None:
            return vault_info(body, azmod.cloud)
    # The generic resource list (what the SDK's vaults.list() uses): vault and HSM names are global DNS labels,
    # so type and name identify the resource.
    query = quote("resourceType eq 'Microsoft.KeyVault/%s' and name eq '%s'" % (rtype, parsed['name']), safe='')
    listing = azmod.arm_request('listing the %s of subscription %s' % (rtype, azmod.subscription_id), 'GET',
                                '/subscriptions/%s/resources?$filter=%s' % (azmod.subscription_id, query),
                                RESOURCES_API_VERSION)
    for item in (listing or {}).get('value') or []:
        if (item.get('name') or '').lower() == parsed['name'].lower() and item.get('id'):
            body = read_vault(azmod, item['id'])
            if body is not None:
                info = vault_info(body, azmod.cloud)
                if info['uri'] and info['uri'].lower().split('://', 1)[-1] != parsed['host']:
                    continue
                return info
    found = find_vault_in_graph(azmod, rtype, parsed)
    if found is not None:
        return found
    what = 'Managed HSM' if kind == MANAGED_HSM else 'Key Vault'
    raise CMKError('No %s with URI %s in subscription %s nor in any subscription Azure Resource Graph shows this '
                   'identity: pass the resource id, or resource_group, or check subscription_id'
                   % (what, parsed['vault_url'], azmod.subscription_id))


def find_vault_in_graph(azmod, rtype, parsed):
    """The vault or HSM in another subscription: one Resource Graph query over every subscription the identity may
    read (the key store of an estate often lives in a subscription of its own). None when not found, or when Resource
    Graph is not available (Azure Stack Hub: give the vault's resource id instead)."""
    query = "resources | where type =~ 'microsoft.keyvault/%s' and name =~ '%s' | project id, name, type" % (
        rtype.lower(), parsed['name'].replace("'", ''))
    try:
        rows, error = azmod.attempt('looking up %s %s in Azure Resource Graph' % (rtype, parsed['name']),
                                    _discovery.graph_rows, azmod.clients, query)
    except ImportError as exc:      # azure-mgmt-resourcegraph missing: the lookup above is all there is
        azmod.warn('Azure Resource Graph is not available (%s): %s %s was looked up in subscription %s only'
                   % (exc, rtype, parsed['name'], azmod.subscription_id))
        return None
    if error is not None:
        azmod.warn('Azure Resource Graph could not be asked for %s %s: %s' % (rtype, parsed['name'], error.msg))
        return None
    for row in rows or []:
        if (row.get('name') or '').lower() == parsed['name'].lower() and row.get('id'):
            body = read_vault(azmod, row['id'])
            if body is not None:
                info = vault_info(body, azmod.cloud)
                if not info['uri'] or info['uri'].lower().split('://', 1)[-1] == parsed['host']:
                    return info
    return None


def enable_purge_protection(azmod, info):
    """Turn purge protection on (never off): a PATCH of the vault or HSM (an HSM update is long-running)."""
    azmod.arm_request('enabling purge protection on %s' % info['id'], 'PATCH', info['id'], KEYVAULT_API_VERSION,
                      {'properties': {'enablePurgeProtection': True}})
