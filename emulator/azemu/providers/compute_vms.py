"""Microsoft.Compute/virtualMachines: managed OS/data disks through disk encryption sets, encryption at
host, power state (instance view, deallocate/start/powerOff).

Wire contract (azure-rest.md §1.2/§6; SDK `virtual_machines.*`): PUT LRO 201/200 + Azure-AsyncOperation,
PATCH LRO 200, DELETE LRO 202; `POST .../deallocate|start|powerOff|restart` LRO 202 + Azure-AsyncOperation;
`GET .../instanceView` and `$expand=instanceView`. Creating a VM creates its managed disks as
`Microsoft.Compute/disks` resources (`<vm>_OsDisk_1_<hex>`, `<vm>_disk<n>_<hex>`) carrying the DES
encryption, so disk reads agree with the VM. Changing a disk's DES or `encryptionAtHost` needs the VM
deallocated (409 `OperationNotAllowed`).
"""
from __future__ import annotations

import copy
import uuid
from typing import Callable, Optional

from ..arm import ArmContext, Lro, ResourceType, Target, deep_merge, parse_target, registry
from ..http import HttpError, Response, json_response
from . import cmk_common as cmk
from .compute_des import invalid
from .compute_disks import DISK_TYPE, VM_TYPE, new_disk, refuse_while_running, resolve_encryption

POWER_DISPLAY = {"running": "VM running", "deallocated": "VM deallocated", "stopped": "VM stopped",
                 "starting": "VM starting", "deallocating": "VM deallocating"}


def power_state(vm: dict) -> str:
    return vm.get("azemu:powerState", "running")


def _des_ref(managed: dict) -> Optional[str]:
    return (managed.get("diskEncryptionSet") or {}).get("id")


class _Plan:
    """Disk changes decided while validating a VM request, applied only once everything is valid."""

    def __init__(self) -> None:
        self.steps: list[Callable[[], None]] = []

    def add(self, step: Callable[[], None]) -> None:
        self.steps.append(step)

    def apply(self) -> None:
        for step in self.steps:
            step()


