# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Discovery: every resource of the estate that must (or cannot) encrypt at rest with a customer-managed key.

Pure parts (no SDK import): the service type mapping, the exceptions table, the Resource Graph query text, tag
parsing, row -> record, host names, quota and throttling waits. The Azure calls (``discover``, ``graph_rows``,
``list_rows``) take a ``ClientFactory`` so that the inventory plugin ``sovereign.cmk.azure_cmk`` and modules share
them. docs/discovery.md describes the behaviour.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import re
import time

from ansible_collections.sovereign.cmk.plugins.module_utils._auth import arm_scope
from ansible_collections.sovereign.cmk.plugins.module_utils._clients import (
    RETRY_SETTINGS, USER_AGENT, MissingLibraryError, import_client_class)
from ansible_collections.sovereign.cmk.plugins.module_utils._services import SERVICES, TARGET_SERVICES

# The services discovery looks for by default (those azure_cmk_target manages) and the inventory group of each
# (the names of examples/inventory/hosts.yml).
DEFAULT_SERVICES = TARGET_SERVICES
SERVICE_GROUPS = {
    'storage_account': 'storage_accounts',
    'managed_disk': 'managed_disks',
    'virtual_machine': 'virtual_machines',
    'aks': 'aks_clusters',
    'container_group': 'container_groups',
    'sql_managed_instance': 'sql_managed_instances',
}
GROUP_RESOURCES = 'cmk_resources'
GROUP_UNLABELLED = 'cmk_unlabelled'
GROUP_EXCEPTIONS = 'cmk_exceptions'
GROUP_COVERED = 'cmk_covered'

# Resources of services with no customer-managed-key setting of their own, or none this collection can set: reported
# (group cmk_exceptions) with the service that holds their data and what to do instead, never as compliant or as
# errors. The first row whose type matches and whose ``kind_contains`` (if any) is in the resource's kind wins.
# Sources: the organisation's seed document ("Notable exceptions": Container Apps, App Service, Functions) and
# Microsoft's "Services that support customer-managed keys (CMKs) in Azure Key Vault and Azure Managed HSM".
EXCEPTIONS = (
    dict(resource_type='Microsoft.Web/sites', kind_contains='workflowapp', service='Azure Logic Apps (Standard)',
         api_version='2023-12-01',
         reason='Runs on App Service: no app-level customer-managed key. Its state and run history live in the '
                'storage account of the AzureWebJobsStorage setting: encrypt that account (service storage_account).'),
    dict(resource_type='Microsoft.Web/sites', kind_contains='functionapp', service='Azure Functions',
         api_version='2023-12-01',
         reason='No app-level customer-managed key. State, triggers and deployment packages live in the storage '
                'account of AzureWebJobsStorage (and WEBSITE_RUN_FROM_PACKAGE), logs in Application Insights: encrypt '
                'the storage account (service storage_account) and the Log Analytics workspace (dedicated cluster).'),
    dict(resource_type='Microsoft.Web/sites', service='Azure App Service', api_version='2023-12-01',
         reason='No unified app-level customer-managed key switch. Run the app from a package in a storage account '
                'encrypted with your key (WEBSITE_RUN_FROM_PACKAGE with a SAS URL) and send logs and backups to '
                'storage accounts encrypted with your key (service storage_account).'),
    dict(resource_type='Microsoft.App/containerApps', service='Azure Container Apps', api_version='2024-03-01',
         reason='No service-level customer-managed key equivalent to a Disk Encryption Set. Keep data in backing '
                'services encrypted with your key: Azure Files shares (storage_account), images in a container registry '
                'with a customer-managed key, logs in a Log Analytics dedicated cluster with a customer-managed key.'),
    dict(resource_type='Microsoft.Web/staticSites', service='Azure Static Web Apps', api_version='2023-12-01',
         reason='Customer-managed keys are not supported. Keep sensitive data out of the static content; serve it from '
                'an API backed by a store encrypted with your key.'),
    dict(resource_type='Microsoft.Logic/workflows', service='Azure Logic Apps (Consumption)',
         api_version='2019-05-01',
         reason='Multi-tenant (Consumption) Logic Apps do not support customer-managed keys. Use Logic Apps Standard '
                'with its storage account encrypted with your key (service storage_account).'),
)

