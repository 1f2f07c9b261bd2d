"""Microsoft.KeyVault/vaults: vaults, access policies, soft delete (deletedVaults) and name checks.

The rules shared with managed HSMs (purge protection, soft delete, global names) live in
`SoftDeletableVault`, which `managedhsm.py` reuses.
"""
from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta, timezone
from typing import Optional

from ..arm import ArmContext, Lro, ResourceType, Target, bad_request, deep_merge, parse_target, registry
from ..http import HttpError, Response, json_response

VAULT_TYPE = "Microsoft.KeyVault/vaults"
DELETED_VAULT_TYPE = "Microsoft.KeyVault/deletedVaults"
_VAULT_NAME = r"^[a-zA-Z0-9-]{3,24}$"
_PURGE_FALSE = ('The property "enablePurgeProtection" cannot be set to false. Enabling the purge protection for a '
                'vault is an irreversible action.')
_SOFT_DELETE_FALSE = ('The property "enableSoftDelete" can be set to false only for creating new vault. Enabling '
                      "the 'soft delete' functionality is an irreversible action.")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class SoftDeletableVault(ResourceType):
    """A globally named vault-like resource with irreversible soft delete and purge protection."""

    name_pattern = _VAULT_NAME
    deleted_type = DELETED_VAULT_TYPE
    deleted_collection = "deletedVaults"
    id_property = "vaultId"

    def validate_name(self, ctx: ArmContext, target: Target) -> None:
        if not re.fullmatch(self.name_pattern, target.name):
            raise HttpError(400, "VaultNameNotValid",
                            f"The vault name '{target.name}' is invalid. A vault's name must be between 3-24 "
                            "alphanumeric characters. The name must begin with a letter, end with a letter or digit, "
                            "and not contain consecutive hyphens.")

    # --- global names --------------------------------------------------------------------------
    def same_name(self, ctx: ArmContext, name: str, exclude_id: str = "") -> Optional[dict]:
        for resource in ctx.state.resources.of_type(self.type_name):
            if resource["name"].lower() == name.lower() and resource["id"].lower() != exclude_id.lower():
                return resource
        return None

    def deleted(self, ctx: ArmContext, name: str) -> Optional[dict]:
        for record in ctx.state.resources.of_type(self.deleted_type):
            if record["name"].lower() == name.lower():
                return record
        return None

    def check_name_free(self, ctx: ArmContext, target: Target) -> None:
        if self.same_name(ctx, target.name, exclude_id=target.path):
            raise HttpError(409, "VaultAlreadyExists",
                            f"The vault name '{target.name}' is already in use. Vault names are globally unique so it "
                            "is possible that the name is already taken. If you are sure that the vault name was not "
                            "taken then it is possible that a vault with the same name was recently deleted but not "
                            "purged after being placed in a recoverable state. If the vault is in a recoverable state "
                            "then the vault will need to be purged before reusing the name.")
        if self.deleted(ctx, target.name):
            raise HttpError(409, "ConflictError", "Exist soft deleted vault with the same name.")

    # --- shared property rules -----------------------------------------------------------------
    @staticmethod
    def require_tenant(properties: dict) -> None:
        if not properties.get("tenantId"):
            raise bad_request("The parameter 'properties.tenantId' is required.", "BadRequest")

    @staticmethod
    def apply_protection_rules(properties: dict, before: Optional[dict]) -> None:
        """Purge protection can never be false; soft delete and purge protection are irreversible."""
        if properties.get("enablePurgeProtection") is False:
            raise bad_request(_PURGE_FALSE)
        if before is not None:
            if before.get("enableSoftDelete", True) and properties.get("enableSoftDelete") is False:
                raise bad_request(_SOFT_DELETE_FALSE)
            if before.get("enablePurgeProtection"):
                properties["enablePurgeProtection"] = True
            for irreversible in ("enableSoftDelete", "softDeleteRetentionInDays"):
                if irreversible in before:
                    properties.setdefault(irreversible, before[irreversible])
        properties.setdefault("enableSoftDelete", True)
        retention = properties.setdefault("softDeleteRetentionInDays", 90)
        if not isinstance(retention, int) or not 7 <= retention <= 90:
            raise bad_request("The property 'softDeleteRetentionInDays' must be between 7 and 90.")

    # --- soft delete ---------------------------------------------------------------------------
    def remove(self, ctx: ArmContext, target: Target, resource: dict) -> None:
        properties = resource.get("properties", {})
        ctx.state.resources.delete_tree(resource["id"])
        if not properties.get("enableSoftDelete", True):
            self.purge_data(ctx, resource["name"])
            return
        now = datetime.now(timezone.utc)
        retention = properties.get("softDeleteRetentionInDays", 90)
        subscription = target.subscription_id
        ctx.state.resources.put({
            "id": f"/subscriptions/{subscription}/providers/Microsoft.KeyVault/locations/{resource['location']}/"
                  f"{self.deleted_collection}/{resource['name']}",
            "name": resource["name"], "type": self.deleted_type,
            "properties": {
                self.id_property: resource["id"], "location": resource["location"], "deletionDate": _iso(now),
                "scheduledPurgeDate": _iso(now + timedelta(days=retention)), "tags": resource.get("tags", {}),
                "purgeProtectionEnabled": bool(properties.get("enablePurgeProtection")),
            },
            "azemu:resource": copy.deepcopy(resource),
        })

    def purge_data(self, ctx: ArmContext, name: str) -> None:
        """Forget data-plane objects of a purged vault (providers of the data plane register here)."""
        for namespace in ctx.state.data.values():
            namespace.pop(f"{self.type_name.lower()}:{name.lower()}", None)

    def recover(self, ctx: ArmContext, target: Target) -> dict:
        record = self.deleted(ctx, target.name)
        if record is None:
            raise HttpError(404, "ResourceNotFound",
                            f"The Resource '{self.deleted_type}/{target.name}' was not found. "
                            "For more details please go to https://aka.ms/ARMResourceNotFoundFix")
        ctx.state.resources.delete(record["id"])
        return copy.deepcopy(record["azemu:resource"])


