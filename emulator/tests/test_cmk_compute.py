"""Microsoft.Compute disk encryption sets, disks and virtual machines with customer-managed keys."""
from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from cmk_helpers import LOCATION, grant, rotate_key, seed_key, seed_uai, seed_vault
from conftest import RG, requests_log


def des_body(key_url: str, identity: dict, **properties):
    return {"location": LOCATION, "identity": identity,
            "properties": {"activeKey": {"keyUrl": key_url}, **properties}}


def user_identity(env) -> dict:
    return {"type": "UserAssigned", "userAssignedIdentities": {env.uai_id: {}}}


def create_des(compute, env, name: str = "des1", **properties):
    properties.setdefault("encryptionType", "EncryptionAtRestWithCustomerKey")
    body = des_body(env.key_url, user_identity(env), **properties)
    return compute.disk_encryption_sets.begin_create_or_update(RG, name, body).result()


def test_des_create_read_update(emu, cmk_env, compute):
    des = create_des(compute, cmk_env, rotation_to_latest_key_version_enabled=False)
    assert des.provisioning_state == "Succeeded"
    assert des.active_key.key_url == cmk_env.key_url
    assert des.active_key.source_vault.id == cmk_env.vault["id"]
    assert des.identity.type == "UserAssigned"
    assert des.identity.user_assigned_identities[cmk_env.uai_id].principal_id == cmk_env.uai_principal
    assert des.previous_keys == []
    first = [e for e in requests_log(emu, method="PUT") if "diskEncryptionSets" in e["path"]]
    assert [e["status"] for e in first] == [202]
    fetched = compute.disk_encryption_sets.get(RG, "des1")
    assert fetched.encryption_type == "EncryptionAtRestWithCustomerKey"
    updated = compute.disk_encryption_sets.begin_update(RG, "des1", {"tags": {"env": "t"}}).result()
    assert updated.tags == {"env": "t"} and updated.active_key.key_url == cmk_env.key_url
    assert [d.name for d in compute.disk_encryption_sets.list_by_resource_group(RG)] == ["des1"]
    assert [d.name for d in compute.disk_encryption_sets.list()] == ["des1"]
    compute.disk_encryption_sets.begin_delete(RG, "des1").result()
    assert list(compute.disk_encryption_sets.list_by_resource_group(RG)) == []


