# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.sovereign.cmk.plugins.filter.policy import FilterModule, policy_violations

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

KEYS = {
    'dev-general': {'vault_uri': 'https://kv-dev.vault.azure.net', 'name': 'general', 'environment': 'dev'},
    'prod-pii': {'vault_uri': 'https://hsm-prod.managedhsm.azure.net', 'name': 'pii', 'environment': 'prod'},
    'prod-general': {'vault_uri': 'https://kv-prod.vault.azure.net/', 'name': 'general', 'environment': 'prod'},
}
SETS = {'des-prod-pii': {'key': 'prod-pii', 'environment': 'prod'}}
POLICY = {
    'dev': {'general': {'key': 'dev-general'}},
    'prod': {'pii': {'key': 'prod-pii', 'disk_encryption_set': 'des-prod-pii'},
             'general': {'key': 'prod-general', 'services': {'container_group': {'key': 'prod-general'}}}},
}


def test_accepted_policy_has_no_violation():
    assert policy_violations(POLICY, KEYS, SETS) == []
    assert FilterModule().filters()['policy_violations'] is policy_violations


def test_key_of_another_environment_is_refused_unless_shared():
    policy = dict(POLICY, dev={'pii': {'key': 'prod-pii'}})
    assert policy_violations(policy, KEYS, SETS) == [
        "policy dev/pii: key 'prod-pii' belongs to environment 'prod', not 'dev' "
        "(shared keys need shared_across_environments: true)"]
    shared = dict(KEYS, **{'prod-pii': dict(KEYS['prod-pii'], shared_across_environments=True)})
    assert policy_violations(policy, shared, SETS) == []
    assert policy_violations(policy, KEYS, SETS, allow_shared=True) == []


def test_service_override_and_dangling_references():
    policy = {'prod': {'general': {'key': 'missing', 'disk_encryption_set': 'nope',
                                   'services': {'storage_account': {'key': 'dev-general'}}}}}
    assert policy_violations(policy, KEYS, SETS) == [
        "policy prod/general/storage_account: key 'dev-general' belongs to environment 'dev', not 'prod' "
        "(shared keys need shared_across_environments: true)",
        "policy prod/general: key 'missing' is not in cmk_keys",
        "policy prod/general: disk encryption set 'nope' is not in cmk_disk_encryption_sets",
    ]


def test_disk_encryption_sets_are_checked_too():
    sets = {'des-dev': {'key': 'prod-pii', 'environment': 'dev'}}
    policy = {'prod': {'pii': {'key': 'prod-pii', 'disk_encryption_set': 'des-dev'}}}
    found = policy_violations(policy, KEYS, sets)
    assert "policy prod/pii: disk encryption set 'des-dev' belongs to environment 'dev', not 'prod'" in found[0]
    assert found[1].startswith("disk encryption set des-dev (dev): key 'prod-pii' belongs to environment 'prod'")


def test_one_key_listed_for_two_environments_is_refused():
    keys = dict(KEYS, **{'dev-copy': {'vault_uri': 'https://KV-PROD.vault.azure.net', 'name': 'General',
                                      'environment': 'dev'}})
    found = policy_violations({}, keys)
    assert found == ['keys dev-copy (dev) and prod-general (prod) are the same key https://KV-PROD.vault.azure.net/keys/General']
    assert policy_violations({}, keys, allow_shared=True) == []


def test_bad_input_is_a_filter_error():
    with pytest.raises(AnsibleFilterError):
        policy_violations(None, KEYS)


def test_example_inventory_policy_is_accepted():
    folder = os.path.join(ROOT, 'examples', 'inventory', 'group_vars', 'all')
    data = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as handle:
            data.update(yaml.safe_load(handle) or {})
    assert policy_violations(data['cmk_policy'], data['cmk_keys'], data.get('cmk_disk_encryption_sets')) == []


# -- classification isolation: PII and general data never share a key or DES ------------------------------------------
CATALOG = {
    'prod-pii': {'environment': 'prod', 'vault_uri': 'https://hsm1.managedhsm.azure.net', 'name': 'pii'},
    'prod-gen': {'environment': 'prod', 'vault_uri': 'https://kv1.vault.azure.net', 'name': 'gen'},
    'prod-gen-alias': {'environment': 'prod', 'vault_uri': 'https://KV1.vault.azure.net/', 'name': 'GEN'},
}
DES = {'des-gen': {'environment': 'prod', 'key': 'prod-gen'}, 'des-pii': {'environment': 'prod', 'key': 'prod-pii'}}


def test_pii_moved_onto_the_general_key_is_refused():
    policy = {'prod': {'pii': {'key': 'prod-gen'}, 'general': {'key': 'prod-gen'}}}
    found = policy_violations(policy, CATALOG, DES)
    assert found == ["policy prod/pii: key 'prod-gen' is also used by policy prod/general: classification 'pii' never "
                     "shares a key or disk encryption set with another classification"]


def test_the_same_key_under_another_name_and_a_shared_des_are_refused():
    policy = {'prod': {'pii': {'key': 'prod-pii', 'services': {'storage_account': {'key': 'prod-gen-alias'}}},
                       'general': {'key': 'prod-gen'}}}
    assert any("policy prod/pii/storage_account: key 'prod-gen-alias'" in t for t in policy_violations(policy, CATALOG, DES))
    policy = {'prod': {'pii': {'key': 'prod-pii', 'disk_encryption_set': 'des-gen'},
                       'general': {'key': 'prod-gen', 'disk_encryption_set': 'des-gen'}}}
    assert any("disk encryption set 'des-gen'" in t for t in policy_violations(policy, CATALOG, DES))


def test_separate_keys_pass_and_the_rule_can_be_narrowed_or_turned_off():
    good = {'prod': {'pii': {'key': 'prod-pii', 'disk_encryption_set': 'des-pii'},
                     'general': {'key': 'prod-gen', 'disk_encryption_set': 'des-gen'},
                     'public': {'key': 'prod-gen'}}}
    assert policy_violations(good, CATALOG, DES) == []       # general and public may share
    shared = {'prod': {'pii': {'key': 'prod-gen'}, 'general': {'key': 'prod-gen'}}}
    assert policy_violations(shared, CATALOG, DES, False, []) == []
    confidential = {'prod': {'confidential': {'key': 'prod-gen'}, 'general': {'key': 'prod-gen'}}}
    assert len(policy_violations(confidential, CATALOG, DES)) == 1          # sensitive by default
    assert policy_violations(confidential, CATALOG, DES, False, ['pii']) == []
