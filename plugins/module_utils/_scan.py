# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""The bulk chain scan: the one workflow (``_workflow.run``, check mode) for a whole estate in one process.

Each resource is checked exactly as ``azure_cmk_target`` checks it in check mode - same adapters, same findings, same
verdicts - but the process pays its fixed costs once and shares its reads:

- one credential and one token per audience (``TokenCache``), one HTTP session, bounded concurrency (threads);
- every Resource Manager GET is read once (``SharedReads``: single flight, so two resources on the same key, vault,
  Managed HSM, DES or identity wait for one read); role assignments are read once per key scope for all principals,
  Managed HSM local role assignments and definitions once per HSM;
- with ``source=graph`` the resources themselves come from Azure Resource Graph rows (no read per resource); a
  resource the graph shows out of policy is checked again with direct reads (Resource Graph lags Resource Manager),
  and its verdict is the direct one. ``source=live`` reads every resource directly.

Nothing is ever written: ``arm_request`` refuses any method but GET, and the workflow runs in check mode.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import threading
import time

from ansible_collections.sovereign.cmk.plugins.module_utils import _catalog, _discovery, _estate, _report, _workflow
from ansible_collections.sovereign.cmk.plugins.module_utils._auth import arm_scope
from ansible_collections.sovereign.cmk.plugins.module_utils._azure_module import AzureCMKModule
from ansible_collections.sovereign.cmk.plugins.module_utils._clients import ClientFactory
from ansible_collections.sovereign.cmk.plugins.module_utils._errors import CMKError
from ansible_collections.sovereign.cmk.plugins.module_utils._targets import adapters
from ansible_collections.sovereign.cmk.plugins.module_utils._targets.disk_encryption_set import (
    DiskEncryptionSetAdapter, argument_spec as des_argument_spec)

MAX_CONCURRENCY = 32
# Statuses of a scan entry, worst last (the report's order).
STATUSES = ('exception', 'compliant', 'drift', 'requires_recreate', 'unlabelled', 'unreachable', 'failed')
# Errors that say the identity running the scan cannot see the resource (or its subscription) at all.
# What the graph serves (besides the services' own types): the links every chain reads.
GRAPH_TYPES = ('microsoft.keyvault/vaults', 'microsoft.keyvault/managedhsms', 'microsoft.compute/diskencryptionsets',
               'microsoft.managedidentity/userassignedidentities')
UNREACHABLE_CODES = ('AuthorizationFailed', 'SubscriptionNotFound', 'InvalidAuthenticationTokenTenant',
                     'LinkedAuthorizationFailed', 'SubscriptionNotRegistered')


class _Slot(object):
    __slots__ = ('event', 'value', 'error')

    def __init__(self):
        self.event = threading.Event()
        self.value = None
        self.error = None


class SharedReads(object):
    """A thread-safe, single-flight memo: ``get(key, loader)`` runs ``loader`` once per key; concurrent callers wait
    for that one answer (an error is shared too: a 404 or 403 is the answer for every resource that asks)."""

    def __init__(self, timeout=None):
        self._lock = threading.Lock()
        self._slots = {}
        self.loads = 0
        self.hits = 0
        self.timeout = timeout      # bound of a wait for another thread's read (its own wait is bounded the same)

    def get(self, key, loader):
        with self._lock:
            slot = self._slots.get(key)
            owner = slot is None
            if owner:
                slot = self._slots[key] = _Slot()
                self.loads += 1
            else:
                self.hits += 1
        if owner:
            try:
                slot.value = loader()
            except Exception as exc:  # pylint: disable=broad-except  # shared with the waiters, re-raised below
                slot.error = exc
            finally:
                slot.event.set()
        elif not slot.event.wait(self.timeout):
            raise CMKError('A shared read (%s) did not finish within %s seconds (timeout).' % (key[0], self.timeout))
        if slot.error is not None:
            raise slot.error
        return copy.deepcopy(slot.value) if isinstance(slot.value, (dict, list)) else slot.value


class TokenCache(object):
    """One token per audience for the whole scan, whatever the credential type (the Azure CLI credential, for one,
    keeps no cache of its own); requests are serialized so that concurrent first uses make one token request."""

    MARGIN = 300

    def __init__(self, inner):
        self._inner = inner
        self._lock = threading.Lock()
        self._tokens = {}
        self.requests = 0

    def get_token(self, *scopes, **kwargs):
        key = (scopes, kwargs.get('tenant_id'), kwargs.get('claims'))
        with self._lock:
            token = self._tokens.get(key)
            if token is None or token.expires_on - self.MARGIN <= time.time():
                self.requests += 1
                token = self._tokens[key] = self._inner.get_token(*scopes, **kwargs)
            return token

    def close(self):
        closer = getattr(self._inner, 'close', None)
        if closer:
            closer()


