# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.sovereign.cmk.plugins.module_utils import _identities
from ansible_collections.sovereign.cmk.plugins.module_utils._azure_module import AzureCMKModule
from ansible_collections.sovereign.cmk.plugins.module_utils._errors import CMKError
from ansible_collections.sovereign.cmk.plugins.module_utils import _journal, _report, _services
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import parse_key_uri, parse_resource_id
from ansible_collections.sovereign.cmk.plugins.module_utils import _chain
from ansible_collections.sovereign.cmk.plugins.module_utils._targets import adapters
from ansible_collections.sovereign.cmk.plugins.module_utils._targets.container_group import ContainerGroupAdapter
from ansible_collections.sovereign.cmk.plugins.module_utils._targets.sql_managed_instance import server_key_name

V1 = 'a' * 32
V2 = 'b' * 32
KEY = 'https://kv1.vault.azure.net/keys/k1'
HSM_KEY = 'https://hsm1.managedhsm.azure.net/keys/k1'
SUB = '/subscriptions/s/resourceGroups/rg/providers/'
UAI = SUB + 'Microsoft.ManagedIdentity/userAssignedIdentities/id1'
DES = SUB + 'Microsoft.Compute/diskEncryptionSets/des1'
NOW = datetime.datetime(2026, 1, 1, tzinfo=_chain.UTC)


def ctx(key=KEY, version=V1):
    parsed = parse_key_uri(key)
    return {'chain': {'parsed': parsed, 'key': {'version': version, 'versioned_key_id': '%s/%s' % (parsed['versionless_id'], version)}},
            'des': {'id': DES, 'name': 'des1', 'location': 'eastus', 'encryption_type': 'EncryptionAtRestWithCustomerKey'}}


def current(body, rid, **extra):
    result = {'resource': body, 'parsed': parse_resource_id(rid)}
    result.update(extra)
    return result


def links(findings):
    return sorted(f['link'] for f in findings)


# -- chain ------------------------------------------------------------------------------------------------
def test_check_key_links():
    rules = _services.rules('sql_managed_instance')
    key = {'key_id': KEY, 'enabled': False, 'expires': '2025-01-01T00:00:00Z', 'not_before': '2027-01-01T00:00:00Z',
           'key_type': 'RSA', 'key_size': 4096, 'key_operations': ['sign']}
    assert links(_chain.check_key(rules, key, NOW)) == ['key_disabled', 'key_expired', 'key_not_yet_valid', 'key_operations',
                                                        'key_size']
    assert links(_chain.check_key(rules, {'key_type': 'EC-HSM', 'key_operations': ['wrapKey', 'unwrapKey']}, NOW)) == ['key_type']
    good = {'enabled': True, 'key_type': 'RSA-HSM', 'key_size': 3072, 'key_operations': ['wrapKey', 'unwrapKey'],
            'expires': '2026-01-10T00:00:00Z'}
    found = _chain.check_key(rules, good, NOW)
    assert links(found) == ['key_expiring'] and found[0]['severity'] == _chain.WARNING


def test_check_vault_and_store():
    vault = {'kind': 'key_vault', 'name': 'kv1', 'soft_delete': True, 'purge_protection': False}
    found = _chain.check_vault(_services.rules('storage_account'), vault)
    assert links(found) == ['purge_protection'] and found[0]['severity'] == _chain.ERROR and found[0]['fix']
    assert _chain.check_vault(_services.rules('container_group'), vault)[0]['severity'] == _chain.WARNING
    assert links(_chain.check_store(_services.rules('container_group'), 'managed_hsm', HSM_KEY)) == ['key_store_unsupported']
    assert not _chain.check_store(_services.rules('aks'), 'managed_hsm', HSM_KEY)


def test_unreadable_same_tenant_key_is_drift_not_compliant():
    class Clients(object):
        def __init__(self, status):
            self.status = status

        def arm_request(self, *args):
            raise http_error(self.status, 'Forbidden')

    class Module(object):
        attempt = AzureCMKModule.attempt   # the wrapper's own error path

        def __init__(self, status):
            self.clients = Clients(status)

    info = {'id': SUB + 'Microsoft.KeyVault/vaults/kv1'}
    key, found = _chain.read_key(Module(403), info, parse_key_uri(KEY))
    assert key is None and found['link'] == 'key_unverified' and found['severity'] == _chain.DRIFT
    assert 'Key Vault Reader' in found['fix'] and not _chain.blocking([found])
    assert _chain.read_key(Module(404), info, parse_key_uri(KEY)) == (None, None)
    try:
        _chain.read_key(Module(500), info, parse_key_uri(KEY))
        raise AssertionError('no failure')
    except CMKError as exc:
        assert exc.result['error']['status'] == 500


def test_identity_finding_and_key_matches():
    problem = _chain.identity_finding('p1', 'id', {'sufficient': False, 'get': True}, KEY)
    assert problem['link'] == 'identity_access' and 'wrapKey' in problem['message'] and 'grant_access' in problem['fix']
    assert _chain.identity_finding('p1', 'id', {'sufficient': True}, KEY) is None
    assert _chain.key_matches('%s/%s' % (KEY, V2), '%s/%s' % (KEY, V1), auto_rotation=True)
    assert not _chain.key_matches('%s/%s' % (KEY, V2), '%s/%s' % (KEY, V1), auto_rotation=False)
    assert _chain.key_matches(('%s/%s' % (KEY, V1)).replace('kv1', 'KV1'), '%s/%s' % (KEY, V1), auto_rotation=False)
    assert not _chain.key_matches(KEY + '/' + V1, KEY.replace('k1', 'k2') + '/' + V1, auto_rotation=True)


