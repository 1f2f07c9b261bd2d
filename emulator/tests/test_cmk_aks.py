"""Microsoft.ContainerService managed clusters and agent pools: DES for OS disks, host-based encryption."""
from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from cmk_helpers import LOCATION
from conftest import RG, SUBSCRIPTION_ID, requests_log
from test_cmk_compute import create_des, des_body


@pytest.fixture
def aks(credential):
    from azure.mgmt.containerservice import ContainerServiceClient
    return ContainerServiceClient(credential, SUBSCRIPTION_ID)


def cluster_body(des_id=None, pools=None, **properties):
    pools = pools or [{"name": "sys", "count": 1, "vmSize": "Standard_D4s_v5", "mode": "System",
                       "enableEncryptionAtHost": True, "osDiskType": "Managed"}]
    body = {"location": LOCATION, "identity": {"type": "SystemAssigned"},
            "properties": {"dnsPrefix": "aks1", "agentPoolProfiles": pools, **properties}}
    if des_id:
        body["properties"]["diskEncryptionSetID"] = des_id
    return body


def test_cluster_with_des_and_host_encryption(emu, cmk_env, compute, aks):
    des = create_des(compute, cmk_env)
    cluster = aks.managed_clusters.begin_create_or_update(RG, "aks1", cluster_body(des.id)).result()
    assert cluster.disk_encryption_set_id == des.id
    assert cluster.identity.principal_id and emu.state.principal(cluster.identity.principal_id)
    profiles = [(p.name, p.enable_encryption_at_host, p.mode) for p in cluster.agent_pool_profiles]
    assert profiles == [("sys", True, "System")]
    puts = [e for e in requests_log(emu, method="PUT") if "managedClusters" in e["path"]]
    assert [e["status"] for e in puts] == [201]
    pool = aks.agent_pools.get(RG, "aks1", "sys")
    assert pool.enable_encryption_at_host is True and pool.os_disk_type == "Managed"
    # a new pool with host encryption appears in the cluster's profiles too
    aks.agent_pools.begin_create_or_update(RG, "aks1", "user1", {"properties": {
        "count": 2, "vmSize": "Standard_D4s_v5", "enableEncryptionAtHost": True}}).result()
    cluster = aks.managed_clusters.get(RG, "aks1")
    profiles = [(p.name, p.enable_encryption_at_host) for p in cluster.agent_pool_profiles]
    assert profiles == [("sys", True), ("user1", True)]
    assert sorted(p.name for p in aks.agent_pools.list(RG, "aks1")) == ["sys", "user1"]
    # the cluster PUT again with the same settings is fine (idempotent), tags update works
    again = aks.managed_clusters.begin_create_or_update(RG, "aks1", cluster_body(des.id)).result()
    assert again.disk_encryption_set_id == des.id
    tagged = aks.managed_clusters.begin_update_tags(RG, "aks1", {"tags": {"env": "t"}}).result()
    assert tagged.tags == {"env": "t"}
    assert [c.name for c in aks.managed_clusters.list()] == ["aks1"]
    aks.agent_pools.begin_delete(RG, "aks1", "user1").result()
    assert [p.name for p in aks.managed_clusters.get(RG, "aks1").agent_pool_profiles] == ["sys"]
    aks.managed_clusters.begin_delete(RG, "aks1").result()
    assert list(aks.managed_clusters.list_by_resource_group(RG)) == []


def test_des_is_create_time_only(emu, cmk_env, compute, aks):
    des = create_des(compute, cmk_env)
    other = create_des(compute, cmk_env, name="des2")
    aks.managed_clusters.begin_create_or_update(RG, "aks1", cluster_body()).result()
    for value in (des.id, other.id):
        with pytest.raises(HttpResponseError) as error:
            aks.managed_clusters.begin_create_or_update(RG, "aks1", cluster_body(value)).result()
        assert error.value.status_code == 400 and error.value.error.code == "PropertyChangeNotAllowed"
        assert "diskEncryptionSetID" in error.value.error.message
    assert aks.managed_clusters.get(RG, "aks1").disk_encryption_set_id is None


def test_host_encryption_is_create_time_only_per_pool(emu, aks):
    pools = [{"name": "sys", "count": 1, "vmSize": "Standard_D4s_v5", "mode": "System",
              "enableEncryptionAtHost": False}]
    aks.managed_clusters.begin_create_or_update(RG, "aks1", cluster_body(pools=pools)).result()
    with pytest.raises(HttpResponseError) as error:
        aks.managed_clusters.begin_create_or_update(RG, "aks1", cluster_body(pools=[
            {**pools[0], "enableEncryptionAtHost": True}])).result()
    assert error.value.error.code == "PropertyChangeNotAllowed"
    assert "enableEncryptionAtHost" in error.value.error.message
    with pytest.raises(HttpResponseError) as error:
        aks.agent_pools.begin_create_or_update(RG, "aks1", "sys", {"properties": {
            "count": 1, "vmSize": "Standard_D4s_v5", "mode": "System", "enableEncryptionAtHost": True}}).result()
    assert error.value.error.code == "PropertyChangeNotAllowed"
    # adding a pool through the cluster profiles works, and it shows up as a child resource
    aks.managed_clusters.begin_create_or_update(RG, "aks1", cluster_body(pools=[
        pools[0], {"name": "secure", "count": 1, "vmSize": "Standard_D4s_v5",
                   "enableEncryptionAtHost": True}])).result()
    assert aks.agent_pools.get(RG, "aks1", "secure").enable_encryption_at_host is True
    assert aks.agent_pools.get(RG, "aks1", "sys").enable_encryption_at_host is False


def test_cluster_des_identity_needs_key_access(emu, cmk_env, compute, aks):
    sys_des = compute.disk_encryption_sets.begin_create_or_update(
        RG, "des1", des_body(cmk_env.key_url, {"type": "SystemAssigned"})).result()
    with pytest.raises(HttpResponseError) as error:
        aks.managed_clusters.begin_create_or_update(RG, "aks1", cluster_body(sys_des.id)).result()
    assert error.value.error.code == "CreateVMSSAgentPoolFailed"
    assert "KeyVaultAccessForbidden" in error.value.error.message
    assert emu.state.resources.get(f"{sys_des.id.split('/providers/')[0]}/providers/Microsoft.ContainerService/"
                                   "managedClusters/aks1") is None
