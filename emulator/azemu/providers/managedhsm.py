"""Microsoft.KeyVault/managedHSMs: long-running create/update/delete (202 + Location), soft delete."""
from __future__ import annotations

import copy
from typing import Optional

from ..arm import ArmContext, Lro, Target, bad_request, deep_merge, registry
from .keyvault import DeletedVaultAtLocation, DeletedVaultCollection, SoftDeletableVault

HSM_TYPE = "Microsoft.KeyVault/managedHSMs"
DELETED_HSM_TYPE = "Microsoft.KeyVault/deletedManagedHSMs"
_SKUS = {"standard_b1", "custom_b32", "custom_b6", "custom_c42", "custom_c10", "standard_b1v2", "standard_b5v2",
         "standard_b10v2", "standard_b15v2", "standard_b20v2"}


@registry.resource_type
class ManagedHsm(SoftDeletableVault):
    type_name = HSM_TYPE
    put_style = patch_style = delete_style = Lro.LOCATION
    creating_state = "Provisioning"
    deleted_type = DELETED_HSM_TYPE
    deleted_collection = "deletedManagedHSMs"
    id_property = "mhsmId"

    def prepare(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        resource = super().prepare(ctx, target, existing, body)
        if existing is None:
            self.check_name_free(ctx, target)
        before = (existing or {}).get("properties")
        properties = resource["properties"]
        properties.pop("createMode", None)
        self._validate(resource, before)
        properties.setdefault("publicNetworkAccess", "Enabled")
        properties["hsmUri"] = before.get("hsmUri") if before else None
        properties["statusMessage"] = "Allocating hardware" if existing is None else "Updating the HSM pool"
        return resource

    def prepare_patch(self, ctx: ArmContext, target: Target, existing: dict, body: dict) -> dict:
        patch = {key: copy.deepcopy(body[key]) for key in ("properties", "tags", "sku") if key in body}
        if (patch.get("properties") or {}).get("enablePurgeProtection") is False:
            raise bad_request('The property "enablePurgeProtection" cannot be set to false.')
        resource = deep_merge(existing, patch)
        self._validate(resource, existing["properties"])
        return resource

    def _validate(self, resource: dict, before: Optional[dict]) -> None:
        properties = resource["properties"]
        self.require_tenant(properties)
        sku = resource.get("sku") or {}
        if sku.get("family") not in ("B", "C") or str(sku.get("name", "")).lower() not in _SKUS:
            raise bad_request("The parameter 'sku' is invalid: family 'B' (or 'C') and a managed HSM sku name.")
        admins = properties.get("initialAdminObjectIds")
        if not admins or not isinstance(admins, list):
            raise bad_request("The parameter 'properties.initialAdminObjectIds' must contain at least one object id.")
        self.apply_protection_rules(properties, before)

    def on_finish(self, ctx: ArmContext, resource: dict) -> None:
        properties = resource["properties"]
        properties["hsmUri"] = f"https://{resource['name']}.{ctx.cloud.mhsm_suffix}/"
        properties["statusMessage"] = "The Managed HSM is provisioned and ready to use."
        properties.setdefault("securityDomainProperties", {"activationStatus": "Active",
                                                           "activationStatusMessage": "Your HSM has been activated."})


class DeletedHsmCollection(DeletedVaultCollection):
    type_name = DELETED_HSM_TYPE


class DeletedHsmAtLocation(DeletedVaultAtLocation):
    type_name = "Microsoft.KeyVault/locations/deletedManagedHSMs"
    owner_type = HSM_TYPE

    def list(self, ctx: ArmContext, target: Target) -> list[dict]:
        return ctx.state.resources.of_type(DELETED_HSM_TYPE, target.resource_id.rsplit("/providers/", 1)[0])


registry.resource_type(DeletedHsmCollection)
registry.resource_type(DeletedHsmAtLocation)
