"""Microsoft.Sql/managedInstances with TDE keys (`keys`) and the TDE protector (`encryptionProtector/current`).

Wire contract (azure-rest.md §1.2/§9): instance PUT LRO 201/200, PATCH LRO 200, DELETE LRO; key PUT LRO
201/200, key DELETE 200; protector PUT LRO 200, GET (a new instance starts ServiceManaged).
Rules and error codes (from the Azure SQL REST error lists, statuses as documented there):
key name `<vault>_<key>_<version>` (`InvalidKeyName`), the key must exist
(409 `AzureKeyVaultKeyNameNotFound`), RSA 2048/3072 only (`AzureKeyVaultRsaKeyNotSupported`), vault with
purge protection (`SecurityInvalidAzureKeyVaultRecoveryLevel`), the instance identity
(`primaryUserAssignedIdentityId`, else the system-assigned one) must hold get/wrapKey/unwrapKey
(401 `AzureKeyVaultMissingPermissions`; no identity: 401 `AzureKeyVaultNoServerIdentity`); the protector can
only name a key added to the instance (404 `ServerKeyNotFound`); a key in use by the protector cannot be
deleted (409 `AzureKeyVaultKeyInUse`). With `autoRotationEnabled` the protector follows the newest key
version (the new version is added as a key of the instance), computed when read.
"""
from __future__ import annotations

import copy
import hashlib
from typing import Optional

from ..arm import ArmContext, Lro, ResourceType, Target, bad_request, deep_merge, registry
from ..http import HttpError
from . import cmk_common as cmk

MI_TYPE = "Microsoft.Sql/managedInstances"
KEY_TYPE = "Microsoft.Sql/managedInstances/keys"
PROTECTOR_TYPE = "Microsoft.Sql/managedInstances/encryptionProtector"
SERVICE_MANAGED = "ServiceManaged"
AKV = "AzureKeyVault"
SIZES = (2048, 3072)


def key_error(problem: cmk.KeyProblem) -> HttpError:
    reason = problem.reason
    if reason == "access":
        return HttpError(401, "AzureKeyVaultMissingPermissions",
                         "The server is missing required permissions on the Azure Key Vault. Grant the server identity "
                         "the Get, WrapKey and UnwrapKey permissions on the key (or the Key Vault Crypto Service "
                         "Encryption User role).")
    if reason in ("key_type", "key_size"):
        return HttpError(400, "AzureKeyVaultRsaKeyNotSupported",
                         "The provided key vault uses unsupported RSA Key Size or Key Type. The supported RSA key "
                         "sizes are 2048 and 3072 and Key Type is RSA or RSA-HSM.")
    if reason == "purge_protection":
        return HttpError(400, "SecurityInvalidAzureKeyVaultRecoveryLevel",
                         "The provided Key Vault uri is not valid. The key vault must have soft delete and purge "
                         "protection enabled.")
    if reason in ("key_not_found", "version_not_found"):
        return HttpError(409, "AzureKeyVaultKeyNameNotFound",
                         "The operation could not be completed because the Azure Key Vault Key name does not exist.")
    if reason in ("store_not_found", "bad_url"):
        return HttpError(400, "AzureKeyVaultInvalidUri",
                         "An invalid response from Azure Key Vault. Please use a valid Azure Key Vault URI.")
    if reason == "key_disabled":
        return HttpError(401, "AzureKeyVaultKeyDisabled",
                         "The operation could not be completed on the server because the Azure Key Vault key is "
                         "disabled.")
    if reason in ("key_expired", "key_not_active"):
        return HttpError(400, "AzureKeyVaultInvalidExpirationDate",
                         "The operation could not be completed because the Azure Key Vault key expiration date is "
                         "invalid.")
    if reason == "versionless":
        return HttpError(400, "InvalidKeyName", "An invalid value was given for the server key name.")
    return HttpError(400, "AzureKeyVaultInvalidUri", problem.detail)


def server_key_name(ref: cmk.KeyRef, version: str) -> str:
    return f"{ref.store_name}_{ref.name}_{version}"


