"""Keys of vaults and managed HSMs: the model shared by the data planes and the ARM `keys` resources.

Keys live in the state namespace `keyvault.keys` under `<owner type>:<owner name>` (the key the
vault providers' `purge_data` drops). Key material is one real key pair per RSA size / EC curve,
generated once per process: public parts are real, wrap/unwrap really use RSA-OAEP.
"""
from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ..http import HttpError
from ..identity import b64url

NAMESPACE = "keyvault.keys"
KEY_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
RSA_SIZES = (2048, 3072, 4096)
CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1, "P-256K": ec.SECP256K1}
DEFAULT_OPS = {"RSA": ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"], "EC": ["sign", "verify"],
               "oct": ["encrypt", "decrypt", "wrapKey", "unwrapKey"]}
_material: dict[object, object] = {}
_material_lock = threading.Lock()


def private_key(kty: str, size: Optional[int], crv: Optional[str]):
    """The process-wide key pair for an RSA size or EC curve (generating 4096-bit keys is slow)."""
    family = kty.replace("-HSM", "")
    cache_key = (family, size if family == "RSA" else crv)
    with _material_lock:
        if cache_key not in _material:
            _material[cache_key] = (rsa.generate_private_key(65537, size) if family == "RSA"
                                    else ec.generate_private_key(CURVES[crv]()) if family == "EC"
                                    else secrets.token_bytes(32))
        return _material[cache_key]


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def bad_parameter(message: str, inner: Optional[str] = None) -> HttpError:
    return HttpError(400, "BadParameter", message, inner=inner)


@dataclass
class KeyVersion:
    version: str
    kty: str
    key_ops: list[str]
    size: Optional[int] = None
    crv: Optional[str] = None
    attributes: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)

    def jwk(self, kid: str) -> dict:
        jwk = {"kid": kid, "kty": self.kty, "key_ops": list(self.key_ops)}
        material = private_key(self.kty, self.size, self.crv)
        family = self.kty.replace("-HSM", "")
        if family == "RSA":
            numbers = material.public_key().public_numbers()
            jwk.update(n=_int_b64(numbers.n), e=_int_b64(numbers.e))
        elif family == "EC":
            numbers = material.public_key().public_numbers()
            size = (material.curve.key_size + 7) // 8
            jwk.update(crv=self.crv, x=b64url(numbers.x.to_bytes(size, "big")), y=b64url(numbers.y.to_bytes(size, "big")))
        return jwk

    @property
    def usable(self) -> bool:
        now = time.time()
        attributes = self.attributes
        return (attributes.get("enabled", True) and (attributes.get("nbf") or 0) <= now
                and (attributes.get("exp") or now + 1) > now)

    def to_dict(self) -> dict:
        return {"version": self.version, "kty": self.kty, "key_ops": self.key_ops, "size": self.size,
                "crv": self.crv, "attributes": self.attributes, "tags": self.tags}


@dataclass
class Key:
    name: str
    versions: list[KeyVersion] = field(default_factory=list)
    rotation_policy: Optional[dict] = None
    deleted_on: Optional[int] = None

    @property
    def latest(self) -> KeyVersion:
        return self.versions[-1]

    def version(self, version: str) -> Optional[KeyVersion]:
        if not version:
            return self.latest
        return next((v for v in self.versions if v.version.lower() == version.lower()), None)

    def to_dict(self) -> dict:
        return {"name": self.name, "versions": [v.to_dict() for v in self.versions],
                "rotation_policy": self.rotation_policy, "deleted_on": self.deleted_on}


@dataclass
class KeyRing:
    """The keys of one vault or managed HSM."""
    keys: dict[str, Key] = field(default_factory=dict)
    deleted: dict[str, Key] = field(default_factory=dict)

    def get(self, name: str) -> Optional[Key]:
        return self.keys.get(name.lower())

    def to_dict(self) -> dict:
        return {"keys": {k: v.to_dict() for k, v in self.keys.items()},
                "deleted": {k: v.to_dict() for k, v in self.deleted.items()}}


def key_ring(state, owner: dict) -> KeyRing:
    return state.namespace(NAMESPACE).setdefault(f"{owner['type'].lower()}:{owner['name'].lower()}", KeyRing())


