# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.sovereign.cmk.plugins.module_utils import _services

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
FIELDS = ('title', 'resource_type', 'api_version', 'key_sources', 'key_reference', 'identity_kinds',
          'identity_at_creation', 'key_types', 'key_sizes', 'rotation', 'create_time_only', 'purge_protection')


@pytest.mark.parametrize('service', sorted(_services.SERVICES))
def test_every_entry_is_complete(service):
    entry = _services.SERVICES[service]
    for field in FIELDS:
        assert field in entry, field
    assert set(entry['key_types']) <= set(_services.RSA_TYPES)


def test_facts():
    assert not _services.key_store_allowed('container_group', _services.MANAGED_HSM)
    assert _services.key_store_allowed('sql_managed_instance', _services.MANAGED_HSM)
    assert _services.key_size_allowed('sql_managed_instance', 3072)
    assert not _services.key_size_allowed('sql_managed_instance', 4096)
    assert _services.key_size_allowed('storage_account', 4096)
    assert not _services.identity_allowed('storage_account', _services.SYSTEM_ASSIGNED, creating=True)
    assert _services.identity_allowed('storage_account', _services.SYSTEM_ASSIGNED)
    assert not _services.key_type_allowed('aks', 'EC-HSM')
    assert 'diskEncryptionSetID' in _services.SERVICES['aks']['create_time_only']
    assert _services.purge_protection_required('managed_disk')
    assert not _services.purge_protection_required('container_group')


def test_sql_identity_seed_vs_microsoft():
    assert _services.rules('sql_managed_instance')['identity_kinds'] == (_services.USER_ASSIGNED,)
    assert not _services.identity_allowed('sql_managed_instance', _services.SYSTEM_ASSIGNED, sql_identity_mode='seed')
    assert _services.identity_allowed('sql_managed_instance', _services.SYSTEM_ASSIGNED, sql_identity_mode='microsoft')


def test_targets_list_matches_module_choices():
    assert set(_services.TARGET_SERVICES) == set(_services.SERVICES) - set(['disk_encryption_set'])


def test_docs_embed_the_table():
    with open(os.path.join(ROOT, 'docs', 'targets.md')) as handle:
        text = handle.read()
    assert _services.render_markdown() in text
