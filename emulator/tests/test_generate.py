"""The estate generator (azemu.generate): determinism, counts, policy, loading, and every break kind in the state."""
from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import pytest
import yaml

from azemu import Emulator
from azemu.__main__ import main as azemu_main
from azemu.generate import BREAKS, SERVICE_GROUPS, SERVICES, generate_estate

ROOT = Path(__file__).resolve().parents[2]


def _policy_module():
    spec = importlib.util.spec_from_file_location("_cmk_policy_filter", ROOT / "plugins" / "filter" / "policy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_same_arguments_same_estate():
    a, b = generate_estate(300, seed=7), generate_estate(300, seed=7)
    assert json.dumps(a.seed, sort_keys=True) == json.dumps(b.seed, sort_keys=True)
    assert a.expected == b.expected and a.keys == b.keys and a.policy == b.policy
    c = generate_estate(300, seed=8)
    assert json.dumps(c.seed, sort_keys=True) != json.dumps(a.seed, sort_keys=True)


def test_counts_per_service():
    estate = generate_estate(1000, subscriptions=3, break_share=0.2)
    counts = estate.counts()
    assert sum(counts.values()) == 1000
    assert all(counts[service] > 0 for service in SERVICES)
    assert counts["unlabelled"] == 30 and counts["exception"] == 10
    broken = [kinds for kinds in estate.expected.values() if kinds]
    labelled = sum(counts[service] for service in SERVICES)
    assert len(estate.expected) == labelled
    assert len(broken) == round(labelled * 0.2)
    assert {kind for kinds in broken for kind in kinds} == set(BREAKS)
    for resource in estate.resources:
        assert all(resource.service in BREAKS[kind]["services"] for kind in resource.breaks)
    assert {r.subscription_id for r in estate.resources} == set(estate.subscriptions)
    assert generate_estate(30).counts()["exception"] == 1


def test_selected_kinds_only():
    estate = generate_estate(200, break_share=0.5, kinds=["platform_keys", "key_disabled"])
    assert {kind for kinds in estate.expected.values() for kind in kinds} == {"platform_keys", "key_disabled"}
    with pytest.raises(ValueError):
        generate_estate(10, kinds=["nope"])


@pytest.mark.parametrize("hsm", [True, False])
def test_policy_passes_the_collection_check(hsm):
    estate = generate_estate(200, subscriptions=3, hsm=hsm)
    policy = _policy_module()
    assert policy.policy_violations(estate.policy, estate.keys, estate.disk_encryption_sets, False, ["pii"]) == []
    assert policy.policy_violations(estate.policy, estate.keys, estate.disk_encryption_sets, False, None) == []
    for entry in estate.disk_encryption_sets.values():
        assert entry["subscription_id"] in estate.subscriptions
        assert entry["key"] in estate.keys
    if not hsm:
        assert not any("managedhsm" in key["vault_uri"] for key in estate.keys.values())


def test_small_estate_loads_and_inventory_matches(tmp_path):
    estate = generate_estate(30, subscriptions=2, break_share=0.3, seed=3)
    emu = Emulator(seed=estate.seed)
    state = emu.state
    for resource in estate.resources:
        body = state.resources.get(resource.id)
        assert body is not None, resource.id
        if resource.category == "unlabelled":
            assert not body.get("tags")
        else:
            assert body["tags"] == {"environment": resource.environment, "classification": resource.classification}
    for sub in estate.subscriptions:  # the operator manages every subscription
        assert emu.services.rbac.allowed("0a11ce00-0000-4000-8000-00000000b001", "Microsoft.Compute/disks/write",
                                         f"/subscriptions/{sub}/resourceGroups/rg-prod")
    inventory = estate.inventory(tmp_path / "inv")
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())["all"]["children"]
    in_cmk = {name for group in hosts["cmk_resources"]["children"].values() for name in (group.get("hosts") or {})}
    assert in_cmk == set(estate.expected)
    outside = {r.name for r in estate.resources if r.category != "cmk"}
    assert outside and not outside & in_cmk
    assert set(hosts["cmk_exceptions"]["hosts"]) | set(hosts["cmk_unlabelled"]["hosts"]) == outside
    for group in SERVICE_GROUPS.values():
        assert yaml.safe_load((inventory / "group_vars" / f"{group}.yml").read_text())["cmk_service"]
    keys = yaml.safe_load((inventory / "group_vars" / "all" / "keys.yml").read_text())
    assert keys["cmk_keys"] == estate.keys
    for name, values in hosts["cmk_resources"]["children"]["storage_accounts"].get("hosts", {}).items():
        assert values["cmk_identity"].startswith(f"/subscriptions/{values['cmk_subscription_id']}/")


