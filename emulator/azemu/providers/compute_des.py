"""Microsoft.Compute/diskEncryptionSets: CMK key, identity, encryption type, automatic key rotation.

Wire contract (azure-rest.md §1.2/§6): PUT and PATCH are LROs answered 202/200 with Azure-AsyncOperation,
DELETE is an LRO. Rules: the key must be an enabled RSA 2048/3072/4096 key in a vault or managed HSM
with soft delete (purge protection is NOT required: Azure accepts a DES whose vault lacks it, see
Terraform's TestAccDiskEncryptionSet_disablePurgeProtection and hashicorp/terraform-provider-azurerm#20250 /
#20253), and the DES identity must hold get/wrapKey/unwrapKey on it
(`KeyVaultAccessForbidden` otherwise). With `rotationToLatestKeyVersionEnabled` the DES follows new key
versions: computed when the DES is read (`activeKey.keyUrl` is the newest version, the previous key
moves to `previousKeys`).
"""
from __future__ import annotations

import copy
from typing import Optional

from ..arm import ArmContext, Lro, Target, deep_merge, registry
from ..http import HttpError
from . import cmk_common as cmk

DES_TYPE = "Microsoft.Compute/diskEncryptionSets"
ENCRYPTION_TYPES = ("EncryptionAtRestWithCustomerKey", "EncryptionAtRestWithPlatformAndCustomerKeys",
                    "ConfidentialVmEncryptedWithCustomerKey")
KEY_ACCESS_HELP = "Please visit https://aka.ms/keyvaultaccessssecmk for more information."


def invalid(message: str, target: Optional[str] = None) -> HttpError:
    return HttpError(400, "InvalidParameter", message, target=target)


def change_not_allowed(prop: str, status: int = 409) -> HttpError:
    # Compute's immutable-property envelope {code, message "Changing property '<p>' is not allowed.", target}
    # (Azure/aks-engine#2563, a Compute deployment error); the status for a DES is UNVERIFIED.
    return HttpError(status, "PropertyChangeNotAllowed", f"Changing property '{prop}' is not allowed.", target=prop)


def access_forbidden(key_url: str, who: str) -> HttpError:
    return HttpError(400, "KeyVaultAccessForbidden",
                     f"Unable to access key vault resource '{key_url}' to enable encryption at rest. Please grant get, "
                     f"wrap and unwrap key permissions to {who}. {KEY_ACCESS_HELP}")


def key_error(problem: cmk.KeyProblem, who: str) -> HttpError:
    """What Compute answers for each broken link of the key chain (only the access error is verified)."""
    url = problem.url
    if problem.reason == "access":
        return access_forbidden(url, who)
    messages = {
        "bad_url": f"The value '{url}' of parameter 'keyUrl' is not a valid key URL.",
        "store_not_found": f"The key vault of key '{url}' was not found.",
        "purge_protection": (f"The key vault of key '{url}' must have soft delete enabled to be used for encryption "
                             "at rest with customer-managed keys."),
        "key_not_found": f"The key '{url}' was not found.",
        "version_not_found": f"The key '{url}' was not found.",
        "versionless": (f"The key URL '{url}' must be fully versioned unless rotationToLatestKeyVersionEnabled is "
                        "true."),
        "key_type": f"The key '{url}' is of an unsupported type: only RSA and RSA-HSM keys are supported.",
        "key_size": f"The key '{url}' has an unsupported size: only RSA keys of size 2048, 3072 or 4096 are supported.",
        "key_disabled": f"The key '{url}' is disabled.",
        "key_not_active": f"The key '{url}' is not yet active.",
        "key_expired": f"The key '{url}' has expired.",
        "key_ops": f"The key '{url}' must allow the wrapKey and unwrapKey operations.",
    }
    return invalid(messages.get(problem.reason, problem.detail), target="activeKey.keyUrl")


def des_principal(resource: dict) -> tuple[Optional[str], str]:
    """(principal id, how Compute names it in errors) of the identity the DES uses to reach its key:
    the user-assigned identity when there is one, else the system-assigned identity."""
    identity = resource.get("identity") or {}
    uais = identity.get("userAssignedIdentities") or {}
    if uais:
        uai_id, info = next(iter(uais.items()))
        return info.get("principalId"), f"user-assigned identity '{uai_id}'"
    return identity.get("principalId"), f"disk encryption set '{resource['name']}'"