class ScanClients(object):
    """What the workflow calls ``azmod.clients`` for the resources of one subscription: shared credential, session,
    data-plane clients and reads; Resource Manager GETs only."""

    def __init__(self, scanner, subscription_id, live):
        self._scanner = scanner
        self.subscription_id = subscription_id
        self.live = live
        self.cloud = scanner.cloud
        self.timeout = scanner.timeout

    @property
    def credential(self):
        return self._scanner.credential

    @property
    def transport(self):
        return self._scanner.base.transport

    def arm(self, name):
        return self._scanner.arm_client(self.subscription_id, name)

    def data(self, name, vault_url):
        return self._scanner.data_client(name, vault_url)

    def arm_request(self, method, path, api_version, body=None, headers=None):
        if method != 'GET':
            raise CMKError('The scan is read-only: %s %s was not sent.' % (method, path))
        return self._scanner.get(path, api_version, self.live)


class ResourceView(AzureCMKModule):
    """The ``azmod`` the workflow sees for one resource of the scan: its parameters, check mode, the shared clients;
    ``exit`` records the result instead of leaving the process."""

    shares_reads = True

    def __init__(self, scanner, params, clients):  # pylint: disable=super-init-not-called  # no AnsibleModule here
        self.module = None
        self.params = params
        self._scanner = scanner
        self._cloud = scanner.cloud
        self._factory = clients
        self._auth = scanner.auth_params
        self._method = scanner.auth_method
        self.warnings = []
        self.result = None

    @property
    def check_mode(self):
        return True

    @property
    def diff_mode(self):
        return False

    def warn(self, msg):
        self.warnings.append(msg)

    @property
    def clients(self):
        return self._factory

    @property
    def subscription_id(self):
        return self._factory.subscription_id

    def arm(self, name):
        return self._guard('creating the %s client' % name, self._factory.arm, name)

    def data(self, name, vault_url):
        return self._guard('creating the %s client' % name, self._factory.data, name, vault_url)

    def cached(self, key, loader):
        return self._scanner.reads.get(key, loader)

    def known_vault(self, resource_type, name):
        return self._scanner.vaults.get((resource_type.lower(), name.lower()))

    def exit(self, changed, before=None, after=None, findings=None, changes=None, compliant=None,
             requires_recreate=False, diff_hide=(), **result):
        findings = list(findings or [])
        if compliant is None:
            compliant = _report.is_compliant(findings)
        result.update(changed=bool(changed), before=before, after=after, findings=findings, changes=list(changes or []),
                      compliant=bool(compliant), requires_recreate=bool(requires_recreate),
                      status=_report.status(True, changed, compliant, requires_recreate))
        self.result = result


