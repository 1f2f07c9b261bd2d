# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sovereign.cmk.plugins.module_utils import _discovery as d
from ansible_collections.sovereign.cmk.plugins.module_utils import _services

SUB = '5a0e0e5e-0000-4000-8000-000000000001'
UAI = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1' % SUB


def row(name, rtype, group='rg', sub=SUB, **extra):
    base = {'id': '/subscriptions/%s/resourceGroups/%s/providers/%s/%s' % (sub, group, rtype, name), 'name': name,
            'type': rtype.lower(), 'kind': '', 'location': 'westeurope', 'resourceGroup': group.lower(),
            'subscriptionId': sub, 'managedBy': '', 'tags': {}, 'identity': None}
    base.update(extra)
    return base


LABELS = {'environment': 'prod', 'classification': 'pii'}


def test_service_types_come_from_the_rules_table():
    types = d.service_types()
    assert sorted(types.values()) == sorted(_services.TARGET_SERVICES)
    for resource_type, service in types.items():
        assert resource_type == _services.SERVICES[service]['resource_type'].lower()
    assert d.service_types(['aks']) == {'microsoft.containerservice/managedclusters': 'aks'}
    with pytest.raises(d.DiscoveryError, match='unknown services nope'):
        d.service_types(['nope'])
    assert set(d.SERVICE_GROUPS) == set(_services.TARGET_SERVICES)


def test_graph_query_names_every_type_once():
    query = d.graph_query(['storage_account'])
    assert query.startswith("resources | where type in~ ('microsoft.storage/storageaccounts', 'microsoft.web/sites', ")
    assert query.count("'microsoft.web/sites'") == 1 and "'microsoft.app/containerapps'" in query
    assert query.endswith('| order by id asc') and '| project id, name, type, kind,' in query
    assert d.api_versions(['storage_account'])['Microsoft.Storage/storageAccounts'] == \
        _services.SERVICES['storage_account']['api_version']
    listed = {'Microsoft.ContainerService/managedClusters', 'Microsoft.Web/sites', 'Microsoft.App/containerApps',
              'Microsoft.Web/staticSites', 'Microsoft.Logic/workflows'}
    assert set(d.api_versions(['aks'])) == listed


@pytest.mark.parametrize('tags, expected', [
    ({'Environment': ' Prod '}, 'prod'), ({'ENVIRONMENT': 'Test'}, 'test'), ({'environment': ''}, None),
    ({'env': 'prod'}, None), ({}, None), (None, None), ({'environment': None}, None),
])
def test_tag_value(tags, expected):
    assert d.tag_value(tags, 'environment') == expected


def test_tag_value_keeps_case_on_request():
    assert d.tag_value({'Env': 'Prod'}, 'env', keep_case=True) == 'Prod'


def test_single_user_assigned_identity():
    assert d.single_user_assigned_identity({'type': 'UserAssigned', 'userAssignedIdentities': {UAI: {}}}) == UAI
    assert d.single_user_assigned_identity({'type': 'SystemAssigned'}) is None
    assert d.single_user_assigned_identity({'userAssignedIdentities': {UAI: {}, UAI + '2': {}}}) is None
    assert d.single_user_assigned_identity(None) is None


def test_labelled_resource():
    record = d.row_to_record(row('st1', 'Microsoft.Storage/storageAccounts', tags=dict(LABELS),
                                 identity={'userAssignedIdentities': {UAI: {}}}), d.service_types())
    assert record['category'] == 'resource' and record['service'] == 'storage_account'
    assert d.host_groups(record) == ['cmk_resources', 'storage_accounts', 'prod', 'pii']
    variables = d.host_vars(record)
    assert variables['cmk_identity'] == UAI and variables['cmk_environment'] == 'prod'
    assert variables['cmk_subscription_id'] == SUB and variables['cmk_resource_group'] == 'rg'
    assert 'cmk_missing_labels' not in variables


def test_unlabelled_resource():
    record = d.row_to_record(row('st1', 'Microsoft.Storage/storageAccounts', tags={'environment': 'prod'}),
                             d.service_types())
    assert record['category'] == 'unlabelled' and d.host_groups(record) == ['cmk_unlabelled']
    assert d.host_vars(record)['cmk_missing_labels'] == ['classification']