def check_des_access(ctx: ArmContext, des: dict) -> None:
    """Raises KeyVaultAccessForbidden unless the DES identity can use its active key (used by disks/VMs/AKS)."""
    key_url = ((des.get("properties") or {}).get("activeKey") or {}).get("keyUrl", "")
    principal, who = des_principal(des)
    try:
        cmk.check_key(ctx, key_url, principal=principal or "", require_purge=False, check_ops=False)
    except cmk.KeyProblem as problem:
        raise key_error(problem, who) from None


def remember_previous(properties: dict, key: dict) -> None:
    previous = properties.setdefault("previousKeys", [])
    if all(entry.get("keyUrl", "").lower() != key.get("keyUrl", "").lower() for entry in previous):
        previous.append(copy.deepcopy(key))


def refresh_rotation(ctx: ArmContext, des: dict) -> None:
    """Automatic key rotation, computed lazily: a newer key version becomes the active key."""
    properties = des.get("properties") or {}
    if not properties.get("rotationToLatestKeyVersionEnabled"):
        return
    active = properties.get("activeKey") or {}
    try:
        ref = cmk.parse_key_url(active.get("keyUrl", ""))
    except cmk.KeyProblem:
        return
    latest = cmk.latest_version(ctx, ref)
    if latest and latest.lower() != ref.version.lower():
        remember_previous(properties, active)
        properties["activeKey"] = {**active, "keyUrl": ref.versioned(latest)}
        properties["lastKeyRotationTimestamp"] = cmk.iso_now()


