# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Resource Manager I/O by resource id: one client (``ClientFactory.arm_request``), one api-version per resource.

Every resource the collection manages is read and written here, at the api-version of its entry in the service rules
table (``_services``), so a read and the write that follows it always agree on the shape - whatever version of an
``azure-mgmt-*`` package is installed. Long-running writes are followed with ``azure-mgmt-core``'s ARM poller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils._errors import CMKError

RESOURCE_GROUP_API_VERSION = '2021-04-01'


def read(azmod, resource_id, api_version, action=None):
    """The ARM body of ``resource_id`` (None when it does not exist)."""
    return azmod.get_or_none(action or 'reading %s' % resource_id, azmod.clients.arm_request, 'GET', resource_id,
                             api_version)


def write(azmod, action, method, path, api_version, body=None):
    """One write (PUT, PATCH, DELETE or a POST action), waited for when long-running; fails the task on an error."""
    return azmod.run(action, azmod.clients.arm_request, method, path, api_version, body)


def step(action, method, path, api_version, body=None):
    """A write to run later with ``attempt`` (for sequences that must undo or report what they did)."""
    return {'action': action, 'method': method, 'path': path, 'api_version': api_version, 'body': body}


def attempt(azmod, write_step):
    """Run a ``step``; returns (result, None) or (None, CMKError) without failing the task."""
    return azmod.attempt(write_step['action'], azmod.clients.arm_request, write_step['method'], write_step['path'],
                         write_step['api_version'], write_step['body'])


def resource_group_location(azmod, subscription_id, resource_group):
    """The region of a resource group; fails clearly when it does not exist."""
    body = read(azmod, '/subscriptions/%s/resourceGroups/%s' % (subscription_id, resource_group),
                RESOURCE_GROUP_API_VERSION, 'reading resource group %s' % resource_group)
    if body is None:
        raise CMKError('Resource group %s does not exist in subscription %s' % (resource_group, subscription_id))
    return body.get('location')
