"""Microsoft.ContainerService/managedClusters and their agentPools: OS disks through a DES and host-based
encryption per node pool.

Wire contract (azure-rest.md §1.2/§7): cluster PUT LRO 201/200 + Azure-AsyncOperation, PATCH (tags) LRO,
DELETE LRO 202; agent pool PUT LRO 201/200, DELETE LRO 202. `diskEncryptionSetID` (capital ID) is
create-time only, as is `enableEncryptionAtHost` (and `osDiskType`) per pool: changing them on an existing
cluster/pool is a 400 `PropertyChangeNotAllowed`. Pools are stored once, as agentPools child resources;
the cluster's flat `agentPoolProfiles[]` is built from them, so both views always agree.
The DES identity must reach its key (`KeyVaultAccessForbidden`, wrapped the way AKS reports VMSS failures).
The cluster identity's Reader role on the DES is NOT enforced (AKS only needs it for persistent volumes
that use the DES; see docs/emulator.md).
"""
from __future__ import annotations

import copy
import uuid
from typing import Optional

from ..arm import ArmContext, Lro, ResourceType, Target, bad_request, registry
from ..http import HttpError
from . import cmk_common as cmk
from .compute_des import DES_TYPE, check_des_access

CLUSTER_TYPE = "Microsoft.ContainerService/managedClusters"
POOL_TYPE = "Microsoft.ContainerService/managedClusters/agentPools"
CREATE_ONLY_POOL = ("enableEncryptionAtHost", "osDiskType")
POOL_DEFAULTS = {"count": 1, "vmSize": "Standard_D4s_v5", "osType": "Linux", "osSKU": "Ubuntu", "mode": "User",
                 "type": "VirtualMachineScaleSets", "enableEncryptionAtHost": False, "osDiskType": "Managed",
                 "osDiskSizeGB": 128, "maxPods": 110, "orchestratorVersion": "1.33.2",
                 "powerState": {"code": "Running"}}


def not_allowed(prop: str, where: str) -> HttpError:
    # AKS answers immutable-property changes 400 (Bad Request) PropertyChangeNotAllowed "Changing property '<p>' is not
    # allowed." (Azure/AKS#61, Azure/azure-cli#24764); for diskEncryptionSetID / enableEncryptionAtHost / osDiskType
    # specifically the code and text are UNVERIFIED (Azure/AKS#4858: enabling encryption at host later now fails).
    return HttpError(400, "PropertyChangeNotAllowed",
                     f"Changing property '{prop}' is not allowed. {where}", target=prop)


def pool_properties(requested: dict, before: Optional[dict], pool_name: str) -> dict:
    """Validated, defaulted agent pool properties (flat)."""
    properties = copy.deepcopy(before or {})
    for key, value in requested.items():
        if key in ("name", "provisioningState") or value is None:
            continue
        properties[key] = copy.deepcopy(value)
    if before is not None:
        for prop in CREATE_ONLY_POOL:
            wanted = requested.get(prop)
            if wanted is not None and wanted != before.get(prop, POOL_DEFAULTS[prop]):
                hint = ("Host-based encryption can only be set when a node pool is created: add a new node pool "
                        "with it and delete this one." if prop == "enableEncryptionAtHost" else
                        "It can only be set when the node pool is created.")
                raise not_allowed(prop, f"Agent pool '{pool_name}': {hint}")
    for key, value in POOL_DEFAULTS.items():
        properties.setdefault(key, copy.deepcopy(value))
    if properties["mode"] not in ("System", "User", "Gateway"):
        raise bad_request(f"Agent pool '{pool_name}': mode '{properties['mode']}' is invalid.", "InvalidParameter")
    properties["provisioningState"] = "Succeeded"
    return properties


def pool_resources(ctx: ArmContext, cluster_id: str) -> list[dict]:
    pools = ctx.state.resources.of_type(POOL_TYPE, cluster_id)
    return sorted(pools, key=lambda pool: pool.get("azemu:order", 0))


def put_pool(ctx: ArmContext, cluster_id: str, name: str, properties: dict, existing: Optional[dict]) -> dict:
    pool = {"id": f"{cluster_id}/agentPools/{name}", "name": name, "type": POOL_TYPE, "properties": properties,
            "azemu:order": (existing or {}).get("azemu:order", len(pool_resources(ctx, cluster_id)))}
    if existing:
        pool["id"], pool["name"] = existing["id"], existing["name"]
    ctx.state.resources.put(pool)
    return pool


def check_des(ctx: ArmContext, des_id: str, location: str) -> dict:
    des = ctx.state.resources.get(des_id or "")
    if des is None or des.get("type", "").lower() != DES_TYPE.lower():
        raise bad_request(f"The disk encryption set '{des_id}' specified in 'diskEncryptionSetID' was not found.",
                          "InvalidDiskEncryptionSetID")
    if des.get("location", "").lower() != location.lower():
        raise bad_request(f"The disk encryption set '{des_id}' must be in the cluster location '{location}'.",
                          "InvalidDiskEncryptionSetID")
    try:
        check_des_access(ctx, des)
    except HttpError as exc:
        if exc.code != "KeyVaultAccessForbidden":
            raise
        raise HttpError(400, "CreateVMSSAgentPoolFailed",
                        f'Code="KeyVaultAccessForbidden" Message="{exc.message}"') from None
    return des