def test_identity_with():
    assert _identities.identity_with({'type': 'UserAssigned', 'userAssignedIdentities': {UAI: {}}}, user_id=UAI.upper()) is None
    env = _identities.identity_with({'type': 'SystemAssigned'}, user_id=UAI, separator=',')
    assert env == {'type': 'SystemAssigned,UserAssigned', 'userAssignedIdentities': {UAI: {}}}


def test_registry_covers_every_target_service():
    assert sorted(adapters.ADAPTERS) == sorted(_services.TARGET_SERVICES)


# -- storage ------------------------------------------------------------------------------------------------
def storage_body(version='', identity=UAI, source='Microsoft.Keyvault', current_version=V1):
    return {'name': 'st1', 'identity': {'type': 'UserAssigned', 'userAssignedIdentities': {UAI: {}}},
            'properties': {'encryption': {'keySource': source, 'identity': {'userAssignedIdentity': identity},
                                          'keyvaultproperties': {'keyname': 'k1', 'keyvaulturi': 'https://kv1.vault.azure.net:443/',
                                                                 'keyversion': version,
                                                                 'currentVersionedKeyIdentifier': '%s/%s' % (KEY, current_version)}}}}


def test_storage_versionless_follows_latest_no_drift():
    adapter = adapters.get('storage_account')
    rid = SUB + 'Microsoft.Storage/storageAccounts/st1'
    planned = adapter.plan(current(storage_body(current_version=V2), rid), {'identity': UAI}, ctx())
    assert planned['changes'] == []


def test_storage_from_microsoft_keys():
    adapter = adapters.get('storage_account')
    rid = SUB + 'Microsoft.Storage/storageAccounts/st1'
    body = {'name': 'st1', 'identity': {'type': 'SystemAssigned', 'principalId': 'p'},
            'properties': {'encryption': {'keySource': 'Microsoft.Storage'}}}
    planned = adapter.plan(current(body, rid), {'identity': UAI}, ctx())
    assert 'key_source' in planned['changes'] and 'identity' in planned['changes']
    assert planned['identity_env']['type'] == 'SystemAssigned,UserAssigned'
    assert planned['after']['key_version'] is None
    pinned = adapter.plan(current(body, rid), {'identity': 'SystemAssigned', 'auto_key_rotation': False}, ctx())
    assert pinned['after']['key_version'] == V1 and not pinned['findings']
    assert adapter.validate({'key': KEY + '/' + V1, 'auto_key_rotation': True}, _services.rules('storage_account'))


def test_storage_system_identity_must_exist():
    adapter = adapters.get('storage_account')
    rid = SUB + 'Microsoft.Storage/storageAccounts/st1'
    body = {'name': 'st1', 'properties': {}}
    assert links(adapter.plan(current(body, rid), {'identity': 'SystemAssigned'}, ctx())['findings']) == ['identity_missing']


def test_storage_switch_to_system_identity_and_clear_federated_id_are_sent():
    adapter = adapters.get('storage_account')
    rid = SUB + 'Microsoft.Storage/storageAccounts/st1'
    body = storage_body()
    body['identity'] = {'type': 'SystemAssigned,UserAssigned', 'principalId': 'p', 'userAssignedIdentities': {UAI: {}}}
    body['properties']['encryption']['identity']['federatedIdentityClientId'] = 'ABC-1'
    cur = current(body, rid)
    planned = adapter.plan(cur, {'identity': 'SystemAssigned', 'federated_client_id': 'None'}, ctx())
    assert planned['changes'] == ['identity', 'federated_client_id']
    azmod = FakeModule()
    adapter.apply(azmod, rid, cur, planned, {})
    assert azmod.bodies[0]['properties']['encryption']['identity'] == {'userAssignedIdentity': '', 'federatedIdentityClientId': ''}
    # the same id in another case is no change
    assert adapter.plan(cur, {'identity': UAI, 'federated_client_id': 'abc-1'}, ctx())['changes'] == []
    # once applied, the system-assigned account without a federated id is compliant
    done = storage_body(identity=None)
    done['identity'] = body['identity']
    done['properties']['encryption'].pop('identity')
    assert adapter.plan(current(done, rid), {'identity': 'SystemAssigned', 'federated_client_id': 'none'}, ctx())['changes'] == []


def test_federated_option_helpers():
    assert _identities.federated_option(None) is None
    assert _identities.federated_option('None') == '' and _identities.federated_option('NONE') == '' and _identities.federated_option('') == ''
    assert _identities.is_federated('abc') and not _identities.is_federated('none') and not _identities.is_federated(None)
    assert _identities.same_client_id('ABC', 'abc') and _identities.same_client_id(None, 'None') and not _identities.same_client_id('a', None)