def is_hsm_owner(owner: dict) -> bool:
    return owner["type"].lower() == "microsoft.keyvault/managedhsms"


def recovery_attributes(owner: dict) -> dict:
    properties = owner.get("properties", {})
    days = properties.get("softDeleteRetentionInDays", 90)
    level = "Recoverable" if properties.get("enablePurgeProtection") else "Recoverable+Purgeable"
    return {"recoveryLevel": level if days == 90 else f"CustomizedRecoverable{level[len('Recoverable'):]}",
            "recoverableDays": days}


def validate_kty(owner: dict, kty: str) -> str:
    allowed = ("RSA-HSM", "EC-HSM", "oct-HSM") if is_hsm_owner(owner) else ("RSA", "RSA-HSM", "EC", "EC-HSM")
    if kty not in allowed:
        # Key Vault's answer to a key type it does not support (`oct` on a vault): 400 BadParameter "Invalid kty value:
        # oct", innererror KeyTypeNotSupported (Azure/azure-sdk-for-net#13437, Azure/azure-sdk-for-js#26212). That a
        # Managed HSM refuses plain RSA / EC the same way is UNVERIFIED (our choice).
        raise bad_parameter(f"Invalid kty value: {kty}", inner="KeyTypeNotSupported")
    sku = str((owner.get("properties", {}).get("sku") or {}).get("name", "")).lower()
    if kty.endswith("-HSM") and not is_hsm_owner(owner) and sku != "premium":
        raise bad_parameter(f"Key type '{kty}' requires a Premium SKU vault: vault '{owner['name']}' is '{sku}'.")
    return kty


def new_version(owner: dict, spec: dict) -> KeyVersion:
    """A key version from a create request body (data-plane wire names)."""
    kty = validate_kty(owner, spec.get("kty") or "")
    family = kty.replace("-HSM", "")
    size = crv = None
    if family == "RSA":
        size = spec.get("key_size") or 2048
        if size not in RSA_SIZES:
            raise bad_parameter(f"Invalid key size {size}: RSA keys are 2048, 3072 or 4096 bits.")
    elif family == "EC":
        crv = spec.get("crv") or "P-256"
        if crv not in CURVES:
            raise bad_parameter(f"Invalid curve name '{crv}'.")
    now = int(time.time())
    attributes = {"enabled": True, **{k: v for k, v in (spec.get("attributes") or {}).items() if v is not None},
                  "created": now, "updated": now, **recovery_attributes(owner)}
    return KeyVersion(secrets.token_hex(16), kty, list(spec.get("key_ops") or DEFAULT_OPS[family]), size, crv,
                      attributes, dict(spec.get("tags") or {}))


def create_key(state, owner: dict, name: str, spec: dict) -> tuple[Key, KeyVersion]:
    if not KEY_NAME.match(name):
        raise bad_parameter(f"The key name '{name}' is invalid: use 1-127 letters, digits and hyphens.")
    ring = key_ring(state, owner)
    if name.lower() in ring.deleted:
        raise HttpError(409, "Conflict", f"Key {name} is currently in a deleted but recoverable state, and its name "
                        "cannot be reused; in this state, the key can only be recovered or purged.")
    key = ring.keys.setdefault(name.lower(), Key(name))
    version = new_version(owner, spec)
    key.versions.append(version)
    return key, version


# --- rotation policies ----------------------------------------------------------------------------
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$", re.I)
DEFAULT_NOTIFY = {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}


def duration_days(value: str, field_name: str) -> int:
    match = _DURATION.match(value or "")
    if not match or not any(match.groups()):
        raise bad_parameter(f"Invalid ISO 8601 duration '{value}' for '{field_name}' (expected e.g. P90D, P1Y, P18M).")
    years, months, weeks, days = (int(group or 0) for group in match.groups())
    return years * 365 + months * 30 + weeks * 7 + days