@registry.resource_type
class Vault(SoftDeletableVault):
    type_name = VAULT_TYPE
    created_status = 200  # the SDK accepts 200/201 and real Key Vault answers synchronously

    def prepare(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        properties = copy.deepcopy(body.get("properties") or {})
        if properties.pop("createMode", "default") == "recover" and existing is None:
            return self.recover(ctx, target)
        resource = super().prepare(ctx, target, existing, body)
        if existing is None:
            self.check_name_free(ctx, target)
        before = (existing or {}).get("properties")
        resource["properties"] = properties
        self._validate(properties, before)
        self._defaults(ctx, target, properties, before)
        return resource

    def prepare_patch(self, ctx: ArmContext, target: Target, existing: dict, body: dict) -> dict:
        patch = copy.deepcopy(body.get("properties") or {})
        patch.pop("createMode", None)
        if patch.get("enablePurgeProtection") is False:
            raise bad_request(_PURGE_FALSE)
        resource = deep_merge(existing, {"properties": patch})
        if "tags" in body:
            resource["tags"] = body["tags"] or {}
        self._validate(resource["properties"], existing["properties"])
        return resource

    def _validate(self, properties: dict, before: Optional[dict]) -> None:
        self.require_tenant(properties)
        sku = properties.get("sku") or {}
        if sku.get("family", "A") != "A" or str(sku.get("name", "")).lower() not in ("standard", "premium"):
            raise bad_request("The parameter 'properties.sku' is required: family 'A', name 'standard' or 'premium'.")
        self.apply_protection_rules(properties, before)
        for entry in properties.get("accessPolicies") or []:
            validate_access_policy(entry)

    @staticmethod
    def _defaults(ctx: ArmContext, target: Target, properties: dict, before: Optional[dict]) -> None:
        rbac_default = before.get("enableRbacAuthorization", False) if before else True
        properties.setdefault("enableRbacAuthorization", rbac_default)
        properties.setdefault("accessPolicies", [])
        for flag in ("enabledForDeployment", "enabledForDiskEncryption", "enabledForTemplateDeployment"):
            properties.setdefault(flag, False)
        properties.setdefault("publicNetworkAccess", "Enabled")
        properties["vaultUri"] = f"https://{target.name}.{ctx.cloud.kv_suffix}/"

    def view(self, ctx: ArmContext, resource: dict) -> dict:
        return {key: copy.deepcopy(value) for key, value in resource.items() if not key.startswith("azemu:")}


def validate_access_policy(entry: dict) -> None:
    if not entry.get("tenantId") or not entry.get("objectId") or not isinstance(entry.get("permissions"), dict):
        raise bad_request("An access policy entry requires 'tenantId', 'objectId' and 'permissions'.")


# --- access policies ---------------------------------------------------------------------------------
_CATEGORIES = ("keys", "secrets", "certificates", "storage")


def _same_principal(a: dict, b: dict) -> bool:
    return (a.get("objectId", "").lower() == b.get("objectId", "").lower()
            and a.get("tenantId", "").lower() == b.get("tenantId", "").lower()
            and (a.get("applicationId") or "").lower() == (b.get("applicationId") or "").lower())


def _union(current: list[str], extra: list[str]) -> list[str]:
    seen = {item.lower() for item in current}
    return current + [item for item in extra if item.lower() not in seen and not seen.add(item.lower())]


def _merge_add(policies: list[dict], entry: dict) -> None:
    for policy in policies:
        if _same_principal(policy, entry):
            for category in _CATEGORIES:
                merged = _union(policy["permissions"].get(category) or [], entry["permissions"].get(category) or [])
                if merged:
                    policy["permissions"][category] = merged
            return
    policies.append(copy.deepcopy(entry))


def _merge_replace(policies: list[dict], entry: dict) -> None:
    for index, policy in enumerate(policies):
        if _same_principal(policy, entry):
            policies[index] = copy.deepcopy(entry)
            return
    policies.append(copy.deepcopy(entry))


def _merge_remove(policies: list[dict], entry: dict) -> None:
    for policy in list(policies):
        if not _same_principal(policy, entry):
            continue
        for category in _CATEGORIES:
            drop = {item.lower() for item in entry["permissions"].get(category) or []}
            kept = [item for item in policy["permissions"].get(category) or [] if item.lower() not in drop]
            policy["permissions"][category] = kept
        if not any(policy["permissions"].get(category) for category in _CATEGORIES):
            policies.remove(policy)


_MERGES = {"add": _merge_add, "replace": _merge_replace, "remove": _merge_remove}


@registry.route("PUT", r"(?P<vault>/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.keyvault/vaults/[^/]+)"
                       r"/accesspolicies/(?P<kind>[^/]+)")
def update_access_policies(ctx: ArmContext, vault: str, kind: str) -> Response:
    ctx.authorize("Microsoft.KeyVault/vaults/accessPolicies/write", vault)
    merge = _MERGES.get(kind.lower())
    if merge is None:
        raise bad_request(f"The access policy operation kind '{kind}' is invalid: use add, replace or remove.")
    resource = ctx.services.arm.existing(ctx, parse_target(vault))
    entries = (ctx.body().get("properties") or {}).get("accessPolicies") or []
    for entry in entries:
        validate_access_policy(entry)
    policies = resource["properties"].setdefault("accessPolicies", [])
    for entry in entries:
        merge(policies, entry)
    return json_response(200, {
        "id": f"{resource['id']}/accessPolicies/", "type": "Microsoft.KeyVault/vaults/accessPolicies",
        "location": resource.get("location"), "properties": {"accessPolicies": copy.deepcopy(entries)},
    })


# --- deleted vaults -----------------------------------------------------------------------------------
class DeletedVaultCollection(ResourceType):
    """`GET /subscriptions/{s}/providers/Microsoft.KeyVault/deletedVaults`."""
    type_name = DELETED_VAULT_TYPE
    tracked = False
    parent_is_resource = False

    def view(self, ctx: ArmContext, resource: dict) -> dict:
        return {key: copy.deepcopy(value) for key, value in resource.items() if not key.startswith("azemu:")}


class DeletedVaultAtLocation(DeletedVaultCollection):
    """`.../locations/{loc}/deletedVaults/{name}`: get, and `POST .../purge` (LRO)."""
    type_name = "Microsoft.KeyVault/locations/deletedVaults"
    owner_type = VAULT_TYPE

    def list(self, ctx: ArmContext, target: Target) -> list[dict]:
        return ctx.state.resources.of_type(DELETED_VAULT_TYPE, target.resource_id.rsplit("/providers/", 1)[0])

    def action(self, ctx: ArmContext, target: Target, resource: Optional[dict], name: str) -> Response:
        if name.lower() != "purge":
            return super().action(ctx, target, resource, name)
        if resource["properties"].get("purgeProtectionEnabled"):
            raise HttpError(409, "Conflict",
                            f"Vault '{resource['name']}' is protected by purge protection and cannot be purged before "
                            f"its scheduled purge date {resource['properties'].get('scheduledPurgeDate')}.")

        def finish() -> None:
            ctx.state.resources.delete(resource["id"])
            owner = registry.lookup(self.owner_type)
            owner.purge_data(ctx, resource["name"])
        return ctx.services.arm.start_operation(ctx, parse_target(resource["id"]), Lro.LOCATION, finish,
                                                initial=None, status=202)


registry.resource_type(DeletedVaultCollection)
registry.resource_type(DeletedVaultAtLocation)


@registry.resource_type
class VaultNameCheck(ResourceType):
    """`POST /subscriptions/{s}/providers/Microsoft.KeyVault/checkNameAvailability`."""
    type_name = "Microsoft.KeyVault/checkNameAvailability"
    tracked = False

    def action_permission(self, name: str) -> str:
        return "Microsoft.KeyVault/checkNameAvailability/read"

    def action_reads(self, name: str) -> bool:
        return True

    def action(self, ctx: ArmContext, target: Target, resource: Optional[dict], name: str) -> Response:
        wanted = str(ctx.body().get("name", ""))
        vault = registry.lookup(VAULT_TYPE)
        if not re.fullmatch(_VAULT_NAME, wanted):
            return json_response(200, {"nameAvailable": False, "reason": "AccountNameInvalid",
                                       "message": f"Vault name '{wanted}' is invalid."})
        if vault.same_name(ctx, wanted) or vault.deleted(ctx, wanted):
            return json_response(200, {"nameAvailable": False, "reason": "AlreadyExists",
                                       "message": f"The vault name '{wanted}' is already in use."})
        return json_response(200, {"nameAvailable": True})