def _kvp(body):
    return ((body.get("properties") or {}).get("encryption") or {}).get("keyvaultproperties") or {}


def _des_of(body):
    return (((body.get("properties") or {}).get("encryption") or {}).get("diskEncryptionSetId") or "").lower()


def _visible(emu, estate, resource, kind):
    """True when the break shows in the emulator's state (read independently of the collection)."""
    state = emu.state
    body = state.resources.get(resource.id)
    props = body.get("properties") or {}
    policy_key = estate.keys[estate.policy[resource.environment][resource.classification].get("services", {}).get(
        resource.service, {}).get("key") or estate.policy[resource.environment][resource.classification]["key"]]
    own_des = f"des-{resource.environment}-{'pii' if resource.classification == 'pii' else 'gen'}"

    def key_entry():
        return estate.keys[resource.key] if resource.key else estate.keys[
            estate.disk_encryption_sets[resource.des]["key"]]

    def store(entry):
        name = entry["vault_uri"].split("//")[1].split(".")[0]
        kind_ = "vaults" if ".vault." in entry["vault_uri"] else "managedHSMs"
        return state.resources.get(f"/subscriptions/{estate.subscriptions[0]}/resourceGroups/{entry['resource_group']}"
                                   f"/providers/Microsoft.KeyVault/{kind_}/{name}")

    def key_version(entry):
        from azemu.providers import keystore
        return keystore.key_ring(state, store(entry)).get(entry["name"]).latest

    def vm_disks():
        profile = props["storageProfile"]
        ids = [profile["osDisk"]["managedDisk"]["id"]] + [d["managedDisk"]["id"] for d in profile["dataDisks"]]
        return [state.resources.get(i) for i in ids]

    if kind == "wrong_key":
        if resource.service == "storage_account":
            return _kvp(body)["keyvaulturi"].rstrip("/") != policy_key["vault_uri"]
        if resource.service == "container_group":
            return props["encryptionProperties"]["vaultBaseUrl"].rstrip("/") != policy_key["vault_uri"]
        if resource.service == "sql_managed_instance":
            return not props["keyId"].startswith(policy_key["vault_uri"])
        if resource.service == "managed_disk":
            return not _des_of(body).endswith("/" + own_des)
        if resource.service == "aks":
            return not props["diskEncryptionSetID"].lower().endswith("/" + own_des)
        return all(not _des_of(disk).endswith("/" + own_des) for disk in vm_disks())
    if kind == "old_key_version":
        if resource.service == "storage_account":
            return _kvp(body)["keyversion"] and not _kvp(body)["currentVersionedKeyIdentifier"].endswith(
                key_version(policy_key).version)
        protector = state.resources.get(resource.id + "/encryptionProtector/current")["properties"]
        return protector["autoRotationEnabled"] is False and not protector["uri"].endswith(key_version(policy_key).version)
    if kind == "platform_keys":
        if resource.service == "storage_account":
            return props["encryption"]["keySource"] == "Microsoft.Storage"
        if resource.service == "managed_disk":
            return not _des_of(body)
        if resource.service == "virtual_machine":
            return not any(_des_of(disk) for disk in vm_disks())
        if resource.service == "aks":
            return not props.get("diskEncryptionSetID")
        return "encryptionProperties" not in props
    if kind in ("identity_no_access", "identity_missing"):
        if resource.service in ("managed_disk", "virtual_machine"):
            des = estate.disk_encryption_sets[resource.des]
            des_body = state.resources.get(f"/subscriptions/{resource.subscription_id}/resourceGroups/"
                                           f"{des['resource_group']}/providers/Microsoft.Compute/diskEncryptionSets/"
                                           f"{des['name']}")
            principal = des_body["identity"]["principalId"]
            url = des_body["properties"]["activeKey"]["keyUrl"]
        else:
            uai = state.resources.get(resource.identity)
            if kind == "identity_missing":
                return uai is None and resource.identity.lower() in {k.lower() for k in body["identity"]["userAssignedIdentities"]}
            principal = uai["properties"]["principalId"]
            url = policy_key["vault_uri"] + "/keys/" + policy_key["name"]
        access = emu.services.registry.key_access(emu.services, principal, url)
        return not (access["get"] and access["wrapKey"] and access["unwrapKey"])
    if kind in ("key_disabled", "key_expired"):
        version = key_version(key_entry())
        attributes = version.attributes or {}
        return attributes.get("enabled") is False if kind == "key_disabled" else attributes.get("exp", 0) < time.time()
    if kind == "no_purge_protection":
        return not store(key_entry())["properties"].get("enablePurgeProtection")
    if kind == "key_store_firewall":
        vault = store(key_entry())["properties"]
        return vault["publicNetworkAccess"] == "Disabled" and vault["networkAcls"]["bypass"] == "None"
    if kind == "vm_disks_not_on_des":
        os_disk, data_disk = vm_disks()
        return _des_of(os_disk).endswith("/" + own_des) and not _des_of(data_disk) and data_disk["managedBy"] == body["id"]
    if kind == "aks_no_host_encryption":
        return any(not pool["enableEncryptionAtHost"] for pool in emu.services.arm.state.resources.of_type(
            "Microsoft.ContainerService/managedClusters/agentPools", resource.id) for pool in [pool["properties"]])
    if kind == "aci_hsm_key":
        return ".managedhsm." in props["encryptionProperties"]["vaultBaseUrl"]
    if kind == "sqlmi_service_managed":
        return state.resources.get(resource.id + "/encryptionProtector/current")["properties"]["serverKeyType"] == \
            "ServiceManaged"
    if kind == "storage_service_key_type":
        services = props["encryption"]["services"]
        return services["queue"]["keyType"] == "Service" and services["table"]["keyType"] == "Service"
    raise AssertionError(kind)