def instance_principal(ctx: ArmContext, instance: dict) -> str:
    """The identity Azure SQL uses for the key: the primary user-assigned identity, else the system one."""
    identity = instance.get("identity") or {}
    primary = (instance.get("properties") or {}).get("primaryUserAssignedIdentityId")
    stored = cmk.find_uai_key(identity, primary) if primary else None
    if stored:
        return identity["userAssignedIdentities"][stored]["principalId"]
    if identity.get("principalId"):
        return identity["principalId"]
    raise HttpError(401, "AzureKeyVaultNoServerIdentity", "The server identity is not correctly configured.")


def check_instance_key(ctx: ArmContext, instance: dict, url: str, allow_versionless: bool = False) -> cmk.KeyFacts:
    principal = instance_principal(ctx, instance)
    try:
        return cmk.check_key(ctx, url, sizes=SIZES, allow_versionless=allow_versionless, principal=principal)
    except cmk.KeyProblem as problem:
        raise key_error(problem) from None


def thumbprint(url: str) -> str:
    return hashlib.sha1(url.lower().encode()).hexdigest().upper()


def key_body(instance_id: str, name: str, uri: str, auto_rotation: bool = False) -> dict:
    return {"id": f"{instance_id}/keys/{name}", "name": name, "type": KEY_TYPE, "kind": "azurekeyvault",
            "properties": {"serverKeyType": AKV, "uri": uri, "thumbprint": thumbprint(uri),
                           "creationDate": cmk.iso_now(), "autoRotationEnabled": auto_rotation,
                           "provisioningState": "Succeeded"}}


def protector_body(instance_id: str, key_name: str = SERVICE_MANAGED, uri: str = "", auto: bool = False) -> dict:
    properties = {"serverKeyName": key_name, "serverKeyType": AKV if uri else SERVICE_MANAGED,
                  "autoRotationEnabled": auto, "provisioningState": "Succeeded"}
    if uri:
        properties.update({"uri": uri, "thumbprint": thumbprint(uri)})
    return {"id": f"{instance_id}/encryptionProtector/current", "name": "current", "type": PROTECTOR_TYPE,
            "kind": "azurekeyvault" if uri else "servicemanaged", "properties": properties}


def ensure_key(ctx: ArmContext, instance_id: str, ref: cmk.KeyRef, version: str) -> dict:
    name = server_key_name(ref, version)
    existing = ctx.state.resources.get(f"{instance_id}/keys/{name}")
    return existing or ctx.state.resources.put(key_body(instance_id, name, ref.versioned(version)))


def refresh_protector(ctx: ArmContext, instance_id: str) -> Optional[dict]:
    """Auto-rotation: a protector with autoRotationEnabled moves to the newest version of its key."""
    protector = ctx.state.resources.get(f"{instance_id}/encryptionProtector/current")
    if protector is None:
        return None
    properties = protector["properties"]
    if not properties.get("autoRotationEnabled") or properties.get("serverKeyType") != AKV:
        return protector
    try:
        ref = cmk.parse_key_url(properties.get("uri", ""))
    except cmk.KeyProblem:
        return protector
    latest = cmk.latest_version(ctx, ref)
    if latest and latest.lower() != ref.version.lower():
        key = ensure_key(ctx, instance_id, ref, latest)
        key["properties"]["autoRotationEnabled"] = True
        protector.update(protector_body(instance_id, key["name"], key["properties"]["uri"], auto=True))
    return protector


