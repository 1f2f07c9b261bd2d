# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Every SDK client the client factory can create imports and accepts the factory's arguments with the
installed SDK versions (no request is sent).

The ``lowest`` gate of scripts/test.py runs this on the lower bounds of requirements.txt: a client
package that fails to import there (azure-mgmt-sql 3.0.1 imports ``six`` without declaring it, for
example) makes the bound wrong.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sovereign.cmk.plugins.module_utils import _clients
from ansible_collections.sovereign.cmk.plugins.module_utils._auth import builtin_cloud

SUBSCRIPTION = '00000000-0000-4000-8000-000000000000'


class _NoCredential:
    """Never asked for a token: no client sends a request here."""

    def get_token(self, *scopes, **kwargs):
        raise AssertionError('no request may be sent')


def _factory():
    return _clients.ClientFactory(builtin_cloud('AzureCloud'), SUBSCRIPTION, lambda transport: _NoCredential())


@pytest.mark.parametrize('name', sorted(_clients.ARM_CLIENTS))
def test_resource_manager_client_can_be_created(name):
    factory = _factory()
    client = factory.arm(name)
    assert type(client).__name__ == _clients.ARM_CLIENTS[name][1]
    assert factory.arm(name) is client


@pytest.mark.parametrize('name', sorted(_clients.DATA_CLIENTS))
def test_data_plane_client_can_be_created(name):
    client = _factory().data(name, 'https://example-hsm.managedhsm.azure.net/')
    assert type(client).__name__ == _clients.DATA_CLIENTS[name][1]


def test_generic_pipeline_can_be_created():
    assert _factory().arm_pipeline() is not None


def test_every_client_package_has_a_pip_name():
    clients = list(_clients.ARM_CLIENTS.values()) + list(_clients.DATA_CLIENTS.values())
    assert sorted(spec[0] for spec in clients if spec[0] not in _clients.PIP_NAMES) == []