def validate_rotation_policy(policy: dict) -> None:
    expiry = (policy.get("attributes") or {}).get("expiryTime")
    if expiry and duration_days(expiry, "attributes.expiryTime") < 28:
        raise bad_parameter("The rotation policy 'expiryTime' must be at least 28 days (P28D).")
    for action in policy.get("lifetimeActions") or []:
        trigger = action.get("trigger") or {}
        kind = str((action.get("action") or {}).get("type", "")).lower()
        if kind not in ("rotate", "notify"):
            raise bad_parameter(f"Invalid lifetime action type '{kind}': use Rotate or Notify.")
        after, before = trigger.get("timeAfterCreate"), trigger.get("timeBeforeExpiry")
        if bool(after) == bool(before):
            raise bad_parameter("A lifetime action trigger needs exactly one of 'timeAfterCreate' or 'timeBeforeExpiry'.")
        if after and duration_days(after, "timeAfterCreate") < 7:
            raise bad_parameter("The rotation policy 'timeAfterCreate' must be at least 7 days (P7D).")
        if before:
            if duration_days(before, "timeBeforeExpiry") < 7:
                raise bad_parameter("The rotation policy 'timeBeforeExpiry' must be at least 7 days (P7D).")
            if not expiry:
                raise bad_parameter("'timeBeforeExpiry' requires the policy attribute 'expiryTime'.")
        if kind == "notify" and not before:
            raise bad_parameter("A Notify lifetime action requires a 'timeBeforeExpiry' trigger.")


def store_rotation_policy(key: Key, policy: dict) -> dict:
    validate_rotation_policy(policy)
    actions = [dict(action) for action in policy.get("lifetimeActions") or []]
    if not any(str(a.get("action", {}).get("type", "")).lower() == "notify" for a in actions):
        actions.append(dict(DEFAULT_NOTIFY))
    now = int(time.time())
    created = (key.rotation_policy or {}).get("attributes", {}).get("created", now)
    attributes = {**({"expiryTime": policy["attributes"]["expiryTime"]}
                     if (policy.get("attributes") or {}).get("expiryTime") else {}),
                  "created": created, "updated": now}
    key.rotation_policy = {"lifetimeActions": actions, "attributes": attributes}
    return key.rotation_policy


def effective_rotation_policy(key: Key) -> dict:
    return key.rotation_policy or {"lifetimeActions": [dict(DEFAULT_NOTIFY)], "attributes": {}}


def rotate(owner: dict, key: Key) -> KeyVersion:
    latest = key.latest
    spec = {"kty": latest.kty, "key_size": latest.size, "crv": latest.crv, "key_ops": latest.key_ops,
            "tags": latest.tags}
    expiry = effective_rotation_policy(key)["attributes"].get("expiryTime")
    if expiry:
        spec["attributes"] = {"exp": int(time.time()) + duration_days(expiry, "expiryTime") * 86400}
    version = new_version(owner, spec)
    key.versions.append(version)
    return version


# --- crypto -----------------------------------------------------------------------------------------
_OAEP = {"RSA-OAEP": hashes.SHA1, "RSA-OAEP-256": hashes.SHA256}


def _rsa_padding(algorithm: str):
    if algorithm == "RSA1_5":
        return padding.PKCS1v15()
    if algorithm in _OAEP:
        digest = _OAEP[algorithm]()
        return padding.OAEP(mgf=padding.MGF1(digest), algorithm=digest, label=None)
    raise bad_parameter(f"Algorithm '{algorithm}' is not supported for wrapKey/unwrapKey by this key.")


def wrap(version: KeyVersion, algorithm: str, data: bytes) -> bytes:
    if not version.kty.startswith("RSA"):
        raise bad_parameter(f"Key type '{version.kty}' does not support wrapKey in azemu.")
    return private_key(version.kty, version.size, version.crv).public_key().encrypt(data, _rsa_padding(algorithm))


def unwrap(version: KeyVersion, algorithm: str, data: bytes) -> bytes:
    if not version.kty.startswith("RSA"):
        raise bad_parameter(f"Key type '{version.kty}' does not support unwrapKey in azemu.")
    try:
        return private_key(version.kty, version.size, version.crv).decrypt(data, _rsa_padding(algorithm))
    except ValueError:
        raise bad_parameter("The ciphertext could not be unwrapped with this key version.") from None