def test_custom_tag_names():
    record = d.row_to_record(row('st1', 'Microsoft.Storage/storageAccounts', tags={'Env': 'Dev', 'DataClass': 'General'}),
                             d.service_types(), 'env', 'dataclass')
    assert (record['environment'], record['classification']) == ('dev', 'general')


def test_attached_disk_is_covered_by_its_vm():
    vm = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1' % SUB
    attached = row('d1', 'Microsoft.Compute/disks', managedBy=vm, tags=dict(LABELS))
    record = d.row_to_record(attached, d.service_types())
    assert record['category'] == 'covered' and d.host_vars(record)['cmk_covered_by'] == vm
    assert d.host_groups(record) == ['cmk_covered']
    # without virtual machines in scope, nobody covers it: it is a resource of its own
    assert d.row_to_record(attached, d.service_types(['managed_disk']))['category'] == 'resource'


@pytest.mark.parametrize('rtype, kind, service', [
    ('Microsoft.Web/sites', 'functionapp,linux', 'Azure Functions'),
    ('Microsoft.Web/sites', 'functionapp,workflowapp', 'Azure Logic Apps (Standard)'),
    ('Microsoft.Web/sites', 'app', 'Azure App Service'),
    ('Microsoft.App/containerApps', '', 'Azure Container Apps'),
    ('Microsoft.Web/staticSites', '', 'Azure Static Web Apps'),
    ('Microsoft.Logic/workflows', '', 'Azure Logic Apps (Consumption)'),
])
def test_exceptions(rtype, kind, service):
    record = d.row_to_record(row('x', rtype, kind=kind), d.service_types())
    assert record['category'] == 'exception' and record['exception_service'] == service
    assert record['exception_reason'] and d.host_groups(record) == ['cmk_exceptions']
    assert 'cmk_service' not in d.host_vars(record)


def test_unrelated_rows_are_dropped():
    assert d.row_to_record(row('kv', 'Microsoft.KeyVault/vaults'), d.service_types()) is None


def test_duplicate_names_get_qualified_host_names():
    other = SUB.replace('0001', '0002')
    records = d.records_from_rows([
        row('data1', 'Microsoft.Compute/disks', tags=dict(LABELS)),
        row('data1', 'Microsoft.Compute/disks', group='rg2', tags=dict(LABELS)),
        row('dup', 'Microsoft.Compute/disks', tags=dict(LABELS)),
        row('dup', 'Microsoft.Compute/disks', sub=other, tags=dict(LABELS)),
        row('DUP', 'Microsoft.Storage/storageAccounts', sub=other, tags=dict(LABELS)),
        row('single', 'Microsoft.Compute/disks', tags=dict(LABELS)),
    ])
    names = sorted(r['hostname'] for r in records)
    assert names == sorted([
        'data1.rg.5a0e0e5e', 'data1.rg2.5a0e0e5e', 'single',
        'dup.rg.%s.microsoft.compute_disks' % SUB, 'dup.rg.%s.microsoft.compute_disks' % other,
        'DUP.rg.%s.microsoft.storage_storageaccounts' % other])


def test_row_from_arm_matches_a_graph_row():
    body = {'id': '/subscriptions/%s/resourceGroups/RG/providers/Microsoft.Compute/disks/d1' % SUB.upper(),
            'name': 'd1', 'type': 'Microsoft.Compute/disks', 'location': 'westeurope', 'tags': {'a': 'b'},
            'managedBy': 'vm', 'properties': {}}
    converted = d.row_from_arm(body)
    assert converted['type'] == 'microsoft.compute/disks' and converted['resourceGroup'] == 'rg'
    assert converted['subscriptionId'] == SUB and converted['managedBy'] == 'vm' and converted['kind'] == ''


@pytest.mark.parametrize('text, seconds', [('00:00:05', 5), ('00:01:00', 60), ('00:00:00.250', 0.25),
                                           ('1.00:00:01', 86401), ('', None), ('soon', None)])
def test_parse_duration(text, seconds):
    assert d.parse_duration(text) == seconds


