#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: azure_cmk_scan
short_description: Check the customer-managed key chain of a whole estate in one task (read-only)
version_added: 0.2.0
description:
  - Evaluates the whole key chain - key, vault or Managed HSM, identities and their access, encryption settings - of
    many resources in one process, with the same findings and verdicts as M(sovereign.cmk.azure_cmk_target) in check
    mode (it runs the same workflow, see C(docs/scan.md)).
  - The resources come from O(resources), one entry per resource as the C(sovereign.cmk.cmk_scan_targets) filter
    builds them from the inventory (static, or the C(sovereign.cmk.azure_cmk) discovery inventory); the enforce and
    drift playbooks call it that way.
  - B(Cost) - one credential and one token per audience for the whole scan; one HTTP session; bounded concurrency
    (O(concurrency)); each distinct key, vault, Managed HSM, Disk Encryption Set and identity is read once, role
    assignments once per key scope for all principals, Managed HSM local role assignments and definitions once per
    HSM.
  - B(Resource Graph) - with O(source=graph) (the default) the resources' own settings come from one paged Azure
    Resource Graph query over their subscriptions instead of one read per resource. Resource Graph lags Resource
    Manager by seconds to minutes, so every resource the graph shows out of policy is checked again with direct reads
    and reported as those show it (its C(source) in RV(resources) is V(live)). O(source=live) reads every resource directly
    - the choice just after an enforce run.
  - Read-only - it never sends a write, whatever the task's check mode. Findings that a real run of
    M(sovereign.cmk.azure_cmk_target) would fix are reported as drift, as in check mode.
  - Entries that carry a C(status) (V(unlabelled), V(failed) for labels the policy does not know, V(exception)) are
    reported as they are, without any request.
author:
  - sovereign.cmk maintainers (@sovereign-cmk)