# Resource Graph pages (the service's maximum) and the bounds of every wait.
PAGE_SIZE = 1000
MAX_WAIT = 60.0             # seconds: no single wait (quota reset, Retry-After) is longer
MAX_RETRIES = 6             # retries of one page after a 429 or a 5xx
RETRY_STATUSES = (429, 500, 502, 503, 504)
PROJECTED_COLUMNS = ('id', 'name', 'type', 'kind', 'location', 'resourceGroup', 'subscriptionId', 'managedBy',
                     'tags', 'identity')
# What the bulk scan reads from the graph instead of reading each resource: its whole body.
SCAN_COLUMNS = PROJECTED_COLUMNS + ('sku', 'zones', 'properties')


class DiscoveryError(ValueError):
    """Discovery options that do not add up; the message says what to change."""


# -- the type mapping ---------------------------------------------------------------------------------------------------
def service_types(services=None):
    """{lower-case resource type: service} of the services in scope (default: every service azure_cmk_target manages).

    Raises DiscoveryError for a name that is not one of them."""
    services = list(services or DEFAULT_SERVICES)
    unknown = [name for name in services if name not in DEFAULT_SERVICES]
    if unknown:
        raise DiscoveryError('unknown services %s (known: %s)' % (', '.join(unknown), ', '.join(DEFAULT_SERVICES)))
    return dict((SERVICES[name]['resource_type'].lower(), name) for name in services)


def exception_types():
    types = []
    for row in EXCEPTIONS:
        if row['resource_type'].lower() not in types:
            types.append(row['resource_type'].lower())
    return types


def api_versions(services=None):
    """{resource type: api-version} of every type discovery lists (services and exceptions)."""
    versions = dict((SERVICES[name]['resource_type'], SERVICES[name]['api_version'])
                    for name in service_types(services).values())
    for row in EXCEPTIONS:
        versions.setdefault(row['resource_type'], row['api_version'])
    return versions


def exception_for(resource_type, kind):
    """The EXCEPTIONS row of a resource (None when its service is not an exception)."""
    resource_type = (resource_type or '').lower()
    kind = (kind or '').lower()
    for row in EXCEPTIONS:
        if row['resource_type'].lower() != resource_type:
            continue
        if row.get('kind_contains') and row['kind_contains'] not in kind:
            continue
        return row
    return None


def _kql_string(value):
    return "'%s'" % value.replace('\\', '\\\\').replace("'", "\\'")


def graph_query(services=None):
    """The one Resource Graph query of a discovery: every in-scope type and every exception type, ordered by id (so
    that pages are repeatable)."""
    types = list(service_types(services)) + [t for t in exception_types() if t not in service_types(services)]
    return types_query(types)


def types_query(types, columns=PROJECTED_COLUMNS):
    """The Resource Graph query for every resource of ``types``, ordered by id. The bulk scan adds the chain's vaults,
    HSMs, DES and identities to the types and ``SCAN_COLUMNS`` (the settings) to the columns."""
    return ('resources | where type in~ (%s) | project %s | order by id asc'
            % (', '.join(_kql_string(t) for t in types), ', '.join(columns)))


# -- rows and records ----------------------------------------------------------------------------------------------------
def tag_value(tags, name, keep_case=False):
    """The value of tag ``name`` (matched case-insensitively), stripped and lower-cased unless ``keep_case``; None when
    the tag is absent or empty."""
    if not isinstance(tags, dict) or not name:
        return None
    wanted = name.lower()
    for key in sorted(tags, key=str):
        if str(key).lower() == wanted:
            value = tags[key]
            if value is None:
                return None
            value = str(value).strip()
            if not value:
                return None
            return value if keep_case else value.lower()
    return None


def single_user_assigned_identity(identity):
    """The id of the resource's user-assigned identity when it has exactly one, else None."""
    if not isinstance(identity, dict):
        return None
    assigned = identity.get('userAssignedIdentities') or {}
    if isinstance(assigned, dict) and len(assigned) == 1:
        return list(assigned)[0]
    return None


_ID = re.compile(r'^/subscriptions/([^/]+)(?:/resourcegroups/([^/]+))?', re.I)