@registry.resource_type
class ManagedInstance(cmk.SystemIdentityType):
    type_name = MI_TYPE
    name_pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
    name_message = "The managed instance name '{name}' is invalid: use lowercase letters, numbers and hyphens."
    put_style = Lro.ASYNC
    patch_style = Lro.ASYNC
    delete_style = Lro.ASYNC
    created_status = 201
    updated_status = 200
    envelope_keys = ("location", "tags", "sku", "identity", "properties")

    def prepare(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        return self._build(ctx, target, existing, body)

    def prepare_patch(self, ctx: ArmContext, target: Target, existing: dict, body: dict) -> dict:
        merged = {key: copy.deepcopy(value) for key, value in existing.items() if key in self.envelope_keys}
        for key in ("tags", "sku", "identity"):
            if key in body and body[key] is not None:
                merged[key] = copy.deepcopy(body[key])
        if body.get("properties"):
            merged["properties"] = deep_merge(merged.get("properties") or {}, body["properties"])
        return self._build(ctx, target, existing, merged)

    def _build(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        resource = super().prepare(ctx, target, existing, body)
        before = (existing or {}).get("properties") or {}
        properties = resource["properties"]
        identity = cmk.build_identity(ctx, target, body.get("identity"), (existing or {}).get("identity"))
        if identity is not None:
            resource["identity"] = identity
        uais = cmk.user_assigned_ids(identity)
        primary = properties.get("primaryUserAssignedIdentityId")
        if primary:
            stored = cmk.find_uai_key(identity, primary)
            if stored is None:
                raise bad_request(f"The primary user assigned identity '{primary}' is not one of the user assigned "
                                  "identities of the managed instance.", "InvalidPrimaryUserAssignedIdentityId")
            properties["primaryUserAssignedIdentityId"] = stored
        elif len(uais) == 1:
            properties["primaryUserAssignedIdentityId"] = uais[0]
        default_sku = {"name": "GP_Gen5", "tier": "GeneralPurpose", "family": "Gen5"}
        resource.setdefault("sku", (existing or {}).get("sku") or default_sku)
        properties.setdefault("administratorLogin", before.get("administratorLogin", "azureuser"))
        properties.pop("administratorLoginPassword", None)
        properties.setdefault("vCores", before.get("vCores", 8))
        properties.setdefault("storageSizeInGB", before.get("storageSizeInGB", 256))
        properties.setdefault("licenseType", before.get("licenseType", "LicenseIncluded"))
        properties["state"] = "Ready"
        properties["fullyQualifiedDomainName"] = f"{target.name}.{target.name[:6]}dns.database.windows.net"
        key_id = properties.get("keyId")
        if key_id and not cmk.same_id(key_id, before.get("keyId")):
            facts = check_instance_key(ctx, resource, key_id, allow_versionless=True)
            resource["azemu:keyId"] = (facts.ref.url, facts.version.version, not facts.ref.version)
        return resource

    def on_finish(self, ctx: ArmContext, resource: dict) -> None:
        super().on_finish(ctx, resource)
        instance_id = resource["id"]
        if ctx.state.resources.get(f"{instance_id}/encryptionProtector/current") is None:
            ctx.state.resources.put(protector_body(instance_id))
        pending = resource.pop("azemu:keyId", None)
        if pending:  # keyId: the instance adds the key and makes it its TDE protector
            url, version, auto = pending
            ref = cmk.parse_key_url(url)
            key = ensure_key(ctx, instance_id, ref, version)
            ctx.state.resources.put(protector_body(instance_id, key["name"], key["properties"]["uri"], auto=auto))

    def view(self, ctx: ArmContext, resource: dict) -> dict:
        body = cmk.strip_internal(resource)
        protector = refresh_protector(ctx, resource["id"])
        if protector and protector["properties"].get("serverKeyType") == AKV and body["properties"].get("keyId"):
            body["properties"]["keyId"] = protector["properties"]["uri"]
        return body


@registry.resource_type
class ManagedInstanceKey(ResourceType):
    type_name = KEY_TYPE
    tracked = False
    put_style = Lro.ASYNC
    delete_style = Lro.SYNC
    created_status = 201
    updated_status = 200
    envelope_keys = ("properties",)

    def prepare(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        requested = body.get("properties") or {}
        key_type = requested.get("serverKeyType")
        if key_type == SERVICE_MANAGED:
            raise bad_request("Service Managed type keys are managed by Azure SQL. This key type does not support "
                              "create or update by the user.", "InvalidUpsertKeyType")
        if key_type != AKV:
            raise bad_request("The create server key type is not supported.", "InvalidKeyType")
        uri = requested.get("uri") or ""
        if not uri:
            raise bad_request("The operation could not be completed because the Azure Key Vault Uri is null or empty.",
                              "SecurityAzureKeyVaultUrlNullOrEmpty")
        try:
            ref = cmk.parse_key_url(uri)
        except cmk.KeyProblem:
            raise bad_request("The provided Key Vault uri is not valid.", "AzureKeyVaultMalformedVaultUri") from None
        if not ref.version or target.name.lower() != server_key_name(ref, ref.version).lower():
            raise bad_request("An invalid value was given for the server key name. The name must be "
                              f"'<vault>_<key>_<version>' of the key uri, here "
                              f"'{server_key_name(ref, ref.version or '<version>')}'.", "InvalidKeyName")
        if existing is not None:
            if not cmk.same_id(existing["properties"].get("uri"), uri):
                raise HttpError(409, "ServerKeyNameAlreadyExists", "The server key already exists on the server.")
            return copy.deepcopy({key: existing[key] for key in ("kind", "properties")})
        instance = ctx.state.resources.get(target.parent_id)
        check_instance_key(ctx, instance, uri)
        for other in ctx.state.resources.of_type(KEY_TYPE, target.parent_id):
            if cmk.same_id(other["properties"].get("uri"), uri):
                raise HttpError(409, "ServerKeyUriAlreadyExists", "The server key URI already exists on the server.")
        body = key_body(target.parent_id, target.name, ref.url)
        return {"kind": body["kind"], "properties": body["properties"]}

    def view(self, ctx: ArmContext, resource: dict) -> dict:
        body = cmk.strip_internal(resource)
        protector = ctx.state.resources.get(f"{resource['id'].rsplit('/keys/', 1)[0]}/encryptionProtector/current")
        in_use = protector and protector["properties"].get("serverKeyName", "").lower() == resource["name"].lower()
        body["properties"]["autoRotationEnabled"] = bool(in_use and protector["properties"].get("autoRotationEnabled"))
        return body

    def remove(self, ctx: ArmContext, target: Target, resource: dict) -> None:
        protector = ctx.state.resources.get(f"{target.parent_id}/encryptionProtector/current")
        if protector and protector["properties"].get("serverKeyName", "").lower() == resource["name"].lower():
            raise HttpError(409, "AzureKeyVaultKeyInUse", "The key is currently being used by the server.")
        super().remove(ctx, target, resource)


@registry.resource_type
class EncryptionProtector(ResourceType):
    type_name = PROTECTOR_TYPE
    tracked = False
    put_style = Lro.ASYNC
    created_status = 200
    updated_status = 200
    envelope_keys = ("properties",)

    def validate_name(self, ctx: ArmContext, target: Target) -> None:
        if target.name != "current":
            raise bad_request("The encryption protector key name is not supported.", "InvalidEncryptionProtectorName")

    def prepare(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        requested = body.get("properties") or {}
        instance_id = target.parent_id
        key_type = requested.get("serverKeyType")
        auto = bool(requested.get("autoRotationEnabled", False))
        if key_type == SERVICE_MANAGED:
            reverted = protector_body(instance_id)
            return {"kind": reverted["kind"], "properties": reverted["properties"]}
        if key_type != AKV:
            raise bad_request("The create server key type is not supported.", "InvalidKeyType")
        name = requested.get("serverKeyName") or ""
        key = ctx.state.resources.get(f"{instance_id}/keys/{name}") if name else None
        if key is None:
            # The TDE troubleshooting page lists both 404 ServerKeyNotFound and 409 ServerKeyDoesNotExists for a
            # missing key; which one a managed instance's protector PUT returns is UNVERIFIED.
            raise HttpError(404, "ServerKeyNotFound",
                            f"The requested server key '{name}' was not found on the current subscription. Add the key "
                            "to the managed instance (managedInstances/keys) before making it the TDE protector.")
        uri = key["properties"]["uri"]
        check_instance_key(ctx, ctx.state.resources.get(instance_id), uri)
        chosen = protector_body(instance_id, key["name"], uri, auto=auto)
        return {"kind": chosen["kind"], "properties": chosen["properties"]}

    def view(self, ctx: ArmContext, resource: dict) -> dict:
        refresh_protector(ctx, resource["id"].rsplit("/encryptionProtector/", 1)[0])
        return cmk.strip_internal(resource)