@registry.resource_type
class DiskEncryptionSet(cmk.SystemIdentityType):
    type_name = DES_TYPE
    name_pattern = r"^[a-zA-Z0-9_-]{1,80}$"
    name_message = ("The disk encryption set name '{name}' is invalid: use 1-80 letters, numbers, underscores and "
                    "hyphens.")
    put_style = Lro.ASYNC
    patch_style = Lro.ASYNC
    delete_style = Lro.ASYNC
    created_status = 202
    updated_status = 200
    envelope_keys = ("location", "tags", "identity", "properties")

    def prepare(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        return self._build(ctx, target, existing, body)

    def prepare_patch(self, ctx: ArmContext, target: Target, existing: dict, body: dict) -> dict:
        merged = {key: copy.deepcopy(value) for key, value in existing.items() if key in self.envelope_keys}
        if "tags" in body:
            merged["tags"] = body["tags"] or {}
        if "identity" in body and body["identity"] is not None:
            merged["identity"] = body["identity"]
        if body.get("properties"):
            merged["properties"] = deep_merge(merged.get("properties") or {}, body["properties"])
        return self._build(ctx, target, existing, merged)

    def _build(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        resource = super().prepare(ctx, target, existing, body)
        before = (existing or {}).get("properties") or {}
        requested = copy.deepcopy(body.get("properties") or {})
        if existing and body.get("location") and body["location"].lower() != existing["location"].lower():
            raise change_not_allowed("location")
        resource["identity"] = self._identity(ctx, target, existing, body)

        encryption_type = requested.get("encryptionType") or before.get("encryptionType") or ENCRYPTION_TYPES[0]
        if encryption_type not in ENCRYPTION_TYPES:
            raise invalid(f"The value '{encryption_type}' of parameter 'encryptionType' is not valid. Allowed values: "
                          f"{', '.join(ENCRYPTION_TYPES)}.", target="encryptionType")
        if existing and encryption_type != before.get("encryptionType"):
            raise change_not_allowed("encryptionType")

        rotation = bool(requested.get("rotationToLatestKeyVersionEnabled",
                                      before.get("rotationToLatestKeyVersionEnabled", False)))
        active = requested.get("activeKey") or {}
        if not active.get("keyUrl"):
            raise invalid("Required parameter 'activeKey.keyUrl' is missing (null).", target="activeKey.keyUrl")
        resource["properties"] = properties = {
            "encryptionType": encryption_type,
            "rotationToLatestKeyVersionEnabled": rotation,
            "previousKeys": copy.deepcopy(before.get("previousKeys") or []),
        }
        federated = requested.get("federatedClientId", before.get("federatedClientId"))
        if federated and federated != "None":
            properties["federatedClientId"] = federated
        if before.get("lastKeyRotationTimestamp"):
            properties["lastKeyRotationTimestamp"] = before["lastKeyRotationTimestamp"]

        facts = self._check_key(ctx, target, existing, resource, active.get("keyUrl"), rotation)
        source_vault = (active.get("sourceVault") or {}).get("id")
        if source_vault and not cmk.same_id(source_vault, facts.store["id"]):
            raise invalid(f"The key '{active['keyUrl']}' does not belong to the source vault '{source_vault}'.",
                          target="activeKey.sourceVault.id")
        old_active = before.get("activeKey")
        url = facts.versioned_url
        if rotation and old_active and old_active.get("keyUrl", "").lower().startswith(facts.ref.base.lower() + "/"):
            url = facts.latest_url  # with rotation on, the DES already uses the newest version of the same key
        new_active = {"keyUrl": url}
        if facts.ref.kind == "kv":
            new_active["sourceVault"] = {"id": source_vault or facts.store["id"]}
        if old_active and old_active.get("keyUrl", "").lower() != new_active["keyUrl"].lower():
            remember_previous(properties, old_active)
            properties["lastKeyRotationTimestamp"] = cmk.iso_now()
        properties["activeKey"] = new_active
        return resource

    def _identity(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        before = (existing or {}).get("identity")
        identity = cmk.build_identity(ctx, target, body.get("identity"), before)
        if not identity or identity.get("type") == "None":
            raise invalid("A disk encryption set requires a managed identity: set identity.type to 'SystemAssigned', "
                          "'UserAssigned' or 'SystemAssigned, UserAssigned'.", target="identity")
        kinds, old_kinds = cmk.identity_kinds(identity), cmk.identity_kinds(before)
        if "userassigned" in old_kinds and kinds == {"systemassigned"}:
            raise HttpError(400, "PropertyChangeNotAllowed",
                            "Changing property 'identity.type' from 'UserAssigned' to 'SystemAssigned' is not allowed. "
                            "Keep the user-assigned identity or recreate the disk encryption set.",
                            target="identity.type")
        if len(cmk.user_assigned_ids(identity)) > 1:
            raise invalid("A disk encryption set supports only one user-assigned identity.", target="identity")
        return identity

    def _check_key(self, ctx: ArmContext, target: Target, existing: Optional[dict], resource: dict, key_url: str,
                   rotation: bool) -> cmk.KeyFacts:
        principal, who = des_principal({**resource, "name": target.name})
        # A system-assigned identity created by this very request cannot have been granted anything yet:
        # Azure lets the DES be created and fails later (disk/VM creation) until access is granted.
        new_system = (not cmk.user_assigned_ids(resource["identity"])
                      and not cmk.same_id(principal, ((existing or {}).get("identity") or {}).get("principalId")))
        try:
            # Purge protection is not required (Azure accepts the DES; Terraform's acceptance test
            # TestAccDiskEncryptionSet_disablePurgeProtection creates one); soft delete still is (UNVERIFIED:
            # no vault created today lacks it).
            return cmk.check_key(ctx, key_url, allow_versionless=rotation, require_purge=False, require_soft_delete=True,
                                 principal=None if new_system else principal)
        except cmk.KeyProblem as problem:
            raise key_error(problem, who) from None

    def view(self, ctx: ArmContext, resource: dict) -> dict:
        refresh_rotation(ctx, resource)
        return cmk.strip_internal(resource)


@registry.route("GET", r"(?P<des>/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.compute/"
                       r"diskencryptionsets/[^/]+)/associatedresources")
def associated_resources(ctx: ArmContext, des: str):
    """`GET .../diskEncryptionSets/{name}/associatedResources`: the ids of disks encrypted with the DES."""
    from ..arm import paged, parse_target
    ctx.authorize(f"{DES_TYPE}/read", des)
    found = ctx.services.arm.existing(ctx, parse_target(des))
    disks = [disk["id"] for disk in ctx.state.resources.of_type("Microsoft.Compute/disks")
             if cmk.same_id(((disk.get("properties") or {}).get("encryption") or {}).get("diskEncryptionSetId"),
                            found["id"])]
    return paged(ctx, disks)
