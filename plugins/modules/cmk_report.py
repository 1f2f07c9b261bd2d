#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# The documentation of the cmk_report action plugin (plugins/action/cmk_report.py): there is no module to run.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: cmk_report
short_description: Summarise an enforce or drift run and write its reports (JSON, JUnit XML, HTML, Markdown)
version_added: 0.2.0
description:
  - Takes the entries a sovereign.cmk run recorded (one per resource, from the C(sovereign.cmk.cmk_record) filter
    or richer ones) and returns the run's summary - RV(summary) with the keys the enforce and drift playbooks have
    always recorded (C(mode), C(totals), C(by_service), C(by_environment), C(resources)) - and the counts the
    playbooks fail on.
  - With O(dir), also writes the reports of the run to that directory - C(sovereign-cmk-report.json) (versioned
    schema), C(sovereign-cmk-report.xml) (JUnit XML for CI), C(sovereign-cmk-report.html) (one self-contained page
    for auditors, no external asset) and C(sovereign-cmk-report.md) (for job logs and pull requests). The
    collection's C(docs/reports.md) describes them and C(docs/report.schema.json) is the JSON report's schema.
  - An action plugin - it runs on the controller and sends nothing to a host, whatever host the task targets.
  - B(Statuses) - V(compliant), V(enforced), V(drift), V(requires_recreate), V(failed), V(unlabelled) (a discovered
    resource without environment or classification labels), V(unreachable) (a resource the run could not read) and
    V(exception) (a resource of a service that cannot use a customer-managed key this way; information only). An
    entry with the module status C(changed) is V(drift) in drift mode and V(enforced) in enforce mode; an unknown
    status is V(failed). The non-compliant statuses are V(drift), V(requires_recreate), V(failed), V(unlabelled) and
    V(unreachable).
author:
  - sovereign.cmk maintainers (@sovereign-cmk)
options:
  results:
    description:
      - The run's entries, one per resource. Each is a dict with C(name), C(id), C(service), C(environment),
        C(status), C(findings), C(changes) and C(message) (what C(sovereign.cmk.cmk_record) gives), and optionally
        C(classification), C(subscription_id), C(resource_group), C(chain) (as the modules return it) and
        C(disk_encryption_set).
      - C(findings) may be plain strings (their severity then follows the status) or dicts with C(code),
        C(severity), C(message) and C(fix). Missing fields are empty; C(subscription_id) and C(resource_group)
        default to the parts of C(id).
    type: list
    elements: raw
    required: true
  mode:
    description:
      - V(drift) or V(enforce). Defaults to V(drift) when the task runs in check mode, V(enforce) otherwise.
    type: str
    choices: [drift, enforce]
  dir:
    description:
      - The directory to write the reports to, created when missing. Without it no file is written.
      - A relative path is relative to the current directory of C(ansible-playbook) (in AWX, the job's project
        directory), not to the playbook's directory; C(~) and environment variables are expanded.
      - Existing reports of the same names are replaced (each file is written to a temporary file and renamed).
    type: path
  formats:
    description: The reports to write to O(dir).
    type: list
    elements: str
    choices: [json, junit, html, markdown]
    default: [json, junit, html, markdown]
  scope:
    description:
      - What the run covered, recorded as it is in the reports (for example C(subscriptions), C(management_groups),
        C(inventory), C(environments), C(services)).
    type: dict
    default: {}
  run_id:
    description:
      - The run's identifier in the reports. Defaults to the AWX job id (C(awx_job_id) or C(tower_job_id)) when the
        run is an AWX or Automation Controller job, and to a random UUID otherwise.
    type: str
  title:
    description: The title of the HTML and Markdown reports.
    type: str
    default: sovereign.cmk - encryption at rest with customer-managed keys
attributes:
  check_mode:
    description:
      - The reports are the product of a drift run, which runs in check mode; the task therefore writes them in check
        mode too, and returns the same results. Set C(check_mode) on the task if that is not wanted.
    support: full
  diff_mode:
    description: No diff is returned.
    support: none
  platform:
    description: Runs on the controller (an action plugin); writes only to the controller's file system.
    support: full
    platforms: controller
notes:
  - The task always reports C(changed=false) - it changes nothing in Azure; the reports are the run's output.
  - The HTML report embeds the data of every resource and renders the table a page at a time; a link can open a
    filtered view with a URL fragment such as C(#status=drift&service=aks) (see the collection's C(docs/reports.md)).
'''

EXAMPLES = r'''
- name: Summarise the run and write its reports
  sovereign.cmk.cmk_report:
    results: "{{ key_results + storage_results }}"
    mode: drift
    dir: reports/
    scope:
      subscriptions: ["00000000-0000-0000-0000-000000000000"]
      inventory: inventory/
  register: report

- name: Fail on drift
  ansible.builtin.assert:
    that: report.non_compliant == 0
    fail_msg: "{{ report.non_compliant }} non-compliant: {{ report.non_compliant_resources | join(', ') }}"
'''

RETURN = r'''
summary:
  description:
    - The run's summary, the same keys as the summary the playbooks always recorded.
  returned: always
  type: dict
  contains:
    mode:
      description: V(drift) or V(enforce).
      type: str
      sample: drift
    totals:
      description: The number of resources of each status (every status, zeros included).
      type: dict
      sample: {compliant: 40, enforced: 0, exception: 1, drift: 3, requires_recreate: 1, unlabelled: 0,
               unreachable: 0, failed: 0}
    by_service:
      description: The counts per status of each service.
      type: dict
    by_environment:
      description: The counts per status of each environment.
      type: dict
    resources:
      description:
        - Every entry, with C(service), C(environment), C(name), C(id), C(status), C(changes), C(findings) (the
          messages) and C(message), as before, plus C(classification), C(subscription_id) and C(resource_group).
      type: list
      elements: dict
files:
  description: The paths of the reports written (absolute), in the order of O(formats); empty without O(dir).
  returned: always
  type: list
  elements: str
  sample: [/runner/project/reports/sovereign-cmk-report.json]
failed_count:
  description: The number of resources with status V(failed).
  returned: always
  type: int
non_compliant:
  description:
    - The number of non-compliant resources - V(drift), V(requires_recreate), V(failed), V(unlabelled) and
      V(unreachable).
  returned: always
  type: int
failed_resources:
  description: The first 100 failed resources, as C(<environment>/<service>/<name>).
  returned: always
  type: list
  elements: str
non_compliant_resources:
  description: The first 100 non-compliant resources, as C(<environment>/<service>/<name> (<status>)).
  returned: always
  type: list
  elements: str
text:
  description:
    - The summary as lines for the job log - totals, per service, per environment and the first 200 resources that
      are not compliant with their findings.
  returned: always
  type: list
  elements: str
mode:
  description: The mode used.
  returned: always
  type: str
run_id:
  description: The run id written in the reports.
  returned: always
  type: str
'''