def test_quota_wait():
    assert d.quota_wait({'x-ms-user-quota-remaining': '3', 'x-ms-user-quota-resets-after': '00:00:04'}) == 0
    assert d.quota_wait({'x-ms-user-quota-remaining': '0', 'x-ms-user-quota-resets-after': '00:00:04'}) == 4
    assert d.quota_wait({'x-ms-user-quota-remaining': '0', 'x-ms-user-quota-resets-after': '01:00:00'}) == d.MAX_WAIT
    assert d.quota_wait({}) == 0 and d.quota_wait(None) == 0


def test_throttle_wait_is_bounded():
    assert d.throttle_wait({'x-ms-user-quota-resets-after': '00:00:02', 'Retry-After': '9'}, 0) == 2
    assert d.throttle_wait({'Retry-After': '3'}, 0) == 3
    assert [d.throttle_wait({}, n) for n in range(4)] == [1, 2, 4, 8]
    assert d.throttle_wait({}, 10) == d.MAX_WAIT
    assert d.throttle_wait({'Retry-After': '86400'}, 0) == d.MAX_WAIT


# -- graph_rows with a fake client: paging, the quota, bounded retries -------------------------------------------------
class FakeError(Exception):
    def __init__(self, status, headers):
        super(FakeError, self).__init__('HTTP %d' % status)
        self.status_code = status
        self.response = type('R', (), {'headers': headers})()


class FakeClient:
    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []

    def resources(self, request, cls=None):
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        data, token, headers = answer
        result = type('Q', (), {'data': data, 'skip_token': token})()
        return cls(type('P', (), {'http_response': type('H', (), {'headers': headers})()})(), result, {})


@pytest.fixture
def fake(monkeypatch):
    from azure.core import exceptions
    monkeypatch.setattr(exceptions, 'HttpResponseError', FakeError)

    def install(answers):
        client = FakeClient(answers)
        monkeypatch.setattr(d, 'resource_graph_client', lambda factory: client)
        return client
    return install


def test_graph_rows_pages_and_waits_for_the_quota(fake):
    pytest.importorskip('azure.mgmt.resourcegraph')
    left = {'x-ms-user-quota-remaining': '5', 'x-ms-user-quota-resets-after': '00:00:03'}
    empty = {'x-ms-user-quota-remaining': '0', 'x-ms-user-quota-resets-after': '00:00:03'}
    client = fake([([{'id': 'a'}], 't1', empty), ([{'id': 'b'}], 't2', left), ([{'id': 'c'}], None, empty)])
    slept, stats = [], {}
    rows = d.graph_rows(None, 'resources', subscriptions=[SUB], sleep=slept.append, stats=stats)
    assert [r['id'] for r in rows] == ['a', 'b', 'c'] and slept == [3.0]
    assert [r.options.skip_token for r in client.requests] == [None, 't1', 't2']
    assert all(r.options.top == 1000 for r in client.requests)
    assert stats == {'requests': 3, 'pages': 3, 'retries': 0, 'waited': 3.0}


def test_graph_rows_retries_429_a_bounded_number_of_times(fake):
    pytest.importorskip('azure.mgmt.resourcegraph')
    throttled = FakeError(429, {'Retry-After': '2'})
    fake([throttled, throttled, ([{'id': 'a'}], None, {})])
    slept = []
    assert d.graph_rows(None, 'resources', sleep=slept.append) == [{'id': 'a'}]
    assert slept == [2.0, 2.0]
    fake([FakeError(429, {})] * (d.MAX_RETRIES + 1))
    slept = []
    with pytest.raises(FakeError):
        d.graph_rows(None, 'resources', sleep=slept.append)
    assert len(slept) == d.MAX_RETRIES and max(slept) <= d.MAX_WAIT
    fake([FakeError(400, {})])
    with pytest.raises(FakeError):
        d.graph_rows(None, 'resources', sleep=slept.append)


def test_discover_needs_a_scope():
    factory = type('F', (), {'subscription_id': None})()
    with pytest.raises(d.DiscoveryError, match='no scope'):
        d.discover(factory)
    factory.subscription_id = SUB
    with pytest.raises(d.DiscoveryError, match='management_groups needs Resource Graph'):
        d.discover(factory, management_groups=['mg'], use_resource_graph=False)