class Scanner(object):
    """Checks many resources with one credential, one session and shared reads (see the module docstring)."""

    def __init__(self, azmod, concurrency=8, source='live'):
        self.azmod = azmod
        self.base = azmod.clients                     # the scan module's own factory: session, credential, cloud
        self.cloud = azmod.cloud
        self.auth_params = azmod.auth_params
        self.auth_method = azmod.auth_method
        self.timeout = self.base.timeout
        self.concurrency = max(1, min(int(concurrency or 1), MAX_CONCURRENCY))
        self.source = source
        self.reads = SharedReads(self.timeout)
        self.graph = {}          # lower-case resource id -> Resource Graph row (source=graph)
        self.vaults = {}         # (type, name) -> vault or HSM id, from the graph
        self._lock = threading.Lock()
        self._arm_clients = {}
        self._data_clients = {}
        self.tokens = TokenCache(self.base.credential)
        self.base._credential = self.tokens     # pylint: disable=protected-access  # the module's pipelines too
        self.base._clients = {}                 # pylint: disable=protected-access
        self.requests = 0
        self.graph_pages = 0
        adapter_cls = getattr(getattr(self.base.transport, 'session', None), 'mount', None)
        if adapter_cls is not None:
            import requests.adapters  # pylint: disable=import-outside-toplevel
            pool = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=self.concurrency + 4)
            self.base.transport.session.mount('https://', pool)

    @property
    def credential(self):
        return self.tokens

    # -- shared clients and reads -----------------------------------------------------------------------------
    def arm_client(self, subscription_id, name):
        with self._lock:
            key = (subscription_id, name)
            if key not in self._arm_clients:
                factory = ClientFactory(self.cloud, subscription_id, lambda transport: self.tokens, self.timeout)
                factory._transport = self.base.transport     # pylint: disable=protected-access  # one session
                self._arm_clients[key] = factory.arm(name)
            return self._arm_clients[key]

    def data_client(self, name, vault_url):
        with self._lock:
            key = (name, vault_url.rstrip('/').lower())
            if key not in self._data_clients:
                factory = ClientFactory(self.cloud, None, lambda transport: self.tokens, self.timeout)
                factory._transport = self.base.transport     # pylint: disable=protected-access
                self._data_clients[key] = factory.data(name, vault_url)
            return self._data_clients[key]

    def get(self, path, api_version, live):
        key = path.split('?', 1)[0].rstrip('/').lower()
        if not live and '?' not in path and key in self.graph:
            return copy.deepcopy(self.graph[key])
        return self.reads.get(('GET', path.lower(), api_version), lambda: self._read(path, api_version))

    def _read(self, path, api_version):
        with self._lock:
            self.requests += 1
        return self.base.arm_request('GET', path, api_version)

    def add_graph_rows(self, rows):
        """Resource Graph rows (``resources`` table) served as the resources' Resource Manager bodies."""
        for row in rows or []:
            rid = row.get('id')
            if not rid:
                continue
            self.graph[rid.rstrip('/').lower()] = graph_body(row)
            rtype = (row.get('type') or '').lower()
            power = ((((row.get('properties') or {}).get('extended') or {}).get('instanceView') or {})
                     .get('powerState') or {}).get('code')
            if rtype == 'microsoft.compute/virtualmachines' and power:
                # Resource Graph carries a VM's power state: its instance view is not read per VM
                self.graph[rid.rstrip('/').lower() + '/instanceview'] = {'statuses': [{'code': power}]}
            if rtype in ('microsoft.keyvault/vaults', 'microsoft.keyvault/managedhsms'):
                self.vaults[(rtype.split('/')[-1], (row.get('name') or '').lower())] = rid

    def load_graph(self, entries):
        """One paged Resource Graph query over the entries' subscriptions: the resources, vaults, Managed HSMs, Disk
        Encryption Sets and user-assigned identities, served instead of a read each."""
        checked = [e for e in entries if e.get('params') and not e.get('status')]
        subscriptions = sorted(set(e['params']['subscription_id'] for e in checked))
        if not subscriptions:
            return
        services = set(e['service'] for e in checked if e['service'] in _discovery.DEFAULT_SERVICES)
        if 'virtual_machine' in services:
            services.add('managed_disk')               # a VM's check reads its disks
        types = sorted(_discovery.service_types(sorted(services))) + list(GRAPH_TYPES)
        stats = {}
        rows = _discovery.graph_rows(self.base, _discovery.types_query(types, _discovery.SCAN_COLUMNS),
                                     subscriptions=subscriptions, stats=stats)
        self.graph_pages = stats.get('pages', 0)
        self.add_graph_rows(rows)

    # -- the scan ---------------------------------------------------------------------------------------------
    def check(self, service, params, live):
        """The check-mode result of one resource (``azure_cmk_target``'s result shape, ``status`` included); ``service``
        ``key`` runs ``azure_cmk_key``'s task, ``access`` ``azure_hsm_role``'s, ``disk_encryption_set`` ``azure_des``'s."""
        clients = ScanClients(self, params.get('subscription_id') or self.base.subscription_id, live)
        view = ResourceView(self, params, clients)
        try:
            if service == 'key':
                _catalog.run_key(view, params)
            elif service == 'access':
                _catalog.run_role(view, params)
            elif service == 'disk_encryption_set':
                _workflow.run(view, DiskEncryptionSetAdapter(), params)
            else:
                _workflow.run(view, adapters.get(service), params, adapters.ALL_OPTIONS)
            result = view.result or {}
        except CMKError as exc:
            result = dict(exc.result or {}, msg=exc.msg, status='failed', failed=True)
            result.setdefault('compliant', False)
        except Exception as exc:  # pylint: disable=broad-except  # one resource must not stop the scan of the others
            from azure.core.exceptions import AzureError  # pylint: disable=import-outside-toplevel
            if isinstance(exc, AzureError):
                error = CMKError.from_azure(exc, 'checking %s' % params.get('name'))
                result = dict(error.result or {}, msg=error.msg, status='failed', failed=True, compliant=False)
            else:
                result = {'msg': 'Unexpected error checking %s: %r' % (params.get('name'), exc), 'status': 'failed',
                          'failed': True, 'compliant': False}
        result['warnings'] = view.warnings
        return result

    def scan_one(self, entry):
        if entry.get('status'):                       # unlabelled, exception, invalid labels: nothing to read
            return record(entry, None, None)
        params = entry['params']
        service = entry.get('service') or params.get('service')
        served_by_graph = bool(self.graph) and self._in_graph(service, params)
        result = self.check(service, params, live=not served_by_graph)
        source = 'graph' if served_by_graph else 'live'
        if served_by_graph and result.get('status') != 'compliant':
            # Resource Graph lags Resource Manager: confirm what it shows out of policy with direct reads
            result = self.check(service, params, live=True)
            source = 'live'
        if entry.get('access') and result.get('status') != 'failed':
            result = merged(result, [self.check('access', item, live=True) for item in entry['access']])
        return record(entry, result, source)

    def _in_graph(self, service, params):
        if service == 'key':
            return False
        adapter = DiskEncryptionSetAdapter() if service == 'disk_encryption_set' else adapters.get(service)
        rid = params.get('resource_id') or '/subscriptions/%s/resourceGroups/%s/providers/%s/%s/%s' % (
            params.get('subscription_id') or self.base.subscription_id, params.get('resource_group'),
            adapter.namespace, adapter.resource_types[0], params.get('name'))
        return rid.lower() in self.graph

    def scan(self, entries):
        """Check every entry (bounded concurrency); results in the entries' order."""
        entries = list(entries)
        self.tokens.get_token(arm_scope(self.cloud))      # one token before the threads start
        if self.concurrency == 1 or len(entries) < 2:
            return [self.scan_one(entry) for entry in entries]
        from concurrent.futures import ThreadPoolExecutor  # pylint: disable=import-outside-toplevel
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self.scan_one, entries))

    def stats(self, count):
        return {'resources': count, 'arm_reads': self.requests, 'shared_read_hits': self.reads.hits,
                'token_requests': self.tokens.requests, 'graph_rows': len(self.graph), 'graph_pages': self.graph_pages,
                'concurrency': self.concurrency}