def row_from_arm(body):
    """A Resource Manager resource (a list call's item) as the Resource Graph row discovery reads."""
    match = _ID.match(body.get('id') or '')
    return {
        'id': body.get('id'), 'name': body.get('name'), 'type': (body.get('type') or '').lower(),
        'kind': body.get('kind') or '', 'location': body.get('location') or '',
        'resourceGroup': ((match.group(2) if match else '') or '').lower(),
        'subscriptionId': (match.group(1) if match else '').lower(), 'managedBy': body.get('managedBy') or '',
        'tags': body.get('tags') or {}, 'identity': body.get('identity'),
    }


def row_to_record(row, types, environment_tag='environment', classification_tag='classification', keep_case=False):
    """One record per row: the host variables and where the resource belongs (``category``).

    ``types``: ``service_types()``. Categories: ``resource`` (in scope and labelled), ``unlabelled`` (in scope, a label
    missing: ``missing_labels``), ``covered`` (a managed disk attached to a VM: the VM's check covers it,
    ``covered_by``), ``exception`` (``exception_service``, ``exception_reason``); None for a row of no interest."""
    resource_type = (row.get('type') or '').lower()
    tags = row.get('tags') if isinstance(row.get('tags'), dict) else {}
    record = {
        'name': row.get('name'), 'resource_id': row.get('id'), 'type': resource_type,
        'subscription_id': (row.get('subscriptionId') or '').lower(), 'resource_group': row.get('resourceGroup') or '',
        'location': row.get('location') or '', 'kind': row.get('kind') or '', 'tags': tags,
        'environment': tag_value(tags, environment_tag, keep_case),
        'classification': tag_value(tags, classification_tag, keep_case),
        'identity': single_user_assigned_identity(row.get('identity')),
    }
    service = types.get(resource_type)
    if service is None:
        exception = exception_for(resource_type, record['kind'])
        if exception is None:
            return None
        record.update(category='exception', service=None, exception_service=exception['service'],
                      exception_reason=exception['reason'])
        return record
    record['service'] = service
    managed_by = row.get('managedBy') or ''
    if service == 'managed_disk' and managed_by and 'virtual_machine' in types.values():
        record.update(category='covered', covered_by=managed_by)
        return record
    missing = [label for label in ('environment', 'classification') if not record[label]]
    record['category'] = 'unlabelled' if missing else 'resource'
    if missing:
        record['missing_labels'] = missing
    return record


def assign_hostnames(records):
    """Set ``hostname`` on every record: the resource name; when several records share a name, each gets
    ``<name>.<resource group>.<first 8 characters of the subscription>``, then ``<name>.<resource group>.<subscription
    id>``, then ``<name>.<resource group>.<subscription id>.<type>`` - the first form that tells them apart. Names are
    compared case-insensitively (Ansible host names are case-sensitive, Azure names mostly are not)."""
    by_name = {}
    for record in records:
        by_name.setdefault((record['name'] or '').lower(), []).append(record)
    forms = (
        lambda r: '%s.%s.%s' % (r['name'], r['resource_group'], r['subscription_id'][:8]),
        lambda r: '%s.%s.%s' % (r['name'], r['resource_group'], r['subscription_id']),
        lambda r: '%s.%s.%s.%s' % (r['name'], r['resource_group'], r['subscription_id'], r['type'].replace('/', '_')),
    )
    for group in by_name.values():
        if len(group) == 1:
            group[0]['hostname'] = group[0]['name']
            continue
        for form in forms:
            names = [form(r).lower() for r in group]
            if len(set(names)) == len(names) or form is forms[-1]:
                for record in group:
                    record['hostname'] = form(record)
                break
    return records


def host_vars(record):
    """The variables of a record's host (the names playbooks/enforce.yml and drift.yml read)."""
    variables = {
        'cmk_name': record['name'], 'cmk_resource_id': record['resource_id'],
        'cmk_subscription_id': record['subscription_id'], 'cmk_resource_group': record['resource_group'],
        'cmk_location': record['location'], 'cmk_tags': record['tags'],
    }
    if record.get('service'):
        variables['cmk_service'] = record['service']
    for label in ('environment', 'classification'):
        if record.get(label):
            variables['cmk_' + label] = record[label]
    if record.get('identity') and record.get('service'):
        variables['cmk_identity'] = record['identity']
    for name in ('missing_labels', 'covered_by', 'exception_service', 'exception_reason'):
        if record.get(name):
            variables['cmk_' + name] = record[name]
    return variables