@registry.resource_type
class VirtualMachine(ResourceType):
    type_name = VM_TYPE
    name_pattern = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$"
    name_message = "The virtual machine name '{name}' is invalid."
    put_style = Lro.ASYNC
    patch_style = Lro.ASYNC
    delete_style = Lro.ASYNC
    created_status = 201
    updated_status = 200
    envelope_keys = ("location", "tags", "identity", "zones", "plan", "properties")

    def prepare(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        return self._build(ctx, target, existing, body)

    def prepare_patch(self, ctx: ArmContext, target: Target, existing: dict, body: dict) -> dict:
        merged = {key: copy.deepcopy(value) for key, value in existing.items() if key in self.envelope_keys}
        if "tags" in body:
            merged["tags"] = body["tags"] or {}
        if body.get("properties"):
            merged["properties"] = deep_merge(merged.get("properties") or {}, body["properties"])
        return self._build(ctx, target, existing, merged)

    # --- building --------------------------------------------------------------------------------
    def _build(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        resource = super().prepare(ctx, target, existing, body)
        properties = resource["properties"]
        before = (existing or {}).get("properties") or {}
        if existing and body.get("location") and body["location"].lower() != existing["location"].lower():
            raise HttpError(409, "PropertyChangeNotAllowed", "Changing property 'location' is not allowed.",
                            target="location")
        running = existing is not None and power_state(existing) != "deallocated"
        plan = _Plan()
        storage = copy.deepcopy(properties.get("storageProfile") or before.get("storageProfile") or {})
        before_storage = before.get("storageProfile") or {}
        if existing is None and not storage.get("osDisk") and not storage.get("imageReference"):
            raise invalid("Required parameter 'storageProfile.osDisk' or 'storageProfile.imageReference' is missing.",
                          target="storageProfile")
        storage["osDisk"] = self._os_disk(ctx, target, resource, storage.get("osDisk") or {},
                                          before_storage.get("osDisk"), existing, plan)
        storage["dataDisks"] = self._data_disks(ctx, target, resource, storage.get("dataDisks") or [],
                                                before_storage.get("dataDisks") or [], existing, plan)
        properties["storageProfile"] = storage

        host = bool((properties.get("securityProfile") or {}).get("encryptionAtHost", False))
        host_before = bool((before.get("securityProfile") or {}).get("encryptionAtHost", False))
        if existing is not None and running and host != host_before:
            raise HttpError(409, "OperationNotAllowed",
                            f"Changing property 'securityProfile.encryptionAtHost' of virtual machine '{target.name}' "
                            "is not allowed while the VM is running. Deallocate the virtual machine and retry.",
                            target="securityProfile.encryptionAtHost")
        properties.setdefault("vmId", before.get("vmId") or str(uuid.uuid4()))
        properties.setdefault("timeCreated", before.get("timeCreated") or cmk.iso_now())
        properties.pop("instanceView", None)
        if existing is not None:
            resource["azemu:powerState"] = power_state(existing)
        else:
            resource["azemu:powerState"] = "running"
        plan.apply()
        return resource

    def _vm_id(self, target: Target) -> str:
        return target.path

    def _disk_id(self, target: Target, name: str) -> str:
        group = f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}"
        return f"{group}/providers/Microsoft.Compute/disks/{name}"

    def _attach(self, ctx: ArmContext, target: Target, managed: dict, where: str) -> dict:
        disk = ctx.state.resources.get(managed.get("id") or "")
        if disk is None or disk.get("type", "").lower() != DISK_TYPE.lower():
            raise HttpError(404, "NotFound", f"The managed disk '{managed.get('id')}' was not found.",
                            target=f"{where}.managedDisk.id")
        owner = disk.get("managedBy")
        if owner and not cmk.same_id(owner, target.path):
            raise HttpError(409, "OperationNotAllowed",
                            f"Disk '{disk['name']}' is already attached to virtual machine '{owner}'.")
        return disk

    def _one_disk(self, ctx: ArmContext, target: Target, vm: dict, requested: dict, before: Optional[dict],
                  existing: Optional[dict], plan: _Plan, where: str, default_name: str, default_option: str) -> dict:
        """Validate one OS/data disk entry and plan its disk resource changes; returns the stored entry."""
        managed = copy.deepcopy(requested.get("managedDisk") or {})
        before_managed = (before or {}).get("managedDisk") or {}
        disk_id = managed.get("id") or before_managed.get("id")
        des_id = _des_ref(managed) if "diskEncryptionSet" in managed else None
        option = requested.get("createOption") or (before or {}).get("createOption") or default_option
        disk = ctx.state.resources.get(disk_id) if disk_id else None
        if disk is None and option.lower() == "attach":
            disk = self._attach(ctx, target, managed, where)
        if disk is None:  # implicitly created disk
            name = requested.get("name") or default_name
            disk_id = self._disk_id(target, name)
            if ctx.state.resources.get(disk_id) is not None:
                raise HttpError(409, "Conflict", f"A disk named '{name}' already exists in resource group "
                                                 f"'{target.resource_group}'.")
            encryption = resolve_encryption(ctx, vm["location"], {"diskEncryptionSetId": des_id} if des_id else None,
                                            target_prop=f"{where}.managedDisk.diskEncryptionSet")
            size = requested.get("diskSizeGB")
            sku = managed.get("storageAccountType")
            plan.add(lambda: new_disk(ctx, disk_id, vm["location"], encryption, size, option, sku, target.path))
            entry_disk = {"id": disk_id, "name": name, "encryption": encryption, "size": size or 30,
                          "sku": sku or "Premium_LRS"}
        else:
            self._attach(ctx, target, {"id": disk["id"]}, where)
            current = (disk.get("properties") or {}).get("encryption")
            if des_id is not None and not cmk.same_id(des_id, (current or {}).get("diskEncryptionSetId")):
                encryption = resolve_encryption(ctx, disk["location"], {"diskEncryptionSetId": des_id}, current,
                                                target_prop=f"{where}.managedDisk.diskEncryptionSet")
                if existing is not None and power_state(existing) != "deallocated" and disk.get("managedBy"):
                    refuse_while_running(ctx, disk)
            else:
                encryption = copy.deepcopy(current or {"type": "EncryptionAtRestWithPlatformKey"})

            def update() -> None:
                disk["properties"]["encryption"] = encryption
                disk["managedBy"] = target.path
                disk["properties"]["diskState"] = "Attached"
            plan.add(update)
            entry_disk = {"id": disk["id"], "name": disk["name"], "encryption": encryption,
                          "size": disk["properties"].get("diskSizeGB"), "sku": (disk.get("sku") or {}).get("name")}
        entry = {key: value for key, value in requested.items() if key not in ("managedDisk",)}
        entry.update({"name": entry_disk["name"], "createOption": option})
        entry.setdefault("caching", (before or {}).get("caching", "ReadWrite" if where == "osDisk" else "None"))
        entry.setdefault("deleteOption", (before or {}).get("deleteOption", "Detach"))
        entry["diskSizeGB"] = entry_disk["size"]
        entry["managedDisk"] = {"storageAccountType": entry_disk["sku"], "id": entry_disk["id"]}
        if entry_disk["encryption"].get("diskEncryptionSetId"):
            entry["managedDisk"]["diskEncryptionSet"] = {"id": entry_disk["encryption"]["diskEncryptionSetId"]}
        return entry

    def _os_disk(self, ctx: ArmContext, target: Target, vm: dict, requested: dict, before: Optional[dict],
                 existing: Optional[dict], plan: _Plan) -> dict:
        entry = self._one_disk(ctx, target, vm, requested, before, existing, plan, "osDisk",
                               f"{target.name}_OsDisk_1_{uuid.uuid4().hex}", "FromImage")
        entry.setdefault("osType", (before or {}).get("osType", "Linux"))
        return entry

    def _data_disks(self, ctx: ArmContext, target: Target, vm: dict, requested: list, before: list,
                    existing: Optional[dict], plan: _Plan) -> list:
        by_lun = {entry.get("lun"): entry for entry in before}
        result, seen = [], set()
        for entry in requested:
            lun = entry.get("lun")
            if lun is None:
                raise invalid("Required parameter 'dataDisks.lun' is missing (null).", target="dataDisks.lun")
            if lun in seen:
                raise invalid(f"Two data disks use lun {lun}.", target="dataDisks.lun")
            seen.add(lun)
            default_name = f"{target.name}_disk{lun + 2}_{uuid.uuid4().hex}"
            result.append(self._one_disk(ctx, target, vm, entry, by_lun.get(lun), existing, plan,
                                         f"dataDisks[{lun}]", default_name, "Empty"))
        for lun, entry in by_lun.items():
            if lun not in seen:
                plan.add(lambda entry=entry: self._detach(ctx, (entry.get("managedDisk") or {}).get("id")))
        return result

    @staticmethod
    def _detach(ctx: ArmContext, disk_id: Optional[str], delete: bool = False) -> None:
        disk = ctx.state.resources.get(disk_id or "")
        if disk is None:
            return
        if delete:
            ctx.state.resources.delete(disk["id"])
            return
        disk.pop("managedBy", None)
        disk["properties"]["diskState"] = "Unattached"

    # --- reading ---------------------------------------------------------------------------------

    def view(self, ctx: ArmContext, resource: dict) -> dict:
        body = cmk.strip_internal(resource)
        storage = body.get("properties", {}).get("storageProfile") or {}
        for entry in [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]:
            managed = entry.get("managedDisk") or {}
            disk = ctx.state.resources.get(managed.get("id") or "")
            if disk is None:
                continue
            des_id = ((disk.get("properties") or {}).get("encryption") or {}).get("diskEncryptionSetId")
            if des_id:
                managed["diskEncryptionSet"] = {"id": des_id}
            else:
                managed.pop("diskEncryptionSet", None)
        if "instanceview" in ctx.request.params.get("$expand", "").lower():
            body["properties"]["instanceView"] = instance_view(ctx, resource)
        return body

    def remove(self, ctx: ArmContext, target: Target, resource: dict) -> None:
        storage = (resource.get("properties") or {}).get("storageProfile") or {}
        for entry in [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]:
            self._detach(ctx, (entry.get("managedDisk") or {}).get("id"), entry.get("deleteOption") == "Delete")
        super().remove(ctx, target, resource)

    # --- power actions -----------------------------------------------------------------------------
    def action(self, ctx: ArmContext, target: Target, resource: Optional[dict], name: str) -> Response:
        transitions = {"deallocate": ("deallocating", "deallocated", "Reserved"),
                       "start": ("starting", "running", "Attached"),
                       "poweroff": ("stopping", "stopped", "Attached"),
                       "restart": ("starting", "running", "Attached")}
        step = transitions.get(name.lower())
        if step is None or resource is None:
            return super().action(ctx, target, resource, name)
        if name.lower() == "restart" and power_state(resource) == "deallocated":
            raise HttpError(409, "OperationNotAllowed",
                            "Operation 'restart' is not allowed on VM since the VM is deallocated.")
        final, disk_state = step[1:]

        def finish() -> None:
            resource["azemu:powerState"] = final
            storage = (resource.get("properties") or {}).get("storageProfile") or {}
            for entry in [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]:
                disk = ctx.state.resources.get((entry.get("managedDisk") or {}).get("id") or "")
                if disk is not None:
                    disk["properties"]["diskState"] = disk_state
        return ctx.services.arm.start_operation(ctx, parse_target(resource["id"]), Lro.ASYNC, finish,
                                                initial=None, status=202)


def instance_view(ctx: ArmContext, vm: dict) -> dict:
    state = power_state(vm)
    storage = (vm.get("properties") or {}).get("storageProfile") or {}
    disks = []
    for entry in [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]:
        if entry.get("name"):
            disks.append({"name": entry["name"], "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info",
                                                               "displayStatus": "Provisioning succeeded"}]})
    provisioning = vm["properties"].get("provisioningState", "Succeeded").lower()
    return {
        "computerName": vm["name"], "osName": "ubuntu", "disks": disks,
        "statuses": [
            {"code": f"ProvisioningState/{provisioning}", "level": "Info",
             "displayStatus": f"Provisioning {provisioning}"},
            {"code": f"PowerState/{state}", "level": "Info", "displayStatus": POWER_DISPLAY.get(state, state)},
        ],
    }


@registry.route("GET", r"(?P<vm>/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.compute/"
                       r"virtualmachines/[^/]+)/instanceview")
def get_instance_view(ctx: ArmContext, vm: str) -> Response:
    ctx.authorize(f"{VM_TYPE}/read", vm)
    resource = ctx.services.arm.existing(ctx, parse_target(vm))
    return json_response(200, instance_view(ctx, resource))