# -- disks and VMs ---------------------------------------------------------------------------------------------
def test_managed_disk_running_vm_needs_deallocate():
    adapter = adapters.get('managed_disk')
    rid = SUB + 'Microsoft.Compute/disks/d1'
    vm = SUB + 'Microsoft.Compute/virtualMachines/vm1'
    body = {'name': 'd1', 'location': 'eastus', 'managedBy': vm, 'properties': {'encryption': {'type': 'EncryptionAtRestWithPlatformKey'}}}
    planned = adapter.plan(current(body, rid, vm_id=vm, power_state='running'), {}, ctx())
    assert links(planned['findings']) == ['vm_running']
    planned = adapter.plan(current(body, rid, vm_id=vm, power_state='running'), {'allow_deallocate': True}, ctx())
    assert planned['deallocate'] and not planned['findings']
    done = dict(body, properties={'encryption': {'type': 'EncryptionAtRestWithCustomerKey', 'diskEncryptionSetId': DES.upper()}})
    assert adapter.plan(current(done, rid, vm_id=vm, power_state='running'), {}, ctx())['changes'] == []


def test_confidential_des_is_refused_for_disks_and_vms():
    confidential = dict(ctx(), des=dict(ctx()['des'], encryption_type='ConfidentialVmEncryptedWithCustomerKey'))
    rid = SUB + 'Microsoft.Compute/disks/d1'
    body = {'name': 'd1', 'location': 'eastus', 'properties': {'encryption': {'type': 'EncryptionAtRestWithPlatformKey'}}}
    found = adapters.get('managed_disk').plan(current(body, rid), {}, confidential)['findings']
    assert links(found) == ['des_encryption_type'] and _chain.blocking(found) and 'securityProfile' in found[0]['message']
    _rid, cur = vm_with_two_disks()
    assert 'des_encryption_type' in links(adapters.get('virtual_machine').plan(cur, {'allow_deallocate': True}, confidential)['findings'])
    platform_and_customer = dict(ctx(), des=dict(ctx()['des'], encryption_type='EncryptionAtRestWithPlatformAndCustomerKeys'))
    planned = adapters.get('managed_disk').plan(current(body, rid), {}, platform_and_customer)
    assert planned['disk_type'] == 'EncryptionAtRestWithPlatformAndCustomerKeys' and not planned['findings']


def test_managed_disk_region_and_ade():
    adapter = adapters.get('managed_disk')
    rid = SUB + 'Microsoft.Compute/disks/d1'
    body = {'name': 'd1', 'location': 'westus', 'properties': {'encryptionSettingsCollection': {'enabled': True}}}
    assert links(adapter.plan(current(body, rid), {}, ctx())['findings']) == ['azure_disk_encryption', 'region']


def test_virtual_machine_plan():
    adapter = adapters.get('virtual_machine')
    rid = SUB + 'Microsoft.Compute/virtualMachines/vm1'
    disk = {'name': 'os1', 'location': 'eastus', 'properties': {'encryption': {'type': 'EncryptionAtRestWithPlatformKey'}}}
    cur = current({'name': 'vm1', 'properties': {}}, rid, disks=[{'label': 'os', 'id': SUB + 'Microsoft.Compute/disks/os1', 'body': disk}],
                  power_state='deallocated')
    planned = adapter.plan(cur, {'encryption_at_host': True}, ctx())
    assert planned['changes'] == ['disk_encryption_set:os1', 'encryption_at_host'] and not planned['deallocate']


def vm_with_two_disks():
    rid = SUB + 'Microsoft.Compute/virtualMachines/vm1'
    disks = [{'label': label, 'id': SUB + 'Microsoft.Compute/disks/' + name,
              'body': {'name': name, 'location': 'eastus', 'properties': {'encryption': {'type': 'EncryptionAtRestWithPlatformKey'}}}}
             for label, name in (('os', 'os1'), ('lun0', 'd1'))]
    return rid, current({'name': 'vm1', 'properties': {}}, rid, disks=disks, power_state='running')


def test_virtual_machine_failure_after_deallocate_restarts_and_reports():
    adapter = adapters.get('virtual_machine')
    rid, cur = vm_with_two_disks()
    planned = adapter.plan(cur, {'allow_deallocate': True}, ctx())
    assert planned['deallocate']
    azmod = FakeModule({'begin_update': [None, http_error(400, 'BadRequest')]})
    try:
        adapter.apply(azmod, rid, cur, planned, {})
        raise AssertionError('apply did not fail')
    except Failed as exc:
        assert exc.result['changed'] is True and exc.result['vm_restarted'] is True
        assert exc.result['changed_items'] == ['disk os1'] and 'BadRequest' in exc.msg and 'd1' in exc.msg
        assert 'VM vm1 runs again' in exc.msg and exc.result['error']['status'] == 400
    assert [c[0] for c in azmod.calls] == ['begin_deallocate', 'begin_update', 'begin_update', 'begin_start']
    # the restart itself fails: still reported, changed
    azmod = FakeModule({'begin_start': [http_error(409, 'Conflict')]})
    try:
        adapter.apply(azmod, rid, cur, planned, {})
        raise AssertionError('apply did not fail')
    except Failed as exc:
        assert exc.result['changed'] is True and exc.result['vm_restarted'] is False
        assert exc.result['changed_items'] == ['disk os1', 'disk d1'] and 'could not be started again' in exc.msg
    azmod = FakeModule()
    adapter.apply(azmod, rid, cur, planned, {})
    assert [c[0] for c in azmod.calls] == ['begin_deallocate', 'begin_update', 'begin_update', 'begin_start']