def host_groups(record):
    """The groups a record's host belongs to."""
    category = record['category']
    if category == 'exception':
        return [GROUP_EXCEPTIONS]
    if category == 'covered':
        return [GROUP_COVERED]
    if category == 'unlabelled':
        return [GROUP_UNLABELLED]
    return [GROUP_RESOURCES, SERVICE_GROUPS[record['service']], record['environment'], record['classification']]


def records_from_rows(rows, services=None, environment_tag='environment', classification_tag='classification',
                      keep_case=False):
    types = service_types(services)
    records = []
    seen = set()
    for row in rows:
        key = (row.get('id') or '').lower()
        if key in seen:
            continue
        seen.add(key)
        record = row_to_record(row, types, environment_tag, classification_tag, keep_case)
        if record is not None:
            records.append(record)
    records.sort(key=lambda r: (r['resource_id'] or '').lower())
    return assign_hostnames(records)


# -- waits ------------------------------------------------------------------------------------------------------------------
def parse_duration(text):
    """``hh:mm:ss`` (fractions allowed, also ``d.hh:mm:ss``) -> seconds; None when unreadable."""
    if not text:
        return None
    match = re.match(r'^\s*(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)\s*$', str(text))
    if not match:
        return None
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _header(headers, name):
    if headers is None:
        return None
    value = headers.get(name)
    if value is None and hasattr(headers, 'items'):
        for key, item in headers.items():
            if key.lower() == name.lower():
                return item
    return value


def quota_wait(headers, max_wait=MAX_WAIT):
    """Seconds to wait before the next query: the quota's reset time when none is left, else 0 (bounded)."""
    remaining = _header(headers, 'x-ms-user-quota-remaining')
    try:
        remaining = int(remaining) if remaining is not None else None
    except ValueError:
        remaining = None
    if remaining is None or remaining > 0:
        return 0.0
    resets = parse_duration(_header(headers, 'x-ms-user-quota-resets-after'))
    return min(resets if resets is not None else 1.0, max_wait)


def throttle_wait(headers, attempt, max_wait=MAX_WAIT):
    """Seconds to wait before retrying a throttled (429) or failed (5xx) query: the quota reset, else Retry-After, else
    exponential backoff (1, 2, 4, ... s); never more than ``max_wait``."""
    resets = parse_duration(_header(headers, 'x-ms-user-quota-resets-after'))
    retry_after = _header(headers, 'Retry-After')
    try:
        retry_after = float(retry_after) if retry_after is not None else None
    except ValueError:
        retry_after = None
    wait = resets if resets is not None else retry_after
    if wait is None:
        wait = float(2 ** attempt)
    return min(max(wait, 0.0), max_wait)


# -- Azure calls --------------------------------------------------------------------------------------------------------------
def resource_graph_client(factory):
    """A ResourceGraphClient on the factory's credential and HTTP session. azure-core does not retry statuses here
    (``retry_status=0``): ``graph_rows`` handles 429 and 5xx itself, with the quota headers and bounded retries."""
    try:
        cls = import_client_class('azure.mgmt.resourcegraph', 'ResourceGraphClient')
    except MissingLibraryError as exc:
        exc.pip_name = 'azure-mgmt-resourcegraph'
        raise
    kwargs = dict(RETRY_SETTINGS)
    kwargs['retry_status'] = 0
    return cls(factory.credential, base_url=factory.cloud['resource_manager'],
               credential_scopes=[arm_scope(factory.cloud)], transport=factory.transport, user_agent=USER_AGENT,
               **kwargs)


def _with_headers(pipeline_response, deserialized, _response_headers):
    return deserialized, pipeline_response.http_response.headers


