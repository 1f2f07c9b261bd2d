"""Microsoft.Compute/disks: managed disks encrypted with a platform key or through a disk encryption set.

Wire contract (azure-rest.md §6): PUT/PATCH LROs (202/200 + Azure-AsyncOperation), DELETE LRO.
`properties.encryption{type, diskEncryptionSetId}`; `managedBy` and `diskState` are maintained by the
virtual machine provider when the disk is attached. Rules: the DES must exist in the disk's region and
its identity must reach its key (`KeyVaultAccessForbidden`); the DES of a disk attached to a running VM
cannot change (409 `OperationNotAllowed`: deallocate the VM first).
"""
from __future__ import annotations

import copy
from typing import Optional

from ..arm import ArmContext, Lro, ResourceType, Target, deep_merge, parse_target, registry
from ..http import HttpError
from . import cmk_common as cmk
from .compute_des import DES_TYPE, check_des_access, invalid

DISK_TYPE = "Microsoft.Compute/disks"
VM_TYPE = "Microsoft.Compute/virtualMachines"
PLATFORM_KEY = "EncryptionAtRestWithPlatformKey"
DISK_ENCRYPTION_TYPES = (PLATFORM_KEY, "EncryptionAtRestWithCustomerKey", "EncryptionAtRestWithPlatformAndCustomerKeys")


def resolve_encryption(ctx: ArmContext, location: str, requested: Optional[dict], before: Optional[dict] = None,
                       target_prop: str = "encryption") -> dict:
    """The stored `encryption` of a disk: type defaults from the DES, DES exists in the same region and its
    identity can reach its key."""
    requested = copy.deepcopy(requested) if requested is not None else copy.deepcopy(before or {})
    des_id = requested.get("diskEncryptionSetId")
    enc_type = requested.get("type")
    if not des_id:
        if enc_type and enc_type != PLATFORM_KEY:
            raise invalid(f"Encryption type '{enc_type}' requires a disk encryption set: set "
                          "'encryption.diskEncryptionSetId'.", target=f"{target_prop}.diskEncryptionSetId")
        return {"type": PLATFORM_KEY}
    des = ctx.state.resources.get(des_id)
    if des is None or des.get("type", "").lower() != DES_TYPE.lower():
        raise HttpError(404, "NotFound", f"The disk encryption set '{des_id}' was not found.",
                        target=f"{target_prop}.diskEncryptionSetId")
    des_type = des["properties"].get("encryptionType")
    enc_type = enc_type or ("EncryptionAtRestWithCustomerKey" if des_type == "ConfidentialVmEncryptedWithCustomerKey"
                            else des_type)
    if enc_type not in DISK_ENCRYPTION_TYPES or enc_type == PLATFORM_KEY:
        raise invalid(f"Encryption type '{enc_type}' cannot be used with a disk encryption set.",
                      target=f"{target_prop}.type")
    if des_type != "ConfidentialVmEncryptedWithCustomerKey" and enc_type != des_type:
        raise invalid(f"The encryption type '{enc_type}' of the disk does not match the encryption type '{des_type}' "
                      f"of disk encryption set '{des['name']}'.", target=f"{target_prop}.type")
    if des.get("location", "").lower() != (location or "").lower():
        raise invalid(f"The disk encryption set '{des_id}' is in location '{des.get('location')}'; it must be in the "
                      f"same location as the disk ('{location}').", target=f"{target_prop}.diskEncryptionSetId")
    if not cmk.same_id((before or {}).get("diskEncryptionSetId"), des["id"]):
        check_des_access(ctx, des)  # re-checked only when the disk starts using this DES
    return {"type": enc_type, "diskEncryptionSetId": des["id"]}


def encryption_changed(before: Optional[dict], after: dict) -> bool:
    before = before or {"type": PLATFORM_KEY}
    return (before.get("type") != after.get("type")
            or not cmk.same_id(before.get("diskEncryptionSetId"), after.get("diskEncryptionSetId")))