def prepare(items, default_subscription, module_params):
    """(entries, errors): each item of the module's ``resources`` checked, its ``params`` validated against
    ``azure_cmk_target``'s options (defaults applied); an entry whose params are invalid becomes ``failed``."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # pylint: disable=import-outside-toplevel
    common = dict(subscription_id=dict(type='str'), timeout=dict(type='int'), journal_dir=dict(type='path'))
    validators = {}
    for service, spec, kwargs in (
            ('target', adapters.argument_spec(), dict(mutually_exclusive=[('resource_id', 'name')],
                                                      required_one_of=[('resource_id', 'name')])),
            ('key', _catalog.key_argument_spec(), {}),
            ('access', _catalog.role_argument_spec(), {}),
            ('disk_encryption_set', des_argument_spec(), dict(required_if=[('state', 'present', ('key',))]))):
        spec.update(common)
        validators[service] = ArgumentSpecValidator(spec, **kwargs)
    entries, errors = [], []
    for index, item in enumerate(items or []):
        if not isinstance(item, dict) or not (item.get('host') or item.get('name')):
            errors.append('item %d is not a resource entry (a dict with host or name)' % index)
            continue
        entry = dict(item)
        entry.setdefault('host', entry.get('name'))
        entry.setdefault('name', entry.get('host'))
        if entry.get('status'):
            if entry['status'] not in ('unlabelled', 'failed', 'exception', 'unreachable'):
                errors.append('%s: status %r is not one the scan passes through' % (entry['host'], entry['status']))
            entries.append(entry)
            continue
        if not isinstance(entry.get('params'), dict):
            errors.append('%s: needs params (the azure_cmk_target options) or a status' % entry['host'])
            continue
        kind = entry.get('service') if entry.get('service') in ('key', 'disk_encryption_set') else 'target'
        problems = []
        entry['params'] = _validated(validators[kind], entry['params'], entry, default_subscription, module_params,
                                     problems)
        entry['access'] = [_validated(validators['access'], item, entry, default_subscription, module_params, problems)
                           for item in entry.get('access') or [] if kind == 'key']
        if problems:
            entry.update(status='failed', message='%s: %s' % (entry['host'], '; '.join(problems)))
        else:
            entry['subscription_id'] = entry['params']['subscription_id']
        entries.append(entry)
    return entries, errors


def discovered(azmod, scope, keys, policy, disk_encryption_sets=None, allow_shared=False):
    """The scan entries of a discovery scope (``_discovery.discover``, as the inventory plugin finds it): each labelled
    or unlabelled resource resolved as an inventory host (``_estate.target``), each exception reported; disks attached
    to a VM are left to the VM's check."""
    try:
        records = _discovery.discover(azmod.clients, subscriptions=scope.get('subscriptions'),
                                      management_groups=scope.get('management_groups'), services=scope.get('services'),
                                      environment_tag=scope.get('environment_tag') or 'environment',
                                      classification_tag=scope.get('classification_tag') or 'classification')
    except _discovery.DiscoveryError as exc:
        raise CMKError('discover: %s' % exc)
    entries = []
    for record in _discovery.assign_hostnames(records):
        hv = _discovery.host_vars(record)
        if record['category'] == 'exception':
            entries.append(_estate.exception_entry(record['hostname'], hv))
        elif record['category'] in ('resource', 'unlabelled'):
            entries.append(_estate.target(record['hostname'], hv, keys, policy, disk_encryption_sets or {},
                                          allow_shared, azmod.subscription_id))
    return entries