def test_managed_disk_failure_after_deallocate_restarts():
    adapter = adapters.get('managed_disk')
    rid = SUB + 'Microsoft.Compute/disks/d1'
    vm = SUB + 'Microsoft.Compute/virtualMachines/vm1'
    body = {'name': 'd1', 'location': 'eastus', 'managedBy': vm, 'properties': {'encryption': {'type': 'EncryptionAtRestWithPlatformKey'}}}
    cur = current(body, rid, vm_id=vm, power_state='running')
    planned = adapter.plan(cur, {'allow_deallocate': True}, ctx())
    azmod = FakeModule({'begin_update': [http_error(400, 'BadRequest')]})
    try:
        adapter.apply(azmod, rid, cur, planned, {})
        raise AssertionError('apply did not fail')
    except Failed as exc:
        assert exc.result['changed'] is True and exc.result['vm_restarted'] is True and exc.result['changed_items'] == []
    assert [c[0] for c in azmod.calls] == ['begin_deallocate', 'begin_update', 'begin_start']


# -- AKS -------------------------------------------------------------------------------------------------------
def test_aks_create_time_only_and_every_pool():
    adapter = adapters.get('aks')
    rid = SUB + 'Microsoft.ContainerService/managedClusters/aks1'
    pools = [{'name': 'sys', 'enableEncryptionAtHost': True}, {'name': 'user1'}]
    body = {'name': 'aks1', 'properties': {'agentPoolProfiles': pools}}
    planned = adapter.plan(current(body, rid), {'encryption_at_host': True}, ctx())
    assert len(planned['recreate']) == 2 and planned['changes'] == []
    assert 'user1' in planned['recreate'][1] and 'diskEncryptionSetID' in planned['recreate'][0]
    planned = adapter.plan(current(body, rid), {'node_pool': {'name': 'secure', 'vm_size': 'Standard_D4s_v5'}}, ctx())
    assert planned['changes'] == ['node_pool:secure'] and planned['after']['encryption_at_host']['secure']


# -- ACI -------------------------------------------------------------------------------------------------------
def aci_body(env=None, **props):
    container = {'name': 'web', 'properties': {'image': 'nginx', 'resources': {'requests': {'cpu': 1, 'memoryInGB': 1.5}},
                                               'environmentVariables': env or [{'name': 'MODE', 'value': 'x'}]}}
    properties = {'osType': 'Linux', 'containers': [container]}
    properties.update(props)
    return {'name': 'cg1', 'location': 'eastus', 'properties': properties}


class FakeClients(object):
    """The one Resource Manager call (``arm_request``), recording what is sent; errors queued per operation."""

    OPS = {'PUT': 'begin_create_or_update', 'PATCH': 'begin_update', 'DELETE': 'begin_delete'}

    def __init__(self, module):
        self.module = module

    def arm_request(self, method, path, api_version, body=None, headers=None):
        module = self.module
        if method == 'GET':
            module.calls.append(('get', path))
            queue = module.gets.get(path) or [None]
            return queue.pop(0) if len(queue) > 1 else queue[0]
        if method == 'POST':
            op = 'begin_' + path.rsplit('/', 1)[1]
        else:
            op = self.OPS[method]
        module.calls.append((op, path))
        if body is not None:
            module.bodies.append(body)
        queue = module.errors.get(op) or []
        error = queue.pop(0) if queue else None
        if error:
            raise error
        return None


class FakeModule(object):
    """Just enough of AzureCMKModule for the adapters' apply(): records the writes, the wrapper's error path."""

    check_mode = False

    def __init__(self, errors=None):
        self.calls = []
        self.bodies = []
        self.errors = dict(errors or {})   # operation name -> list of exceptions (None = success), consumed in order
        self.gets = {}                      # path -> bodies a GET returns, in order (the last one repeats)
        self.clients = FakeClients(self)
        self.warnings = []

    def warn(self, msg):
        self.warnings.append(msg)

    # the wrapper's own error path (CMKError), over the fake client
    attempt = AzureCMKModule.attempt
    run = AzureCMKModule.run
    get_or_none = AzureCMKModule.get_or_none
    fail = AzureCMKModule.fail


Failed = CMKError   # what the wrapper raises; ``result`` holds the failure's fields


def http_error(status=400, code='InvalidContainerGroup'):
    from azure.core.exceptions import HttpResponseError  # pylint: disable=import-outside-toplevel
    exc = HttpResponseError(message='%s: bad group' % code)
    exc.status_code = status
    return exc


