# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""The common interface of the CMK target adapters.

An adapter knows one service. ``azure_cmk_target`` calls, in order:

1. ``validate(params, rules)`` - pure, before any Azure call: a list of error messages;
2. ``read(azmod, resource_id)`` - the current resource (and sub-resources) as wire dicts, None when absent;
3. ``plan(current, params, ctx)`` - pure: compare current with desired. Returns a dict with ``before`` and
   ``after`` (encryption settings), ``changes`` (names of what a real run changes), ``recreate`` (create-time-only
   differences, never applied unless the adapter supports an explicit opt-in), ``findings`` (adapter findings,
   for example a running VM) and anything ``apply`` needs;
4. ``principals(azmod, current, planned, ctx)`` - the identities that must hold get/wrapKey/unwrapKey;
5. ``apply(azmod, resource_id, current, planned, params)`` - the writes (never called in check mode).

``ctx`` carries the resolved key chain: ``chain`` (see ``_chain.resolve_chain_key``), ``key_url`` (the
versioned key URL of the current version), ``des`` (a ``_des.des_state`` for DES-based services).
Adding a service is one new adapter module registered in ``adapters.py`` and one entry in ``_services``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils import _identities
from ansible_collections.sovereign.cmk.plugins.module_utils import _arm, _services
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import InvalidIdError, parse_resource_id
from ansible_collections.sovereign.cmk.plugins.module_utils import _chain

SYSTEM = 'SystemAssigned'


class TargetAdapter(object):
    """Base class; subclasses set ``service`` and implement ``read``, ``plan`` and ``apply``."""

    service = None
    namespace = None
    resource_types = None     # e.g. ['storageAccounts']
    options = ()              # per-service options this adapter reads (others are rejected when set)
    recreate_fix = 'Recreate the resource with the wanted settings.'
    creates = False           # True when the adapter creates a missing resource (the DES); else it must exist

    @property
    def rules_entry(self):
        return _services.SERVICES[self.service]

    @property
    def api_version(self):
        return self.rules_entry['api_version']

    def rules(self, params):
        return _services.rules(self.service)

    def resource_id(self, params, subscription_id):
        if params.get('resource_id'):
            return params['resource_id']
        return '/subscriptions/%s/resourceGroups/%s/providers/%s/%s/%s' % (
            subscription_id, params['resource_group'], self.namespace, self.resource_types[0], params['name'])

    def validate(self, params, rules):
        return []

    def read(self, azmod, resource_id):
        body = _arm.read(azmod, resource_id, self.api_version)
        return None if body is None else {'resource': body, 'parsed': parse_resource_id(resource_id)}

    def plan(self, current, params, ctx):
        raise NotImplementedError

    def principals(self, azmod, current, planned, ctx):
        return []

    def apply(self, azmod, resource_id, current, planned, params):
        raise NotImplementedError

    def result_extras(self, current, planned, state):
        """Service-specific result fields (``planned['after']`` is the final or predicted settings)."""
        return {}

    def display_name(self, current, params):
        if current is not None:
            return current['parsed']['name']
        return params.get('name') or (params.get('resource_id') or '').rstrip('/').split('/')[-1]

    def can_create(self, params):
        """Whether the request lets the adapter create a missing resource (the storage account's ``create``)."""
        return False

    def resume(self, azmod, journal, resource_id, current, params):
        """Finish what an earlier run left in the recovery journal (``_journal``) before anything else.

        Returns (current, changes, findings): the resource as it is afterwards, what was done (or, in check mode,
        would be done) and findings about it. Nothing by default."""
        return current, [], []

    def current_disk_encryption_set(self, current):
        """The DES the resource uses now, verified when the task names none (AKS)."""
        return None

    def prepare(self, azmod, params, current, ctx):
        """Azure reads the plan needs beyond the resource and the chain (none by default)."""
        return None

    def created_principals(self, azmod, state, planned, params):
        """Identities the apply created ({'principal_id', 'what', 'principal_ref'}), to grant after the write."""
        return []

    def pre_apply(self, azmod, resource_id, current, planned, params):
        """Identities the change needs that the task must create on the resource first (a storage account's
        system-assigned identity with ``create_identity``); returns ``principals`` entries to grant before ``apply``."""
        return []

    def result_id(self, state, resource_id):
        return ((state or {}).get('resource') or {}).get('id') or resource_id


# -- helpers the adapters share ---------------------------------------------------------------------------
def check_resource_id(value, namespace, rtype, label='resource_id'):
    """Errors when ``value`` is not an id of ``namespace/rtype``."""
    try:
        parsed = parse_resource_id(value)
    except InvalidIdError as exc:
        return ['%s: %s' % (label, exc)]
    if (parsed['type'] or '').lower() != ('%s/%s' % (namespace, rtype)).lower():
        return ['%s: %s is not a %s/%s id' % (label, value, namespace, rtype)]
    return []


def identity_errors(params, rules, label='identity', allow_system=True):
    """Validate the ``identity`` option (user-assigned identity id or V(SystemAssigned)) against the rules."""
    value = params.get('identity')
    if value is None:
        return []
    if value == SYSTEM:
        if _services.SYSTEM_ASSIGNED not in rules['identity_kinds'] or not allow_system:
            return ['%s: %s needs a user-assigned identity (%s); the system-assigned identity is not accepted'
                    % (label, rules['title'], ', '.join(_services.label(k) for k in rules['identity_kinds']))]
        return []
    return check_resource_id(value, 'Microsoft.ManagedIdentity', 'userAssignedIdentities', label)


def uai_principal(azmod, uai_id, what=None, create=False):
    """A ``principals`` entry for a user-assigned identity; with ``create`` a missing one is to be created
    (``create_identity``), else it is ``missing``."""
    entry = _identities.identity_principal(azmod, uai_id, what)
    if entry.get('missing') and create:
        entry = {'principal_id': None, 'create': entry.pop('missing'), 'what': entry['what']}
    return entry


def system_principal(current_body, what):
    principal = ((current_body or {}).get('identity') or {}).get('principalId')
    return {'principal_id': principal, 'what': what} if principal else None


def norm_url(url):
    """Vault base URL for comparison: lower case, no :443, no trailing slash."""
    return (url or '').strip().lower().replace(':443', '').rstrip('/')


def strip_read_only(value, names=('provisioningState', 'instanceView', 'principalId', 'tenantId', 'clientId',
                                  'systemData', 'etag')):
    """A copy of an ARM body without the read-only fields a PUT must not carry."""
    if isinstance(value, dict):
        return dict((k, strip_read_only(v, names)) for k, v in value.items() if k not in names)
    if isinstance(value, list):
        return [strip_read_only(v, names) for v in value]
    return value


def recreate_finding(service_title, reason, fix):
    return _chain.finding('requires_recreate', '%s: %s' % (service_title, reason), fix, _chain.DRIFT)


def vm_power_state(instance_view):
    """'running', 'deallocated', 'stopped', ... from a VM instance view (None when unknown)."""
    for status in (instance_view or {}).get('statuses') or []:
        code = status.get('code') or ''
        if code.lower().startswith('powerstate/'):
            return code.split('/', 1)[1].lower()
    return None