def _validated(validator, params, entry, default_subscription, module_params, problems):
    params = dict(params or {})
    params.setdefault('subscription_id', entry.get('subscription_id') or default_subscription)
    params.setdefault('timeout', module_params.get('timeout'))
    params.setdefault('journal_dir', module_params.get('journal_dir'))
    checked = validator.validate(params)
    problems.extend(checked.error_messages)
    return checked.validated_parameters


def graph_body(row):
    """A Resource Graph row as the Resource Manager body it mirrors (the graph lower-cases ``type`` and adds
    ``properties.extended``, which Resource Manager does not return)."""
    body = dict((k, row[k]) for k in ('id', 'name', 'type', 'location', 'kind', 'sku', 'tags', 'identity', 'zones',
                                      'managedBy', 'properties', 'plan', 'extendedLocation') if row.get(k) is not None)
    if isinstance(body.get('properties'), dict) and 'extended' in body['properties']:
        body['properties'] = dict((k, v) for k, v in body['properties'].items() if k != 'extended')
    return body


def merged(result, more):
    """A key's result with the results of its grants (``access``): the worst status, every change and finding."""
    order = ('compliant', 'changed', 'drift', 'requires_recreate', 'failed')
    result = dict(result)
    for item in more:
        if order.index(item.get('status') if item.get('status') in order else 'failed') > \
                order.index(result.get('status') if result.get('status') in order else 'failed'):
            result['status'] = item.get('status') if item.get('status') in order else 'failed'
        result['changes'] = list(result.get('changes') or []) + list(item.get('changes') or [])
        result['findings'] = list(result.get('findings') or []) + list(item.get('findings') or [])
        if item.get('status') == 'failed':
            result['msg'] = '; '.join(m for m in (result.get('msg'), item.get('msg')) if m)
        result['compliant'] = bool(result.get('compliant', True)) and bool(item.get('compliant', True))
    return result


def _unreachable(result):
    error = result.get('error') or {}
    return error.get('code') in UNREACHABLE_CODES or error.get('status') in (401, 403) and \
        error.get('code') != 'ForbiddenByPolicy'


def record(entry, result, source):
    """One entry of the scan's ``resources`` (the report entry: see docs/reports.md)."""
    out = dict((k, entry.get(k) or '') for k in ('host', 'name', 'service', 'environment', 'classification',
                                                 'subscription_id', 'resource_group', 'id'))
    if result is None:
        out.update(status=entry['status'], compliant=entry['status'] == 'exception', findings=[], changes=[],
                   message=entry.get('message') or '', chain=None, requires_recreate=False, source=None)
        return out
    status = result.get('status') or 'failed'
    if status == 'failed' and _unreachable(result):
        status = 'unreachable'
    out.update(
        id=result.get('id') or out['id'],
        status=status,
        compliant=bool(result.get('compliant')) and status == 'compliant',
        findings=[dict((k, f.get(k)) for k in ('code', 'severity', 'message', 'fix')) for f in result.get('findings') or []],
        changes=list(result.get('changes') or []),
        message=result.get('msg') or '',
        chain=result.get('chain'),
        requires_recreate=bool(result.get('requires_recreate')),
        source=source,
    )
    if result.get('disk_encryption_set'):
        out['disk_encryption_set'] = result['disk_encryption_set']
    if result.get('error'):
        out['error'] = result['error']
    if result.get('warnings'):
        out['warnings'] = result['warnings']
    return out


def totals(records):
    counts = dict((status, 0) for status in STATUSES)
    for item in records:
        counts[item['status']] = counts.get(item['status'], 0) + 1
    return counts