def test_container_group_versionless_key_never_recreates_on_rotation():
    adapter = ContainerGroupAdapter()
    rid = SUB + 'Microsoft.ContainerInstance/containerGroups/cg1'
    done = dict(aci_body(), identity={'type': 'UserAssigned', 'userAssignedIdentities': {UAI: {}}})
    done['properties'] = dict(done['properties'], encryptionProperties={
        'vaultBaseUrl': 'https://kv1.vault.azure.net/', 'keyName': 'k1', 'keyVersion': V1, 'identity': UAI})
    rotated = ctx(version=V2)    # the key was rotated: its current version is V2, the group still uses V1
    for allow in (False, True):
        planned = adapter.plan(current(done, rid), {'key': KEY, 'identity': UAI, 'allow_recreate': allow}, rotated)
        assert not planned['changes'] and not planned['recreate'] and planned['after']['key_version'] == V1
        assert links(planned['findings']) == ['key_version'] and planned['findings'][0]['severity'] == _chain.WARNING
    # the versioned URI of the new version asks for the redeploy
    planned = adapter.plan(current(done, rid), {'key': KEY + '/' + V2, 'identity': UAI}, ctx(key=KEY + '/' + V2, version=V2))
    assert planned['recreate'] and not planned['findings']
    # a group without the key gets the current version
    planned = adapter.plan(current(aci_body(), rid), {'key': KEY, 'identity': UAI, 'allow_recreate': True}, rotated)
    assert planned['changes'] == ['recreated'] and planned['encryption']['keyVersion'] == V2


def test_container_group_recreate_refused_with_secrets():
    adapter = ContainerGroupAdapter()
    rid = SUB + 'Microsoft.ContainerInstance/containerGroups/cg1'
    params = {'key': KEY + '/' + V1, 'identity': UAI, 'allow_recreate': True}
    for body in (aci_body(env=[{'name': 'DBPASS', 'secureValue': None}]), aci_body(env=[{'name': 'DBPASS'}]),
                 aci_body(imageRegistryCredentials=[{'server': 'r.azurecr.io', 'username': 'u', 'password': None}])):
        planned = adapter.plan(current(body, rid), params, ctx())
        assert not planned['changes'] and links(planned['findings']) == ['recreate_secrets']
        assert _chain.blocking(planned['findings']) and 'allow_recreate is refused' in planned['findings'][0]['fix']
    ok = aci_body(imageRegistryCredentials=[{'server': 'r.azurecr.io', 'identity': UAI}])
    assert adapter.plan(current(ok, rid), params, ctx())['changes'] == ['recreated']
    broken = dict(aci_body(), location=None)
    assert links(adapter.plan(current(broken, rid), params, ctx())['findings']) == ['recreate_body']


def test_container_group_failed_recreate_restores_and_reports_changed(tmp_path):
    adapter = ContainerGroupAdapter()
    rid = SUB + 'Microsoft.ContainerInstance/containerGroups/cg1'
    params = {'key': KEY + '/' + V1, 'identity': UAI, 'allow_recreate': True}
    cur = current(aci_body(), rid)
    planned = adapter.plan(cur, params, ctx())
    planned['journal'] = journal = _journal.Journal(str(tmp_path))
    for restore_error, word in ((None, 'succeeded'), (http_error(500, 'InternalServerError'), 'failed')):
        azmod = FakeModule({'begin_create_or_update': [http_error(), restore_error]})
        azmod.gets[rid] = [aci_body()]
        failure = None
        try:
            adapter.apply(azmod, rid, cur, planned, params)
        except Failed as exc:
            failure = exc
        assert failure is not None, 'apply did not fail'
        assert failure.result['changed'] is True and failure.result['deleted'] is True
        assert 'was deleted' in failure.msg and 'InvalidContainerGroup' in failure.msg and 'attempted: %s' % word in failure.msg
        assert failure.result['restored'] is (restore_error is None)
        assert [c[0] for c in azmod.calls] == ['get', 'begin_delete', 'begin_create_or_update', 'begin_create_or_update']
        # restored: the entry is gone; not restored: the entry keeps the definition for the next run
        entry = journal.read(rid)
        assert (entry is None) is (restore_error is None)
        if entry is not None:
            assert entry['kind'] == 'recreate' and entry['body']['properties']['encryptionProperties']['keyVersion'] == V1
            assert failure.result['journal'] == journal.path(rid)
            journal.remove(rid)
    # success: re-read, journal written before the DELETE, new group confirmed, entry removed
    done = aci_body()
    done['properties']['encryptionProperties'] = planned['encryption']
    azmod = FakeModule()
    azmod.gets[rid] = [aci_body(), done]
    adapter.apply(azmod, rid, cur, planned, params)
    assert [c[0] for c in azmod.calls] == ['get', 'begin_delete', 'begin_create_or_update', 'get']
    assert journal.read(rid) is None and not planned.get('already_done')
    # a second run that finds the group already recreated deletes nothing
    azmod = FakeModule()
    azmod.gets[rid] = [done]
    adapter.apply(azmod, rid, cur, planned, params)
    assert [c[0] for c in azmod.calls] == ['get'] and planned['already_done']