def graph_rows(factory, query, subscriptions=None, management_groups=None, sleep=time.sleep, stats=None,
               max_wait=MAX_WAIT, max_retries=MAX_RETRIES):
    """Every row of ``query`` over the scope, page by page (``PAGE_SIZE`` rows, ``$skipToken``).

    Before the next page, waits for the quota to reset when ``x-ms-user-quota-remaining`` is 0; a 429 or 5xx answer is
    retried after ``throttle_wait`` at most ``max_retries`` times per page. ``stats`` (a dict) counts ``requests``,
    ``pages``, ``retries`` and ``waited`` seconds."""
    models = importlib.import_module('azure.mgmt.resourcegraph.models')
    exceptions = importlib.import_module('azure.core.exceptions')
    client = resource_graph_client(factory)
    stats = stats if stats is not None else {}
    for name in ('requests', 'pages', 'retries'):
        stats.setdefault(name, 0)
    stats.setdefault('waited', 0.0)
    rows, token = [], None
    while True:
        options = models.QueryRequestOptions(top=PAGE_SIZE, skip_token=token, result_format='objectArray')
        request = models.QueryRequest(subscriptions=list(subscriptions) if subscriptions else None,
                                      management_groups=list(management_groups) if management_groups else None,
                                      query=query, options=options)
        attempt = 0
        while True:
            stats['requests'] += 1
            try:
                result, headers = client.resources(request, cls=_with_headers)
                break
            except exceptions.HttpResponseError as exc:
                response = getattr(exc, 'response', None)
                if exc.status_code not in RETRY_STATUSES or attempt >= max_retries:
                    raise
                wait = throttle_wait(getattr(response, 'headers', None), attempt, max_wait)
                attempt += 1
                stats['retries'] += 1
                stats['waited'] += wait
                sleep(wait)
        stats['pages'] += 1
        data = result.data or []
        rows.extend(data if isinstance(data, list) else [])
        token = result.skip_token
        if not token:
            return rows
        wait = quota_wait(headers, max_wait)
        if wait:
            stats['waited'] += wait
            sleep(wait)


def list_rows(factory, resource_types, subscriptions, stats=None):
    """Resource Manager list calls instead of Resource Graph (Azure Stack Hub): per subscription and type,
    ``GET /subscriptions/{s}/providers/{type}?api-version=<the type's>``, following ``nextLink``.
    ``resource_types``: {type: api-version}. Costs types x subscriptions x pages requests."""
    stats = stats if stats is not None else {}
    stats.setdefault('requests', 0)
    rows = []
    for subscription in subscriptions:
        for resource_type, api_version in sorted(resource_types.items()):
            path = '/subscriptions/%s/providers/%s' % (subscription, resource_type)
            page = factory.arm_request('GET', path, api_version)
            stats['requests'] += 1
            while True:
                for body in (page or {}).get('value') or []:
                    rows.append(row_from_arm(body))
                next_link = (page or {}).get('nextLink')
                if not next_link:
                    break
                page = _get_next(factory, next_link)
                stats['requests'] += 1
    return rows


def _get_next(factory, next_link):
    rest = importlib.import_module('azure.core.rest')
    clients = importlib.import_module('ansible_collections.sovereign.cmk.plugins.module_utils._clients')
    response = factory.arm_pipeline().send_request(rest.HttpRequest('GET', next_link),
                                                   retry_on_methods=clients.RETRY_METHODS)
    if response.status_code >= 400:
        clients.raise_for_status(response)
    return response.json()


def discover(factory, subscriptions=None, management_groups=None, services=None, environment_tag='environment',
             classification_tag='classification', use_resource_graph=True, keep_label_case=False, sleep=time.sleep,
             stats=None):
    """The discovery records of the scope (see ``row_to_record``; each has ``hostname``), sorted by resource id.

    Scope: ``management_groups`` (Resource Graph only), else ``subscriptions``, else the factory's subscription."""
    stats = stats if stats is not None else {}
    types = service_types(services)
    if not management_groups and not subscriptions:
        if not factory.subscription_id:
            raise DiscoveryError('no scope: set subscriptions, management_groups or subscription_id '
                                 '(AZURE_SUBSCRIPTION_ID)')
        subscriptions = [factory.subscription_id]
    if use_resource_graph:
        rows = graph_rows(factory, graph_query(services), subscriptions=None if management_groups else subscriptions,
                          management_groups=management_groups, sleep=sleep, stats=stats)
    else:
        if management_groups:
            raise DiscoveryError('management_groups needs Resource Graph: with use_resource_graph false, list the '
                                 'subscriptions')
        versions = api_versions(list(types.values()))
        rows = list_rows(factory, versions, subscriptions, stats=stats)
    return records_from_rows(rows, list(types.values()), environment_tag, classification_tag, keep_label_case)