options:
  resources:
    description:
      - The resources to check, as the C(sovereign.cmk.cmk_scan_targets) filter returns them - each a dict with
        C(host), C(name), C(service), C(environment), C(classification), C(resource_group), C(subscription_id) and
        either C(params) (the M(sovereign.cmk.azure_cmk_target) options for it) or C(status) and C(message).
      - Exactly one of O(resources) and O(discover).
    type: list
    elements: dict
  discover:
    description:
      - Check every resource of a scope instead of a list - the scope discovered as the C(sovereign.cmk.azure_cmk)
        inventory plugin does (same options, same labels, same exceptions; disks attached to a VM are covered by the
        VM's check), each resource resolved against O(policy), O(keys) and O(disk_encryption_sets) as the enforce
        playbook resolves an inventory host.
      - Exactly one of O(resources) and O(discover).
    type: dict
    suboptions:
      subscriptions:
        description: Subscription ids (default - O(subscription_id)).
        type: list
        elements: str
      management_groups:
        description: Management group names (their subscriptions and those of every descendant group).
        type: list
        elements: str
      services:
        description: The services in scope (default - all six).
        type: list
        elements: str
      environment_tag:
        description: The tag that holds the environment.
        type: str
        default: environment
      classification_tag:
        description: The tag that holds the data classification.
        type: str
        default: classification
  policy:
    description: The policy (C(cmk_policy) - environment, classification, key and DES), with O(discover).
    type: dict
  keys:
    description: The key catalog (C(cmk_keys)), with O(discover).
    type: dict
  disk_encryption_sets:
    description: The DES catalog (C(cmk_disk_encryption_sets)), with O(discover).
    type: dict
  allow_shared:
    description: C(cmk_allow_shared_across_environments), with O(discover).
    type: bool
    default: false
  source:
    description:
      - Where the resources' own settings are read. V(graph) - one Azure Resource Graph query for all of them, with a
        direct read to confirm each one found out of policy. V(live) - a direct read of each resource.
      - Keys, vaults, HSMs, Disk Encryption Sets, identities and role assignments are always read directly, once each.
    type: str
    default: graph
    choices: [graph, live]
  concurrency:
    description:
      - How many resources are checked at once (threads of one process), 1 to 32.
    type: int
    default: 8
  journal_dir:
    description:
      - The recovery journal directory of M(sovereign.cmk.azure_cmk_target), read (never written) to report a
        resource an interrupted run left half-done.
    type: path
extends_documentation_fragment:
  - sovereign.cmk.azure
attributes:
  check_mode:
    description: The module never writes; check mode changes nothing.
    support: full
  diff_mode:
    description: No diff; each resource's findings say what differs.
    support: none
  idempotent:
    description: Read-only.
    support: full
notes:
  - The identity running the scan needs read access to the resources, the vaults and HSMs and their keys (Key Vault
    Reader or the get key permission), the role assignments (Reader), and Managed HSM local role assignments (Managed
    HSM Crypto Auditor or Reader); a resource it cannot read is reported V(unreachable).
  - With O(discover), the per-resource options an inventory gives its hosts (C(cmk_allow_deallocate),
    C(cmk_identity) when a resource has several user-assigned identities, ...) take their defaults - a running VM whose
    disks differ is V(failed) (the change would need a deallocation), as M(sovereign.cmk.azure_cmk_target) reports it.
  - Requests per resource - with O(source=graph), none for a compliant resource whose service keeps its whole
    encryption setting on the resource (storage account, disk, AKS, container group); a VM reads its disks and a SQL
    Managed Instance its encryption protector. See C(docs/scan.md) for the measured figures.
requirements:
  - azure-mgmt-authorization >= 4.0.0
  - azure-keyvault-administration >= 4.5.0
seealso:
  - module: sovereign.cmk.azure_cmk_target
    description: The per-resource module whose check mode the scan reproduces.
  - plugin: sovereign.cmk.azure_cmk
    plugin_type: inventory
    description: Discovers the estate (Azure Resource Graph).
'''

EXAMPLES = r'''
- name: Check every resource of the inventory in one task
  sovereign.cmk.azure_cmk_scan:
    resources: >-
      {{ groups['cmk_resources'] | sovereign.cmk.cmk_scan_targets(hostvars, cmk_keys, cmk_policy,
         cmk_disk_encryption_sets | default({})) }}
  register: scan

- name: Check every resource of two subscriptions, discovered through Resource Graph
  sovereign.cmk.azure_cmk_scan:
    discover:
      subscriptions: [00000000-0000-0000-0000-000000000001, 00000000-0000-0000-0000-000000000002]
      environment_tag: env
    policy: "{{ cmk_policy }}"
    keys: "{{ cmk_keys }}"
    disk_encryption_sets: "{{ cmk_disk_encryption_sets }}"
  register: estate

- name: The resources out of policy
  ansible.builtin.debug:
    msg: "{{ scan.resources | rejectattr('compliant') | map(attribute='name') | list }}"
'''

RETURN = r'''
resources:
  description:
    - One entry per resource, in the order of O(resources) - C(host), C(name), C(id), C(service), C(environment),
      C(classification), C(subscription_id), C(resource_group), C(status), C(compliant), C(findings) (each with
      C(code), C(severity), C(message), C(fix)), C(changes) (what M(sovereign.cmk.azure_cmk_target) would change),
      C(message) (why it failed), C(chain) (as M(sovereign.cmk.azure_cmk_target) returns it), C(requires_recreate),
      C(source) (V(graph) or V(live) - where its own settings were read).
    - C(status) is V(compliant), V(drift), V(requires_recreate), V(failed), V(unreachable) (the scan may not read it),
      V(unlabelled) (no environment or classification label) or V(exception) (a service that cannot use a
      customer-managed key this way).
  returned: always
  type: list
  elements: dict
totals:
  description: The number of resources per C(status).
  returned: always
  type: dict
out_of_policy:
  description: The C(host) of every resource whose status is not V(compliant) or V(exception) - what an enforce run
    has to work on.
  returned: always
  type: list
  elements: str
compliant:
  description: Whether every resource is compliant (exceptions aside).
  returned: always
  type: bool
status:
  description: V(compliant) when every resource is, else V(drift).
  returned: always
  type: str
stats:
  description: What the scan cost - C(resources), C(arm_reads) (direct Resource Manager reads), C(shared_read_hits)
    (reads answered from an earlier one), C(token_requests), C(graph_rows), C(graph_pages), C(concurrency),
    C(seconds), C(source) (V(live) when Resource Graph could not be queried - a warning says why).
  returned: always
  type: dict
'''

import time

from ansible_collections.sovereign.cmk.plugins.module_utils import _scan
from ansible_collections.sovereign.cmk.plugins.module_utils._azure_module import AzureCMKModule
from ansible_collections.sovereign.cmk.plugins.module_utils._errors import CMKError


def argument_spec():
    return dict(
        resources=dict(type='list', elements='dict'),
        discover=dict(type='dict', options=dict(
            subscriptions=dict(type='list', elements='str'),
            management_groups=dict(type='list', elements='str'),
            services=dict(type='list', elements='str'),
            environment_tag=dict(type='str', default='environment'),
            classification_tag=dict(type='str', default='classification'),
        )),
        policy=dict(type='dict'),
        keys=dict(type='dict', no_log=False),
        disk_encryption_sets=dict(type='dict'),
        allow_shared=dict(type='bool', default=False),
        source=dict(type='str', default='graph', choices=['graph', 'live']),
        concurrency=dict(type='int', default=8),
        journal_dir=dict(type='path'),
    )


def run(azmod):
    started = time.time()
    params = azmod.params
    if not 1 <= params['concurrency'] <= _scan.MAX_CONCURRENCY:
        azmod.fail('concurrency must be between 1 and %d (got %d)' % (_scan.MAX_CONCURRENCY, params['concurrency']))
    items = params['resources']
    if params['discover'] is not None:
        if not params['policy'] or not params['keys']:
            azmod.fail('discover needs policy (cmk_policy) and keys (cmk_keys) to know the key of each resource')
        items = _scan.discovered(azmod, params['discover'], params['keys'], params['policy'],
                                 params['disk_encryption_sets'], params['allow_shared'])
    entries, errors = _scan.prepare(items, azmod.subscription_id, params)
    if errors:
        azmod.fail('resources: %s' % '; '.join(errors))
    scanner = _scan.Scanner(azmod, params['concurrency'], params['source'])
    if params['source'] == 'graph':
        try:
            _rows, error = azmod.attempt('querying Azure Resource Graph', scanner.load_graph, entries)
        except ImportError as exc:     # azure-mgmt-resourcegraph missing
            error = CMKError(str(exc))
        if error is not None:      # no Resource Graph (Azure Stack Hub) or no access to it: every resource read directly
            azmod.warn('Azure Resource Graph could not be queried (%s): every resource is read directly, as with '
                       'source=live.' % error.msg)
    records = scanner.scan(entries)
    totals = _scan.totals(records)
    out = [r['host'] for r in records if r['status'] not in ('compliant', 'exception')]
    stats = scanner.stats(len(records))
    stats['source'] = 'graph' if scanner.graph else 'live'
    stats['seconds'] = round(time.time() - started, 3)
    azmod.module.exit_json(changed=False, resources=records, totals=totals, out_of_policy=out,
                           compliant=not out, status='compliant' if not out else 'drift', stats=stats)


def main():
    azmod = AzureCMKModule(argument_spec(), supports_check_mode=True, required_one_of=[('resources', 'discover')],
                           mutually_exclusive=[('resources', 'discover')])
    azmod.execute(run, azmod)


if __name__ == '__main__':
    main()