def test_container_group_rules():
    adapter = ContainerGroupAdapter()
    rules = _services.rules('container_group')
    errors = adapter.validate({'key': HSM_KEY, 'identity': UAI}, rules)
    assert any('does not support Managed HSM' in e for e in errors)
    assert adapter.validate({'key': KEY}, rules)
    assert adapter.validate({'key': KEY, 'identity': 'SystemAssigned'}, rules)
    rid = SUB + 'Microsoft.ContainerInstance/containerGroups/cg1'
    body = aci_body()
    # the rules table is the source of truth: 'pinned' (ACI) takes a versionless key, 'required' rejects it
    assert rules['versioned_key'] == 'pinned' and not adapter.validate({'key': KEY, 'identity': UAI}, rules)
    required = adapter.validate({'key': KEY, 'identity': UAI}, dict(rules, versioned_key='required'))
    assert any('has no version' in e and 'encryptionProperties' in e for e in required)
    assert not adapter.validate({'key': KEY + '/' + V1, 'identity': UAI, 'allow_recreate': True}, dict(rules, versioned_key='required'))
    creation = adapter.validate({'key': KEY + '/' + V1, 'identity': UAI, 'allow_recreate': True},
                                dict(rules, identity_at_creation=(_services.SYSTEM_ASSIGNED,)))
    assert any('at deployment' in e for e in creation)
    planned = adapter.plan(current(body, rid), {'key': KEY, 'identity': UAI}, ctx())
    assert planned['recreate'] and not planned['changes']
    planned = adapter.plan(current(body, rid), {'key': KEY, 'identity': UAI, 'allow_recreate': True}, ctx())
    assert planned['changes'] == ['recreated'] and planned['encryption']['keyVersion'] == V1
    done = dict(body, identity={'type': 'UserAssigned', 'userAssignedIdentities': {UAI: {}}},
                properties={'encryptionProperties': {'vaultBaseUrl': 'https://kv1.vault.azure.net', 'keyName': 'k1',
                                                     'keyVersion': V1, 'identity': UAI}})
    planned = adapter.plan(current(done, rid), {'key': KEY + '/' + V1, 'identity': UAI}, ctx())
    assert not planned['recreate'] and not planned['changes']


# -- SQL MI ----------------------------------------------------------------------------------------------------
def test_sql_managed_instance_plan():
    adapter = adapters.get('sql_managed_instance')
    rules = adapter.rules({'sql_identity_mode': None})
    assert adapter.validate({'key': KEY, 'identity': 'SystemAssigned'}, rules)
    assert not adapter.validate({'key': KEY, 'identity': 'SystemAssigned', 'sql_identity_mode': 'microsoft'},
                                adapter.rules({'sql_identity_mode': 'microsoft'}))
    assert server_key_name(parse_key_uri(KEY + '/' + V1)) == 'kv1_k1_' + V1
    rid = SUB + 'Microsoft.Sql/managedInstances/mi1'
    body = {'name': 'mi1', 'identity': {'type': 'None'}, 'properties': {}}
    planned = adapter.plan(current(body, rid, protector=None), {'key': KEY, 'identity': UAI, 'auto_rotation': True}, ctx())
    assert planned['changes'] == ['identity', 'tde_protector'] and planned['after']['server_key_name'] == 'kv1_k1_' + V1
    done = dict(body, identity={'type': 'UserAssigned', 'userAssignedIdentities': {UAI: {}}},
                properties={'primaryUserAssignedIdentityId': UAI})
    protector = {'properties': {'serverKeyType': 'AzureKeyVault', 'serverKeyName': 'kv1_k1_' + V2, 'uri': KEY + '/' + V2,
                                'autoRotationEnabled': True}}
    planned = adapter.plan(current(done, rid, protector=protector), {'key': KEY, 'identity': UAI, 'auto_rotation': True}, ctx())
    assert planned['changes'] == []


# -- found running the targets end to end (issue 4) ------------------------------------------------------------
def test_aks_new_pool_copies_network_and_version_from_an_existing_pool():
    adapter = adapters.get('aks')
    rid = SUB + 'Microsoft.ContainerService/managedClusters/aks1'
    subnet = SUB + 'Microsoft.Network/virtualNetworks/vnet1/subnets/nodes'
    pools = [{'name': 'sys', 'mode': 'System', 'vmSize': 'Standard_D2s_v5', 'osDiskType': 'Ephemeral'},
             {'name': 'user1', 'mode': 'User', 'vmSize': 'Standard_D8s_v5', 'vnetSubnetID': subnet,
              'orchestratorVersion': '1.30.4', 'osDiskType': 'Ephemeral', 'osType': 'Linux'}]
    body = {'name': 'aks1', 'properties': {'agentPoolProfiles': pools}}
    planned = adapter.plan(current(body, rid), {'node_pool': {'name': 'secure', 'vm_size': None, 'count': 2, 'mode': 'User'}}, ctx())
    assert planned['changes'] == ['node_pool:secure']
    assert planned['new_pool'] == {'enableEncryptionAtHost': True, 'count': 2, 'mode': 'User', 'vmSize': 'Standard_D8s_v5',
                                   'vnetSubnetID': subnet, 'orchestratorVersion': '1.30.4', 'osDiskType': 'Ephemeral',
                                   'osType': 'Linux'}
    azmod = FakeModule()
    adapter.apply(azmod, rid, current(body, rid), planned, {})
    assert azmod.calls == [('begin_create_or_update', rid + '/agentPools/secure')]
    assert azmod.bodies == [{'properties': planned['new_pool']}]
    empty = {'name': 'aks1', 'properties': {'agentPoolProfiles': []}}
    planned = adapter.plan(current(empty, rid), {'node_pool': {'name': 'secure', 'vm_size': None}}, ctx())
    assert not planned['changes'] and links(planned['findings']) == ['node_pool']


