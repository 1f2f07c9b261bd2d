"""Microsoft.ContainerInstance/containerGroups with customer-managed key encryption of the deployment data.

Wire contract (azure-rest.md §1.2/§10): PUT LRO 201/200 + Azure-AsyncOperation, PATCH (tags only) 200,
DELETE LRO. `properties.encryptionProperties{vaultBaseUrl, keyName, keyVersion, identity}`: all three key
fields required (a versioned key: ACI has no key rotation), Key Vault only (a Managed HSM URL is rejected),
and the identity (a user-assigned identity of the group, or the ACI first-party principal when `identity`
is omitted) needs get, wrapKey and unwrapKey. The encryption settings (and the identity) are set only at
deployment: changing them on an existing group is `InvalidContainerGroupUpdate` (delete and recreate).
Purge protection is recommended, not required, for ACI, so it is not enforced.
"""
from __future__ import annotations

import copy
from typing import Optional

from ..arm import ArmContext, Lro, ResourceType, Target, bad_request, registry
from ..http import HttpError
from . import cmk_common as cmk

GROUP_TYPE = "Microsoft.ContainerInstance/containerGroups"
ACI_FIRST_PARTY_APP_ID = "6bb8e274-af5d-4df2-98a3-4fd78b4cafd9"


def invalid_encryption(message: str) -> HttpError:
    return HttpError(400, "InvalidEncryptionProperties", message)


def key_error(problem: cmk.KeyProblem) -> HttpError:
    """ACI's answers per broken link (codes UNVERIFIED: no public log shows ACI's codes for a bad or unreachable
    key; the messages say what is wrong)."""
    if problem.reason == "hsm_not_supported":
        return invalid_encryption(f"The key vault URL '{problem.url}' is a Managed HSM. Azure Container Instances "
                                  "supports customer-managed keys in Azure Key Vault only; Managed HSM is not "
                                  "supported.")
    if problem.reason == "access":
        return HttpError(400, "KeyVaultAccessDenied",
                         f"The container group identity does not have permissions on the key '{problem.url}'. Grant "
                         "it the get, wrapKey and unwrapKey key permissions.")
    if problem.reason in ("key_not_found", "version_not_found", "store_not_found", "bad_url"):
        return invalid_encryption(f"The key '{problem.url}' was not found in the key vault.")
    return invalid_encryption(f"The key '{problem.url}' cannot be used for encryption: {problem.detail}")


def immutable_update(name: str) -> HttpError:
    # Code and sentence shape as a real deployment shows them for the documented immutable properties (os type,
    # restart policy, ...); that encryption settings are create-only: "The API only allows setting it on creation,
    # update is not supported" (hashicorp/terraform-provider-azurerm#16709). The code for *this* change: UNVERIFIED.
    return HttpError(409, "InvalidContainerGroupUpdate",
                     f"The updates on container group '{name}' are invalid. The encryption properties and identity of "
                     "a container group can only be set at deployment: you must delete it first and then create a "
                     "new one.")


@registry.resource_type
class ContainerGroup(ResourceType):
    type_name = GROUP_TYPE
    name_pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
    name_message = ("The container group name '{name}' is invalid: use lowercase letters, numbers and hyphens, "
                    "starting and ending with a letter or number (at most 63 characters).")
    put_style = Lro.ASYNC
    patch_style = Lro.SYNC
    delete_style = Lro.ASYNC
    created_status = 201
    updated_status = 200
    envelope_keys = ("location", "tags", "identity", "zones", "properties")

    def prepare(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        resource = super().prepare(ctx, target, existing, body)
        properties = resource["properties"]
        before = (existing or {}).get("properties") or {}
        if not properties.get("containers"):
            raise bad_request("The container group must have at least one container in 'properties.containers'.",
                              "InvalidContainerGroup")
        if properties.get("osType") not in ("Linux", "Windows"):
            raise bad_request("The property 'osType' is required: 'Linux' or 'Windows'.", "InvalidOsType")
        identity = cmk.build_identity(ctx, target, body.get("identity"), None)
        if identity is not None:
            resource["identity"] = identity
        encryption = properties.get("encryptionProperties")
        if existing is not None:
            if self._encryption_key(encryption) != self._encryption_key(before.get("encryptionProperties")) or \
                    self._identity_key(identity) != self._identity_key(existing.get("identity")):
                raise immutable_update(target.name)
            if identity is not None:
                resource["identity"] = copy.deepcopy(existing["identity"])
            if before.get("osType") != properties.get("osType"):
                raise immutable_update(target.name)
        elif encryption is not None:
            properties["encryptionProperties"] = self._check_encryption(ctx, resource, encryption)
        properties.setdefault("sku", "Standard")
        properties.setdefault("restartPolicy", before.get("restartPolicy", "Always"))
        properties["instanceView"] = {"state": "Running", "events": []}
        for container in properties["containers"]:
            container.setdefault("properties", {}).setdefault("instanceView", {
                "restartCount": 0, "currentState": {"state": "Running", "detailStatus": ""}})
        return resource

    @staticmethod
    def _encryption_key(encryption: Optional[dict]) -> tuple:
        encryption = encryption or {}
        return (str(encryption.get("vaultBaseUrl", "")).rstrip("/").lower(), str(encryption.get("keyName", "")).lower(),
                str(encryption.get("keyVersion", "")).lower(), str(encryption.get("identity") or "").lower())

    @staticmethod
    def _identity_key(identity: Optional[dict]) -> tuple:
        return (tuple(sorted(cmk.identity_kinds(identity))),
                tuple(sorted(uid.lower() for uid in cmk.user_assigned_ids(identity))))

    def _check_encryption(self, ctx: ArmContext, resource: dict, encryption: dict) -> dict:
        missing = [name for name in ("vaultBaseUrl", "keyName", "keyVersion") if not encryption.get(name)]
        if missing:
            raise invalid_encryption(f"The encryption properties are missing: {', '.join(missing)}. A container group "
                                     "needs a versioned key (vaultBaseUrl, keyName and keyVersion).")
        uai = encryption.get("identity")
        identity = resource.get("identity")
        if uai:
            stored = cmk.find_uai_key(identity, uai)
            if stored is None:
                raise invalid_encryption(f"The identity '{uai}' in the encryption properties must be one of the "
                                         "user-assigned identities of the container group.")
            principal = identity["userAssignedIdentities"][stored]["principalId"]
        else:
            first_party = ctx.state.find_principal(client_id=ACI_FIRST_PARTY_APP_ID)
            principal = first_party.object_id if first_party else ""
        try:
            ref = cmk.key_ref_from_parts(encryption["vaultBaseUrl"], encryption["keyName"], encryption["keyVersion"])
            cmk.check_key(ctx, ref, allow_hsm=False, allow_versionless=False, require_purge=False, principal=principal)
        except cmk.KeyProblem as problem:
            raise key_error(problem) from None
        return copy.deepcopy(encryption)

    def prepare_patch(self, ctx: ArmContext, target: Target, existing: dict, body: dict) -> dict:
        """`container_groups.update`: tags only."""
        resource = copy.deepcopy(existing)
        if "tags" in body:
            resource["tags"] = body["tags"] or {}
        return resource

    def view(self, ctx: ArmContext, resource: dict) -> dict:
        return cmk.strip_internal(resource)