def test_every_break_kind_is_in_the_emulator_state():
    estate = generate_estate(120, subscriptions=2, break_share=1.0, seed=5)
    seen = {kind for kinds in estate.expected.values() for kind in kinds}
    assert seen == set(BREAKS)
    emu = Emulator(seed=estate.seed)
    for resource in estate.resources:
        for kind in resource.breaks:
            assert _visible(emu, estate, resource, kind), (resource.name, kind)
    compliant = generate_estate(60, subscriptions=2, break_share=0.0, seed=5)
    emu = Emulator(seed=compliant.seed)
    for resource in compliant.resources:  # nothing is broken: none of the checks fires where it applies
        if resource.category != "cmk":
            continue
        for kind in ("wrong_key", "platform_keys", "identity_no_access", "sqlmi_service_managed",
                     "storage_service_key_type", "aks_no_host_encryption", "vm_disks_not_on_des"):
            if resource.service in BREAKS[kind]["services"] and kind not in ("identity_no_access",):
                assert not _visible(emu, compliant, resource, kind), (resource.name, kind)


def test_vm_disks_exist_as_disk_resources():
    estate = generate_estate(60, break_share=0.0)
    emu = Emulator(seed=estate.seed)
    vms = [r for r in estate.resources if r.service == "virtual_machine"]
    assert vms
    for vm in vms:
        body = emu.state.resources.get(vm.id)
        for disk in [body["properties"]["storageProfile"]["osDisk"]] + body["properties"]["storageProfile"]["dataDisks"]:
            stored = emu.state.resources.get(disk["managedDisk"]["id"])
            assert stored["managedBy"].lower() == vm.id.lower()


def test_exceptions_are_stored():
    estate = generate_estate(200)
    emu = Emulator(seed=estate.seed)
    exceptions = [r for r in estate.resources if r.category == "exception"]
    assert {r.type for r in exceptions} == {"Microsoft.App/containerApps", "Microsoft.Web/sites"}
    for resource in exceptions:
        assert emu.state.resources.get(resource.id)["type"] == resource.type


def test_command_line(tmp_path, capsys):
    assert azemu_main(["generate", "--resources", "40", "--subscriptions", "2", "--break-share", "0.5", "--seed", "4",
                       "--out", str(tmp_path)]) == 0
    assert "40 resources" in capsys.readouterr().out
    seed = json.loads((tmp_path / "seed.json").read_text())
    assert seed == json.loads(json.dumps(generate_estate(40, 2, 0.5, 4).seed))
    expected = json.loads((tmp_path / "expected.json").read_text())
    assert expected["expected"] == generate_estate(40, 2, 0.5, 4).expected
    assert (tmp_path / "inventory" / "hosts.yml").exists()
    assert (tmp_path / "inventory" / "group_vars" / "all" / "policy.yml").exists()
    Emulator(seed=str(tmp_path / "seed.json"))


@pytest.mark.skipif(not os.environ.get("AZEMU_SLOW"), reason="timing only: AZEMU_SLOW=1 python -m pytest ...")
def test_ten_thousand_in_seconds():  # pragma: no cover - manual
    started = time.perf_counter()
    Emulator(seed=generate_estate(10000).seed)
    assert time.perf_counter() - started < 60