def test_aks_node_pool_that_exists_without_host_encryption_requires_recreate():
    adapter = adapters.get('aks')
    rid = SUB + 'Microsoft.ContainerService/managedClusters/aks1'
    pools = [{'name': 'sys', 'enableEncryptionAtHost': True}, {'name': 'user1'}]
    body = {'name': 'aks1', 'properties': {'agentPoolProfiles': pools, 'diskEncryptionSetID': DES}}
    pool = {'name': 'user1', 'vm_size': 'Standard_D4s_v5'}
    planned = adapter.plan(current(body, rid), {'node_pool': pool}, ctx())
    assert planned['changes'] == [] and planned['new_pool'] is None
    assert len(planned['recreate']) == 1 and 'node pool user1' in planned['recreate'][0]
    # reported once when encryption_at_host also asks for every pool
    planned = adapter.plan(current(body, rid), {'node_pool': pool, 'encryption_at_host': True}, ctx())
    assert len(planned['recreate']) == 1
    # an existing pool with host encryption is fine
    planned = adapter.plan(current(body, rid), {'node_pool': dict(pool, name='sys')}, ctx())
    assert planned['recreate'] == [] and planned['changes'] == []


def test_aks_node_pool_name_is_validated_before_any_call():
    adapter = adapters.get('aks')
    rules = adapter.rules({})
    assert adapter.validate({'node_pool': {'name': 'hostenc', 'vm_size': 'x', 'count': 1}}, rules) == []
    assert 'not a valid agent pool name' in adapter.validate({'node_pool': {'name': 'Host-Enc', 'vm_size': 'x'}}, rules)[0]
    assert adapter.validate({'node_pool': {'name': 'hostenc', 'vm_size': 'x', 'count': 0}}, rules)


def test_identity_link_is_checked_even_when_the_adapter_blocks(monkeypatch):
    """A running VM (vm_running) no longer hides a DES identity without access: both links are reported in one run."""
    from ansible_collections.sovereign.cmk.plugins.module_utils import _workflow

    class Adapter(object):
        def plan(self, current, params, ctx):
            return {'findings': [_chain.finding('vm_running', 'VM vm1 runs')], 'changes': ['x'], 'recreate': [],
                    'before': {}, 'after': {}}

        def principals(self, azmod, current, planned, ctx):
            return [{'principal_id': 'p1', 'what': 'disk encryption set des1'}]

    monkeypatch.setattr(_chain._access, 'effective_access',
                        lambda azmod, key_id, principal_id, info=None: {'sufficient': False, 'get': True})
    chain = {'parsed': parse_key_uri(KEY + '/' + V1), 'vault': {'id': 'v'}, 'key': {}, 'findings': []}
    findings = []
    _workflow.plan_and_verify(None, Adapter(), {'grant_access': False}, {}, {'chain': chain, 'des': None}, findings)
    assert links(findings) == ['identity_access', 'vm_running']
    assert [f['severity'] for f in findings] == [_chain.ERROR, _chain.ERROR]
    # with grant_access the missing access is still reported (the chain as it is now), as a drift the run fixes
    findings = []
    chain = dict(chain, findings=[])
    _workflow.plan_and_verify(None, Adapter(), {'grant_access': True}, {}, {'chain': chain, 'des': None}, findings)
    assert links(findings) == ['identity_access', 'vm_running']
    assert dict((f['code'], f['severity']) for f in findings)['identity_access'] == _chain.DRIFT
    assert [g['principal_id'] for g in chain['grants']] == ['p1']
    assert not _report.chain_healthy(findings)
    # a broken key (nothing to verify access to) still skips the identity link
    findings = [_chain.finding('key_not_found', 'no key')]
    _workflow.plan_and_verify(None, Adapter(), {'grant_access': False}, {},
                              {'chain': dict(chain, findings=[], grants=[]), 'des': None}, findings)
    assert links(findings) == ['key_not_found', 'vm_running']


def test_plan_deallocation_needs_changes_a_running_vm_and_permission():
    from ansible_collections.sovereign.cmk.plugins.module_utils._targets import managed_disk
    vm = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1'
    for changes, power in (([], 'running'), (['disk_encryption_set'], 'deallocated'), (['disk_encryption_set'], None)):
        findings = []
        assert managed_disk.plan_deallocation('Disk d1', vm, power, False, list(changes), findings) is False
        assert findings == []
    findings, changes = [], ['disk_encryption_set']
    assert managed_disk.plan_deallocation('Disk d1', vm, 'running', False, changes, findings) is False
    assert [f['link'] for f in findings] == ['vm_running'] and changes == ['disk_encryption_set']
    findings, changes = [], ['disk_encryption_set']
    assert managed_disk.plan_deallocation('Disk d1', vm, 'running', True, changes, findings) is True
    assert findings == [] and changes == ['disk_encryption_set', 'vm_deallocated_and_restarted']