@registry.resource_type
class ManagedCluster(cmk.SystemIdentityType):
    type_name = CLUSTER_TYPE
    name_pattern = r"^[a-zA-Z0-9]$|^[a-zA-Z0-9][-_a-zA-Z0-9]{0,61}[a-zA-Z0-9]$"
    name_message = "The managed cluster name '{name}' is invalid."
    put_style = Lro.ASYNC
    patch_style = Lro.ASYNC
    delete_style = Lro.ASYNC
    created_status = 201
    updated_status = 200
    envelope_keys = ("location", "tags", "sku", "identity", "properties", "kind")

    def prepare(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        resource = super().prepare(ctx, target, existing, body)
        before = (existing or {}).get("properties") or {}
        requested = copy.deepcopy(body.get("properties") or {})
        if existing and resource["location"].lower() != existing["location"].lower():
            raise not_allowed("location", "The location of a managed cluster cannot change.")
        identity = cmk.build_identity(ctx, target, body.get("identity") or {"type": "SystemAssigned"},
                                      (existing or {}).get("identity"))
        if not cmk.identity_kinds(identity) and not requested.get("servicePrincipalProfile"):
            raise bad_request("A managed cluster needs a managed identity or a service principal profile.",
                              "InvalidParameter")
        resource["identity"] = identity

        des_id = requested.pop("diskEncryptionSetID", None)
        if existing is not None:
            if des_id is not None and not cmk.same_id(des_id, before.get("diskEncryptionSetID")):
                raise not_allowed("diskEncryptionSetID", "Encryption of the OS disks with customer-managed keys "
                                  "(diskEncryptionSetID) can only be set when the cluster is created.")
            des_id = before.get("diskEncryptionSetID")
        elif des_id:
            des_id = check_des(ctx, des_id, resource["location"])["id"]

        profiles = requested.pop("agentPoolProfiles", None)
        if existing is None and not profiles:
            raise bad_request("The managed cluster needs at least one agent pool in 'agentPoolProfiles'.",
                              "InvalidParameter")
        pools = {pool["name"].lower(): pool for pool in pool_resources(ctx, target.path)} if existing else {}
        planned = []
        seen = set()
        for profile in profiles or []:
            name = profile.get("name") or ""
            if not name or name.lower() in seen:
                raise bad_request(f"Agent pool names must be unique and non-empty ('{name}').", "InvalidParameter")
            seen.add(name.lower())
            current = pools.get(name.lower())
            properties = pool_properties(profile, (current or {}).get("properties"), name)
            planned.append((name, properties, current))
        if existing is None and not any(props["mode"] == "System" for _name, props, _current in planned):
            planned[0][1]["mode"] = "System"

        properties = {key: value for key, value in before.items() if key not in ("agentPoolProfiles",)}
        properties.update(requested)
        if des_id:
            properties["diskEncryptionSetID"] = des_id
        dns = properties.setdefault("dnsPrefix", f"{target.name}-dns")
        properties.setdefault("kubernetesVersion", "1.33.2")
        properties.setdefault("currentKubernetesVersion", properties["kubernetesVersion"])
        properties.setdefault("fqdn", f"{dns}-{uuid.uuid4().hex[:8]}.hcp.{resource['location']}.azmk8s.io")
        properties.setdefault("nodeResourceGroup", f"MC_{target.resource_group}_{target.name}_{resource['location']}")
        properties.setdefault("enableRBAC", True)
        properties.setdefault("powerState", {"code": "Running"})
        resource["properties"] = properties
        resource.setdefault("sku", (existing or {}).get("sku") or {"name": "Base", "tier": "Free"})
        for name, pool_props, current in planned:
            put_pool(ctx, target.path, name, pool_props, current)
        return resource

    def prepare_patch(self, ctx: ArmContext, target: Target, existing: dict, body: dict) -> dict:
        """`begin_update_tags`: only tags change."""
        resource = copy.deepcopy(existing)
        if "tags" in body:
            resource["tags"] = body["tags"] or {}
        return resource

    def view(self, ctx: ArmContext, resource: dict) -> dict:
        body = cmk.strip_internal(resource)
        body["properties"]["agentPoolProfiles"] = [
            {"name": pool["name"], **copy.deepcopy(pool["properties"])} for pool in pool_resources(ctx, resource["id"])]
        return body


@registry.resource_type
class AgentPool(ResourceType):
    type_name = POOL_TYPE
    tracked = False
    name_pattern = r"^[a-z][a-z0-9]{0,11}$"
    name_message = ("The agent pool name '{name}' is invalid: it must start with a lowercase letter and contain only "
                    "lowercase letters and numbers (at most 12 characters).")
    put_style = Lro.ASYNC
    delete_style = Lro.ASYNC
    created_status = 201
    updated_status = 200
    envelope_keys = ("properties",)

    def prepare(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        cluster_id = target.parent_id
        cluster = ctx.state.resources.get(cluster_id)
        properties = pool_properties(body.get("properties") or {}, (existing or {}).get("properties"), target.name)
        properties["provisioningState"] = "Succeeded"
        resource = {"properties": properties, "azemu:order": (existing or {}).get(
            "azemu:order", len(pool_resources(ctx, cluster_id)))}
        if existing is None and cluster is not None:
            des_id = (cluster.get("properties") or {}).get("diskEncryptionSetID")
            if des_id:  # new nodes get their OS disks from the cluster's DES
                check_des(ctx, des_id, cluster["location"])
        return resource

    def view(self, ctx: ArmContext, resource: dict) -> dict:
        return cmk.strip_internal(resource)

    def remove(self, ctx: ArmContext, target: Target, resource: dict) -> None:
        super().remove(ctx, target, resource)