def running_vm(ctx: ArmContext, disk: Optional[dict]) -> Optional[dict]:
    vm = ctx.state.resources.get((disk or {}).get("managedBy") or "")
    if vm and vm.get("azemu:powerState", "running") != "deallocated":
        return vm
    return None


def refuse_while_running(ctx: ArmContext, disk: dict, what: str = "the disk encryption set") -> None:
    vm = running_vm(ctx, disk)
    if vm is not None:
        raise HttpError(409, "OperationNotAllowed",
                        f"Changing {what} of disk '{disk['name']}' is not allowed while it is attached to running "
                        f"virtual machine '{vm['id']}'. Deallocate the virtual machine (stop it with deallocation) "
                        "and retry.")


def new_disk(ctx: ArmContext, disk_id: str, location: str, encryption: dict, size_gb: Optional[int],
             create_option: str, sku: Optional[str], vm_id: str) -> dict:
    """A disk as Compute creates it implicitly for a virtual machine."""
    target = parse_target(disk_id)
    disk = {
        "id": disk_id, "name": target.name, "type": DISK_TYPE, "location": location, "tags": {},
        "managedBy": vm_id, "sku": {"name": sku or "Premium_LRS", "tier": "Premium"},
        "properties": {
            "creationData": {"createOption": create_option}, "diskSizeGB": size_gb or 30,
            "encryption": encryption, "diskState": "Attached", "provisioningState": "Succeeded",
            "timeCreated": cmk.iso_now(), "uniqueId": str(__import__("uuid").uuid4()),
        },
    }
    ctx.state.resources.put(disk)
    return disk


@registry.resource_type
class Disk(ResourceType):
    type_name = DISK_TYPE
    name_pattern = r"^[a-zA-Z0-9_.-]{1,80}$"
    name_message = "The disk name '{name}' is invalid: use 1-80 letters, numbers, underscores, periods and hyphens."
    put_style = Lro.ASYNC
    patch_style = Lro.ASYNC
    delete_style = Lro.ASYNC
    created_status = 202
    updated_status = 200
    envelope_keys = ("location", "tags", "sku", "zones", "properties")

    def prepare(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        return self._build(ctx, target, existing, body)

    def prepare_patch(self, ctx: ArmContext, target: Target, existing: dict, body: dict) -> dict:
        merged = {key: copy.deepcopy(value) for key, value in existing.items() if key in self.envelope_keys}
        for key in ("tags", "sku"):
            if key in body:
                merged[key] = body[key]
        if body.get("properties"):
            patch = copy.deepcopy(body["properties"])
            encryption = patch.pop("encryption", None)
            merged["properties"] = deep_merge(merged.get("properties") or {}, patch)
            if encryption is not None:
                merged["properties"]["encryption"] = encryption
        return self._build(ctx, target, existing, merged)

    def _build(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        resource = super().prepare(ctx, target, existing, body)
        properties = resource["properties"]
        before = (existing or {}).get("properties") or {}
        if existing is None and not (properties.get("creationData") or {}).get("createOption"):
            raise invalid("Required parameter 'creationData.createOption' is missing (null).",
                          target="creationData.createOption")
        requested = properties.get("encryption") if "encryption" in properties else None
        encryption = resolve_encryption(ctx, resource["location"], requested, before.get("encryption"))
        if existing is not None and encryption_changed(before.get("encryption"), encryption):
            refuse_while_running(ctx, existing)
        properties["encryption"] = encryption
        resource.setdefault("sku", (existing or {}).get("sku") or {"name": "Standard_LRS", "tier": "Standard"})
        for computed in ("timeCreated", "uniqueId", "diskState"):
            if computed in before:
                properties[computed] = before[computed]
        properties.setdefault("timeCreated", cmk.iso_now())
        properties.setdefault("uniqueId", str(__import__("uuid").uuid4()))
        properties.setdefault("diskState", "Unattached")
        if existing and existing.get("managedBy"):
            resource["managedBy"] = existing["managedBy"]
        return resource

    def view(self, ctx: ArmContext, resource: dict) -> dict:
        return cmk.strip_internal(resource)