def test_deallocation_failure_is_one_truthful_sentence():
    from ansible_collections.sovereign.cmk.plugins.module_utils._targets import managed_disk
    failed = CMKError('x', error={'code': 'Conflict', 'message': 'busy', 'request_id': 'r1'})
    start_failed = CMKError('y', error={'code': 'InternalServerError', 'message': 'boom'})
    text = managed_disk.deallocation_failure('vm1', 'deallocating VM vm1', failed, [], True, True, None, None)
    assert text == 'Failed deallocating VM vm1 (Conflict): busy (request id r1); changed before that: nothing; VM vm1 runs again.'
    text = managed_disk.deallocation_failure('vm1', 'setting the disk encryption set of disk d1', failed, ['disk os1'],
                                             True, True, start_failed, '/j/x.json')
    assert text.count('.') >= 1 and 'could not be started again (InternalServerError): the next run starts it' in text
    assert 'changed before that: disk os1' in text
    text = managed_disk.deallocation_failure('vm1', 'deallocating VM vm1', failed, [], True, False, None, None)
    assert 'was not running before and is left deallocated' in text


def test_storage_queues_and_tables_on_service_keys_require_recreate():
    from ansible_collections.sovereign.cmk.plugins.module_utils._targets import storage_account
    whole = {'services': {'queue': {'keyType': 'Account'}, 'table': {'keyType': 'Account'}}}
    assert storage_account.whole_account_reasons('st1', storage_account.settings({'properties': {'encryption': whole}})) == []
    partial = {'services': {'queue': {'keyType': 'Account'}}}
    reasons = storage_account.whole_account_reasons('st1', storage_account.settings({'properties': {'encryption': partial}}))
    assert len(reasons) == 1 and 'its tables use Microsoft-managed keys' in reasons[0]
    reasons = storage_account.whole_account_reasons('st1', storage_account.settings({'properties': {}}))
    assert 'its queues and tables use Microsoft-managed keys' in reasons[0] and 'set only when the account is created' in reasons[0]


def test_network_rules_decide_whether_the_service_reaches_the_key():
    def vault(**network):
        base = {'public_network_access': 'Enabled', 'default_action': 'Allow', 'bypass': 'AzureServices', 'ip_rules': 0,
                'virtual_network_rules': 0, 'private_endpoints': 0}
        base.update(network)
        return {'name': 'kv1', 'kind': 'key_vault', 'network': base}
    storage, aci = _services.rules('storage_account'), _services.rules('container_group')
    assert _chain.check_network(storage, vault()) == [] and _chain.check_network(aci, vault()) == []
    # firewall on, trusted services may bypass: Storage (trusted) reaches it, ACI (not trusted) does not
    assert _chain.check_network(storage, vault(default_action='Deny')) == []
    found = _chain.check_network(aci, vault(default_action='Deny'))
    assert links(found) == ['key_unreachable'] and found[0]['severity'] == _chain.ERROR
    assert 'not a trusted Microsoft service' in found[0]['message']
    # no bypass: even a trusted service is blocked, and the fix says how to allow it
    found = _chain.check_network(storage, vault(default_action='Deny', bypass='None'))
    assert found[0]['severity'] == _chain.ERROR and '--bypass AzureServices' in found[0]['fix']
    # private endpoints only, no bypass
    found = _chain.check_network(storage, vault(public_network_access='Disabled', bypass='None', private_endpoints=1))
    assert 'public network access is disabled' in found[0]['message']
    # IP / VNet rules may let the service in: not verifiable, a warning
    found = _chain.check_network(aci, vault(default_action='Deny', ip_rules=2))
    assert found[0]['severity'] == _chain.WARNING and 'not verified' in found[0]['message']


def test_create_identity_needs_grant_access_and_applies_only_where_it_can():
    from ansible_collections.sovereign.cmk.plugins.module_utils import _workflow
    adapter = adapters.get('storage_account')
    rules = adapter.rules({})
    params = {'key': KEY, 'identity': UAI, 'create_identity': True, 'grant_access': False}
    assert any('create_identity=true needs grant_access=true' in e
               for e in _workflow.validate(adapter, params, rules, adapters.ALL_OPTIONS))
    disk = adapters.get('managed_disk')
    errors = _workflow.validate(disk, {'disk_encryption_set': SUB + 'Microsoft.Compute/diskEncryptionSets/des1',
                                       'create_identity': True, 'grant_access': True}, disk.rules({}), adapters.ALL_OPTIONS)
    assert 'create_identity does not apply to service=managed_disk' in errors


def test_attempt_bounds_a_long_running_operation_by_the_timeout():
    """A poller that never finishes ends at the timeout option with OperationTimeout (never an unbounded wait)."""
    class Hung(object):
        def __init__(self):
            self.waited = []

        def wait(self, timeout=None):
            self.waited.append(timeout)

        def done(self):
            return False

        def status(self):
            return 'InProgress'

        def result(self, timeout=None):
            raise AssertionError('result() of an unfinished poller must not be called')

    class Module(object):
        params = {'timeout': 7}
        attempt = AzureCMKModule.attempt
        wait = AzureCMKModule.wait
        run = AzureCMKModule.run

    poller = Hung()
    result, error = Module().attempt('deleting key k1', lambda: poller)
    assert result is None and error.result['error']['code'] == 'OperationTimeout'
    assert poller.waited == [7] and 'within 7 seconds' in error.msg and 'InProgress' in error.msg