def test_des_system_assigned_identity_is_a_principal(emu, cmk_env, compute):
    body = des_body(cmk_env.key_url, {"type": "SystemAssigned"})
    des = compute.disk_encryption_sets.begin_create_or_update(RG, "des1", body).result()
    assert des.identity.principal_id and des.identity.tenant_id
    principal = emu.state.principal(des.identity.principal_id)
    assert principal is not None and principal.resource_id == des.id
    # the new system identity has no access yet: any later change checks it
    with pytest.raises(HttpResponseError) as error:
        compute.disk_encryption_sets.begin_update(RG, "des1", {"tags": {"a": "b"}}).result()
    assert error.value.error.code == "KeyVaultAccessForbidden"
    assert "disk encryption set 'des1'" in error.value.message
    grant(emu, des.identity.principal_id, cmk_env.vault["id"])
    both = compute.disk_encryption_sets.begin_update(RG, "des1", {"identity": {
        "type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {cmk_env.uai_id: {}}}}).result()
    assert both.identity.type == "SystemAssigned, UserAssigned"
    assert both.identity.principal_id == des.identity.principal_id


def test_des_rejects_identity_without_key_access(emu, cmk_env, compute):
    other = seed_uai(emu, "uai2")
    body = des_body(cmk_env.key_url, {"type": "UserAssigned", "userAssignedIdentities": {other["id"]: {}}})
    with pytest.raises(HttpResponseError) as error:
        compute.disk_encryption_sets.begin_create_or_update(RG, "des1", body).result()
    assert error.value.status_code == 400
    assert error.value.error.code == "KeyVaultAccessForbidden"
    assert other["id"] in error.value.message and cmk_env.key_url in error.value.message
    assert emu.state.resources.get(f"{cmk_env.vault['id'].rsplit('/providers/', 1)[0]}/providers/"
                                   "Microsoft.Compute/diskEncryptionSets/des1") is None


def test_des_accepts_a_vault_without_purge_protection(emu, cmk_env, compute):
    """As Azure does (Terraform's TestAccDiskEncryptionSet_disablePurgeProtection); disks can use the DES too."""
    seed_vault(emu, "kv2", purge_protection=False)
    grant(emu, cmk_env.uai_principal, f"{cmk_env.vault['id'][:-3]}kv2")
    url = seed_key(emu, "kv2", "k2")
    des = compute.disk_encryption_sets.begin_create_or_update(RG, "des1", des_body(url, user_identity(cmk_env))).result()
    assert des.provisioning_state == "Succeeded" and des.active_key.key_url == url
    disk = compute.disks.begin_create_or_update(RG, "d1", {
        "location": LOCATION, "sku": {"name": "Premium_LRS"},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 4,
                       "encryption": {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": des.id}}}).result()
    assert disk.encryption.disk_encryption_set_id == des.id


@pytest.mark.parametrize("case", ["no_soft_delete", "ec", "small", "disabled", "missing_version", "versionless"])
def test_des_rejects_bad_keys(emu, cmk_env, compute, case):
    if case == "no_soft_delete":
        emu.services.arm_system_put(f"{cmk_env.vault['id'][:-3]}kv2", {"location": LOCATION, "properties": {
            "tenantId": cmk_env.vault["properties"]["tenantId"], "sku": {"family": "A", "name": "premium"},
            "enableSoftDelete": False}})
        grant(emu, cmk_env.uai_principal, f"{cmk_env.vault['id'][:-3]}kv2")
        url = seed_key(emu, "kv2", "k2")
    elif case == "ec":
        url = seed_key(emu, name="ec1", kty="EC", size=None)
    elif case == "small":
        url = seed_key(emu, name="small", size=1024)
    elif case == "disabled":
        url = seed_key(emu, name="off", enabled=False)
    elif case == "missing_version":
        url = cmk_env.key_url[:-32] + "0" * 32
    else:
        url = cmk_env.key_url.rsplit("/", 1)[0]
    body = des_body(url, user_identity(cmk_env))
    with pytest.raises(HttpResponseError) as error:
        compute.disk_encryption_sets.begin_create_or_update(RG, "des1", body).result()
    assert error.value.status_code == 400 and error.value.error.code == "InvalidParameter"


def test_des_encryption_type_is_create_only(emu, cmk_env, compute):
    create_des(compute, cmk_env)
    with pytest.raises(ResourceExistsError) as error:
        compute.disk_encryption_sets.begin_update(RG, "des1", {"properties": {
            "encryptionType": "EncryptionAtRestWithPlatformAndCustomerKeys"}}).result()
    assert error.value.error.code == "PropertyChangeNotAllowed"
    assert error.value.error.message == "Changing property 'encryptionType' is not allowed."


def test_des_identity_cannot_flip_user_to_system(emu, cmk_env, compute):
    create_des(compute, cmk_env)
    with pytest.raises(HttpResponseError) as error:
        compute.disk_encryption_sets.begin_update(RG, "des1", {"identity": {"type": "SystemAssigned"}}).result()
    assert error.value.error.code == "PropertyChangeNotAllowed"


def test_des_auto_rotation_follows_new_key_versions(emu, cmk_env, compute):
    versionless = cmk_env.key_url.rsplit("/", 1)[0]
    body = des_body(versionless, user_identity(cmk_env), rotationToLatestKeyVersionEnabled=True)
    des = compute.disk_encryption_sets.begin_create_or_update(RG, "des1", body).result()
    assert des.active_key.key_url == cmk_env.key_url  # versionless accepted, the version in use reported
    newer = rotate_key(emu)
    des = compute.disk_encryption_sets.get(RG, "des1")
    assert des.active_key.key_url == newer
    assert [k.key_url for k in des.previous_keys] == [cmk_env.key_url]
    assert des.last_key_rotation_timestamp is not None
    # without auto-rotation the DES keeps its version
    create_des(compute, cmk_env, name="des2", rotation_to_latest_key_version_enabled=False)
    rotate_key(emu)
    assert compute.disk_encryption_sets.get(RG, "des2").active_key.key_url == cmk_env.key_url


# ---------------------------------------------------------------------------------------------- disks
def test_disk_with_des(emu, cmk_env, compute):
    des = create_des(compute, cmk_env)
    disk = compute.disks.begin_create_or_update(RG, "d1", {
        "location": LOCATION, "sku": {"name": "Premium_LRS"},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 32,
                       "encryption": {"diskEncryptionSetId": des.id}}}).result()
    assert disk.encryption.type == "EncryptionAtRestWithCustomerKey"
    assert disk.encryption.disk_encryption_set_id == des.id
    assert disk.disk_state == "Unattached" and disk.managed_by is None
    platform = compute.disks.begin_update(RG, "d1", {"properties": {"encryption": {
        "type": "EncryptionAtRestWithPlatformKey"}}}).result()
    assert platform.encryption.type == "EncryptionAtRestWithPlatformKey"
    assert list(compute.disk_encryption_sets.list_associated_resources(RG, "des1")) == []
    compute.disks.begin_update(RG, "d1", {"properties": {"encryption": {"diskEncryptionSetId": des.id}}}).result()
    assert list(compute.disk_encryption_sets.list_associated_resources(RG, "des1")) == [disk.id]


def test_disk_rules(emu, cmk_env, compute):
    des = create_des(compute, cmk_env)
    base = {"sku": {"name": "Premium_LRS"}, "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 8,
                                                           "encryption": {"diskEncryptionSetId": des.id}}}
    with pytest.raises(HttpResponseError) as error:
        compute.disks.begin_create_or_update(RG, "d1", {**base, "location": "westus"}).result()
    assert error.value.error.code == "InvalidParameter" and "same location" in error.value.message
    with pytest.raises(HttpResponseError) as error:
        compute.disks.begin_create_or_update(RG, "d1", {"location": LOCATION, "properties": {
            "creationData": {"createOption": "Empty"},
            "encryption": {"type": "EncryptionAtRestWithCustomerKey"}}}).result()
    assert error.value.error.code == "InvalidParameter"
    sys_des = compute.disk_encryption_sets.begin_create_or_update(
        RG, "des2", des_body(cmk_env.key_url, {"type": "SystemAssigned"})).result()
    with pytest.raises(HttpResponseError) as error:
        compute.disks.begin_create_or_update(RG, "d2", {**base, "location": LOCATION, "properties": {
            **base["properties"], "encryption": {"diskEncryptionSetId": sys_des.id}}}).result()
    assert error.value.error.code == "KeyVaultAccessForbidden" and "disk encryption set 'des2'" in error.value.message


# ---------------------------------------------------------------------------------------------- VMs
def vm_body(des_id, host: bool = True, data_des=None):
    data_des = data_des or des_id
    return {"location": LOCATION, "properties": {
        "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
        "storageProfile": {
            "imageReference": {"publisher": "Canonical", "offer": "ubuntu", "sku": "22_04-lts", "version": "latest"},
            "osDisk": {"createOption": "FromImage",
                       "managedDisk": {"storageAccountType": "Premium_LRS", "diskEncryptionSet": {"id": des_id}}},
            "dataDisks": [{"lun": 0, "createOption": "Empty", "diskSizeGB": 16,
                           "managedDisk": {"diskEncryptionSet": {"id": data_des}}}]},
        "securityProfile": {"encryptionAtHost": host},
        "osProfile": {"computerName": "vm1", "adminUsername": "azure"},
        "networkProfile": {"networkInterfaces": []}}}


def test_vm_creates_encrypted_disks_and_power_cycle(emu, cmk_env, compute):
    des = create_des(compute, cmk_env)
    vm = compute.virtual_machines.begin_create_or_update(RG, "vm1", vm_body(des.id)).result()
    os_disk = vm.storage_profile.os_disk
    assert os_disk.name.startswith("vm1_OsDisk_1_") and len(os_disk.name) == len("vm1_OsDisk_1_") + 32
    assert os_disk.managed_disk.disk_encryption_set.id == des.id
    assert vm.security_profile.encryption_at_host is True
    disk = compute.disks.get(RG, os_disk.name)
    assert disk.encryption.disk_encryption_set_id == des.id and disk.managed_by == vm.id
    assert disk.disk_state == "Attached"
    data = compute.disks.get(RG, vm.storage_profile.data_disks[0].name)
    assert data.encryption.type == "EncryptionAtRestWithCustomerKey" and data.disk_size_gb == 16
    view = compute.virtual_machines.instance_view(RG, "vm1")
    assert "PowerState/running" in [s.code for s in view.statuses]
    compute.virtual_machines.begin_deallocate(RG, "vm1").result()
    expanded = compute.virtual_machines.get(RG, "vm1", expand="instanceView")
    assert "PowerState/deallocated" in [s.code for s in expanded.instance_view.statuses]
    assert compute.disks.get(RG, os_disk.name).disk_state == "Reserved"
    compute.virtual_machines.begin_start(RG, "vm1").result()
    assert "PowerState/running" in [s.code for s in compute.virtual_machines.instance_view(RG, "vm1").statuses]


def test_attached_disk_des_change_needs_deallocation(emu, cmk_env, compute):
    des1 = create_des(compute, cmk_env)
    des2 = create_des(compute, cmk_env, name="des2")
    vm = compute.virtual_machines.begin_create_or_update(RG, "vm1", vm_body(des1.id)).result()
    data_name = vm.storage_profile.data_disks[0].name
    with pytest.raises(ResourceExistsError) as error:
        compute.disks.begin_update(RG, data_name, {"properties": {"encryption": {
            "diskEncryptionSetId": des2.id}}}).result()
    assert error.value.error.code == "OperationNotAllowed" and "Deallocate" in error.value.message
    with pytest.raises(ResourceExistsError):
        compute.virtual_machines.begin_create_or_update(RG, "vm1", vm_body(des1.id, data_des=des2.id)).result()
    with pytest.raises(ResourceExistsError) as error:
        compute.virtual_machines.begin_update(RG, "vm1", {"properties": {"securityProfile": {
            "encryptionAtHost": False}}}).result()
    assert "encryptionAtHost" in error.value.message
    assert compute.disks.get(RG, data_name).encryption.disk_encryption_set_id == des1.id
    compute.virtual_machines.begin_deallocate(RG, "vm1").result()
    changed = compute.virtual_machines.begin_create_or_update(RG, "vm1", vm_body(des1.id, host=False,
                                                                                 data_des=des2.id)).result()
    assert changed.storage_profile.data_disks[0].managed_disk.disk_encryption_set.id == des2.id
    assert changed.security_profile.encryption_at_host is False
    assert compute.disks.get(RG, data_name).encryption.disk_encryption_set_id == des2.id


def test_des_with_managed_hsm_key(emu, cmk_env, compute):
    from cmk_helpers import grant_hsm, seed_hsm
    hsm = seed_hsm(emu)
    url = seed_key(emu, "hsm1", "hk1", kty="RSA-HSM", size=3072, hsm=True)
    body = des_body(url, user_identity(cmk_env))
    with pytest.raises(HttpResponseError) as error:  # no HSM local role yet
        compute.disk_encryption_sets.begin_create_or_update(RG, "des1", body).result()
    assert error.value.error.code == "KeyVaultAccessForbidden"
    grant_hsm(emu, hsm, cmk_env.uai_principal, "/keys/hk1")
    des = compute.disk_encryption_sets.begin_create_or_update(RG, "des1", body).result()
    assert des.active_key.key_url == url and des.active_key.source_vault is None


def test_lists_are_paged(emu, cmk_env, compute):
    for index in range(3):
        create_des(compute, cmk_env, name=f"des{index}")
    emu.state.settings.page_size = 2
    emu.services.log.clear()
    assert sorted(d.name for d in compute.disk_encryption_sets.list()) == ["des0", "des1", "des2"]
    assert len(requests_log(emu, method="GET")) == 2
    assert sorted(d.name for d in compute.disk_encryption_sets.list_by_resource_group(RG)) == ["des0", "des1", "des2"]
