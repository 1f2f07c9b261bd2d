"""Estate generator: a seed of any size for the emulator, the matching sovereign.cmk inventory, and the drift injected.

    from azemu.generate import generate_estate
    estate = generate_estate(1000, subscriptions=3, break_share=0.2, seed=0)
    emu = Emulator(seed=estate.seed)          # or emu.load_seed(estate.seed)
    estate.inventory("/tmp/inv")             # hosts.yml + group_vars/ for the collection's playbooks
    estate.expected                          # {host name: [break kinds]}  ([] = compliant)

Command line: `python -m azemu generate --resources N --out DIR` (seed.json, inventory/, expected.json).

The estate (one random.Random(seed): same arguments, same estate):

* subscriptions `5a0e0e5e-0000-4000-8000-00000000000k` (the first is the emulator's default one); the operator
  service principal is Owner and Key Vault Crypto Officer on each, the runner identity Reader (as the default seed);
* key stores in the first subscription (`rg-keys-<env>`): per environment (prod, test, dev) and classification (pii,
  general) one key `<cls>-cmk` (RSA-HSM 3072, two versions): PII in a Managed HSM `hsm-<env>-pii` when `hsm=True`
  (with a Key Vault Premium `kv-<env>-pii` key `aci-pii-cmk` for container groups, which cannot use Managed HSM),
  else in `kv-<env>-pii`; general data in `kv-<env>-gen` (Key Vault Premium, Azure RBAC; `kv-test-gen` uses access
  policies);
* per subscription and environment a resource group `rg-<env>` holding the Disk Encryption Sets `des-<env>-<cls>`
  (system-assigned identity, auto-rotation), the user-assigned identities `id-<env>-<cls>-<service>` and the workloads;
* workloads: storage accounts, unattached data disks, VMs (OS + data disk, both also disk resources), AKS clusters,
  container groups and SQL Managed Instances, tagged `environment` / `classification`, plus a few unlabelled ones
  (no tags) and exceptions (Microsoft.App/containerApps, Microsoft.Web/sites) that have no CMK switch.

A share of the labelled workloads (`break_share`) gets one break each, spread over the kinds (`BREAKS`) that apply to
the resource's service; breaks on shared objects (a disabled key, a vault without purge protection, a DES whose identity
has no access) use dedicated keys / vaults / DES / identities so that no other resource is affected.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import yaml

from .seed import OPERATOR_OBJECT_ID, RUNNER_IDENTITY_OBJECT_ID, SUBSCRIPTION_ID, TENANT_ID

ENVIRONMENTS = ("prod", "test", "dev")
CLASSIFICATIONS = ("pii", "general")
_ENV_WEIGHTS = (0.5, 0.3, 0.2)
_CLS_WEIGHTS = (0.4, 0.6)
_SHORT = {"pii": "pii", "general": "gen"}
LOCATION = "westeurope"

SERVICES = ("storage_account", "managed_disk", "virtual_machine", "aks", "container_group", "sql_managed_instance")
_SERVICE_WEIGHTS = {"storage_account": 0.3, "managed_disk": 0.2, "virtual_machine": 0.15, "aks": 0.05,
                    "container_group": 0.15, "sql_managed_instance": 0.15}
# inventory group of each service (as examples/inventory/hosts.yml)
SERVICE_GROUPS = {"storage_account": "storage_accounts", "managed_disk": "managed_disks",
                  "virtual_machine": "virtual_machines", "aks": "aks_clusters", "container_group": "container_groups",
                  "sql_managed_instance": "sql_managed_instances"}
EXCEPTION_TYPES = ("Microsoft.App/containerApps", "Microsoft.Web/sites")

_UAI_SERVICES = ("storage_account", "container_group", "sql_managed_instance")
_DES_SERVICES = ("managed_disk", "virtual_machine")

# Break kinds: the services each applies to, and what the collection is expected to report (`finding`: the finding code
# of docs/findings.md a drift check should show; `status`: the result status).
BREAKS: dict[str, dict[str, Any]] = {
    "wrong_key": {"services": ("storage_account", "managed_disk", "virtual_machine", "container_group",
                               "sql_managed_instance", "aks"),
                  "finding": "encryption_settings", "status": "drift",
                  "what": "another key of the catalog (the other classification's key; disks, VMs, AKS: its DES)"},
    "old_key_version": {"services": ("storage_account", "sql_managed_instance"), "finding": "encryption_settings",
                        "status": "drift", "what": "pinned to the first of two key versions (the policy asks for the latest)"},
    "platform_keys": {"services": ("storage_account", "managed_disk", "virtual_machine", "aks", "container_group"),
                      "finding": "encryption_settings", "status": "drift",
                      "what": "platform-managed keys, no customer-managed key at all"},
    "identity_no_access": {"services": _UAI_SERVICES + _DES_SERVICES, "finding": "identity_access", "status": "drift",
                           "what": "its identity (disks, VMs: its DES's identity) has no access to the key"},
    "identity_missing": {"services": _UAI_SERVICES, "finding": "identity_missing", "status": "failed",
                         "what": "its user-assigned identity does not exist (deleted)"},
    "key_disabled": {"services": _UAI_SERVICES + _DES_SERVICES, "finding": "key_disabled", "status": "failed",
                     "what": "its key (a dedicated one) is disabled"},
    "key_expired": {"services": ("storage_account", "sql_managed_instance", "managed_disk", "container_group"),
                    "finding": "key_expired", "status": "failed", "what": "its key (a dedicated one) has expired"},
    "no_purge_protection": {"services": ("storage_account", "sql_managed_instance", "managed_disk"),
                            "finding": "purge_protection", "status": "failed",
                            "what": "its key is in a (dedicated) vault without purge protection"},
    "key_store_firewall": {"services": ("storage_account", "sql_managed_instance", "container_group", "managed_disk"),
                           "finding": "key_unreachable", "status": "failed",
                           "what": "its key is in a (dedicated) vault whose firewall blocks the service "
                                   "(public access disabled, no trusted-service bypass)"},
    "vm_disks_not_on_des": {"services": ("virtual_machine",), "finding": "encryption_settings", "status": "drift",
                            "what": "the OS disk is on the DES, the data disk on platform-managed keys"},
    "aks_no_host_encryption": {"services": ("aks",), "finding": "requires_recreate", "status": "requires_recreate",
                               "what": "node pool user1 without host-based encryption"},
    "aci_hsm_key": {"services": ("container_group",), "finding": "key_store_unsupported", "status": "requires_recreate",
                    "what": "deployed with a Managed HSM key (ACI supports Key Vault only; PII with hsm=True only)"},
    "sqlmi_service_managed": {"services": ("sql_managed_instance",), "finding": "encryption_settings", "status": "drift",
                              "what": "TDE with a service-managed key"},
    "storage_service_key_type": {"services": ("storage_account",), "finding": "requires_recreate",
                                 "status": "requires_recreate",
                                 "what": "queues and tables on keyType Service (the CMK does not cover them)"},
}
# kinds that need a dedicated key store or key (catalog entry `<env>-<cls>-<tag>`)
_DEDICATED_KEY = {"key_disabled": "disabled", "key_expired": "expired", "no_purge_protection": "npp",
                  "key_store_firewall": "fw"}
# AKS with a wrong key or platform keys is a create-time-only difference
_STATUS_OVERRIDE = {("aks", "wrong_key"): "requires_recreate", ("aks", "platform_keys"): "requires_recreate",
                    ("container_group", "wrong_key"): "requires_recreate",
                    ("container_group", "platform_keys"): "requires_recreate"}


def subscription_id(index: int) -> str:
    """Subscription `index` (1-based); the first is the emulator's default subscription."""
    return SUBSCRIPTION_ID if index == 1 else f"5a0e0e5e-0000-4000-8000-{index:012d}"


def _rg(sub: str, group: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}"


def _pid(resource_id: str) -> str:
    return "${principal:%s}" % resource_id


@dataclass
class Resource:
    """One workload resource of the estate."""
    name: str
    id: str
    service: str  # a SERVICES entry, or "exception"
    type: str
    subscription_id: str
    resource_group: str
    environment: str
    classification: str
    category: str = "cmk"  # cmk | unlabelled | exception
    breaks: list[str] = field(default_factory=list)
    identity: str = ""  # the inventory's cmk_identity
    key: str = ""  # the inventory's cmk_key override (dedicated keys)
    des: str = ""  # the inventory's cmk_disk_encryption_set override

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}


@dataclass
class Estate:
    seed: dict
    resources: list[Resource]
    keys: dict  # cmk_keys
    disk_encryption_sets: dict  # cmk_disk_encryption_sets
    policy: dict  # cmk_policy
    subscriptions: list[str]
    arguments: dict

    @property
    def expected(self) -> dict[str, list[str]]:
        """{host name: [break kinds]} for every resource of cmk_resources ([] = compliant)."""
        return {r.name: list(r.breaks) for r in self.resources if r.category == "cmk"}

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.resources:
            key = r.service if r.category == "cmk" else r.category
            counts[key] = counts.get(key, 0) + 1
        return counts

    def expected_document(self) -> dict:
        """What `expected.json` holds."""
        kinds = {name: {"services": list(spec["services"]), "finding": spec["finding"], "status": spec["status"],
                        "what": spec["what"]} for name, spec in BREAKS.items()}
        return {
            "arguments": self.arguments,
            "counts": self.counts(),
            "expected": self.expected,
            "status_overrides": {f"{s}/{k}": v for (s, k), v in _STATUS_OVERRIDE.items()},
            "kinds": kinds,
            "resources": [r.to_dict() for r in self.resources],
        }

    # --- inventory ----------------------------------------------------------------------------------
    def inventory(self, directory: Union[str, Path]) -> Path:
        """Write a static inventory (hosts.yml, group_vars/) for the collection's playbooks; returns the directory."""
        root = Path(directory)
        (root / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
        labelled = [r for r in self.resources if r.category == "cmk"]
        hosts: dict[str, dict] = {}
        for r in self.resources:
            entry: dict[str, Any] = {"cmk_subscription_id": r.subscription_id, "cmk_resource_group": r.resource_group}
            if r.identity:
                entry["cmk_identity"] = r.identity
            if r.key:
                entry["cmk_key"] = r.key
            if r.des:
                entry["cmk_disk_encryption_set"] = r.des
            if r.category == "exception":
                entry["cmk_resource_type"] = r.type
            if r.category == "unlabelled":
                entry["cmk_unlabelled_service"] = r.service
            hosts[r.name] = entry

        def group(names: Iterable[str]) -> dict:
            return {"hosts": {name: hosts[name] for name in names}}

        by_service = {group_name: [r.name for r in labelled if r.service == service]
                      for service, group_name in SERVICE_GROUPS.items()}
        children: dict[str, Any] = {
            "cmk_resources": {"children": {name: ({"hosts": {h: hosts[h] for h in members}} if members else {})
                                           for name, members in by_service.items()}},
        }
        for env in ENVIRONMENTS:
            children[env] = {"hosts": {r.name: None for r in labelled if r.environment == env}}
        for cls in CLASSIFICATIONS:
            children[cls] = {"hosts": {r.name: None for r in labelled if r.classification == cls}}
        children["cmk_unlabelled"] = group(r.name for r in self.resources if r.category == "unlabelled")
        children["cmk_exceptions"] = group(r.name for r in self.resources if r.category == "exception")
        for value in children.values():
            if value.get("hosts") == {}:
                value.pop("hosts")
        header = ("# Generated by azemu.generate (%s): one host per workload resource of the generated estate.\n"
                  "# cmk_resources holds the labelled ones; cmk_unlabelled (no environment/classification tags) and\n"
                  "# cmk_exceptions (services without a CMK switch) are listed for audits only.\n"
                  % json.dumps(self.arguments, sort_keys=True))
        _dump(root / "hosts.yml", {"all": {"children": children}}, header)
        group_vars = root / "group_vars"
        for service, name in SERVICE_GROUPS.items():
            values: dict[str, Any] = {"cmk_service": service}
            if service == "virtual_machine":
                values["cmk_allow_deallocate"] = True  # maintenance window agreed: a VM may be deallocated
            _dump(group_vars / f"{name}.yml", values)
        for env in ENVIRONMENTS:
            _dump(group_vars / f"{env}.yml", {"cmk_environment": env})
        for cls in CLASSIFICATIONS:
            _dump(group_vars / f"{cls}.yml", {"cmk_classification": cls})
        _dump(group_vars / "all" / "connection.yml",
              {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"})
        _dump(group_vars / "all" / "azure.yml",
              {"cmk_subscription_id": self.subscriptions[0], "cmk_location": LOCATION, "cmk_auth_source": "auto",
               "cmk_resource_groups": "/subscriptions/{{ cmk_subscription_id }}/resourceGroups"},
              "# The key stores live in the first subscription; each host names its own cmk_subscription_id.\n")
        _dump(group_vars / "all" / "keys.yml",
              {"cmk_keys": self.keys, "cmk_disk_encryption_sets": self.disk_encryption_sets})
        _dump(group_vars / "all" / "policy.yml", {
            "cmk_policy": self.policy,
            "cmk_allow_shared_across_environments": False,
            "cmk_isolated_classifications": ["pii"],
            "cmk_storage_auto_key_rotation": True,
            "cmk_sql_auto_key_rotation": True,
            "cmk_aks_encryption_at_host": True,
            "cmk_allow_deallocate": False,
            "cmk_allow_recreate": False,
        })
        return root

    def write(self, directory: Union[str, Path]) -> Path:
        """DIR/seed.json, DIR/inventory/, DIR/expected.json."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        (root / "seed.json").write_text(json.dumps(self.seed, separators=(",", ":")))
        self.inventory(root / "inventory")
        (root / "expected.json").write_text(json.dumps(self.expected_document(), indent=1, sort_keys=True))
        return root


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(path: Path, data: Any, header: str = "") -> None:
    text = yaml.dump(data, Dumper=_Dumper, default_flow_style=False, sort_keys=False, width=1000)
    path.write_text("---\n" + header + text)


# ---------------------------------------------------------------------------------------------- generation
def _split(total: int, weights: dict[str, float]) -> dict[str, int]:
    """`total` over the keys by weight (largest remainder), at least one each when total allows."""
    names = list(weights)
    if total <= 0:
        return {name: 0 for name in names}
    raw = {name: total * weights[name] / sum(weights.values()) for name in names}
    counts = {name: int(raw[name]) for name in names}
    for name in sorted(names, key=lambda n: raw[n] - counts[n], reverse=True)[:total - sum(counts.values())]:
        counts[name] += 1
    if total >= len(names):
        for name in names:
            while counts[name] == 0:
                donor = max(names, key=lambda n: counts[n])
                counts[donor] -= 1
                counts[name] += 1
    return counts


class _Builder:
    def __init__(self, n_resources: int, subscriptions: int, break_share: float, seed: int, hsm: bool,
                 kinds: Optional[Iterable[str]], unlabelled_share: float, exception_share: float):
        if n_resources < 0 or subscriptions < 1 or not 0 <= break_share <= 1:
            raise ValueError("n_resources >= 0, subscriptions >= 1 and 0 <= break_share <= 1")
        self.rng = random.Random(seed)
        self.n = n_resources
        self.hsm = hsm
        self.break_share = break_share
        self.kinds = list(kinds) if kinds is not None else list(BREAKS)
        unknown = set(self.kinds) - set(BREAKS)
        if unknown:
            raise ValueError(f"unknown break kinds {sorted(unknown)} (known: {', '.join(BREAKS)})")
        if not hsm and "aci_hsm_key" in self.kinds:
            self.kinds.remove("aci_hsm_key")
        self.unlabelled_share = unlabelled_share
        self.exception_share = exception_share
        self.subs = [subscription_id(i) for i in range(1, subscriptions + 1)]
        self.keys_sub = self.subs[0]
        self.resources: list[Resource] = []
        self.catalog: dict[str, dict] = {}  # cmk_keys
        self.des_catalog: dict[str, dict] = {}
        self.stores: dict[str, dict] = {}  # store name -> {kind, rg, env, access_policies}
        self.seed_keys: list[dict] = []
        self.dedicated_tags: set[tuple[str, str, str]] = set()  # (env, cls, tag) dedicated keys needed
        self.des_tags: set[tuple[str, str, str]] = set()  # (env, cls, tag) dedicated DES needed
        self.uais: dict[str, dict] = {}  # uai id -> {"grant": [catalog names]}
        self.readers: list[dict] = []  # AKS cluster identities: Reader on their DES (last stage)

    # --- naming ------------------------------------------------------------------------------------
    def key_entry(self, env: str, cls: str, service: str = "") -> str:
        """The catalog entry the policy gives (env, cls, service)."""
        if cls == "pii" and self.hsm and service == "container_group":
            return f"{env}-pii-aci"
        return f"{env}-{cls}"

    def des_entry(self, env: str, cls: str, sub: str, tag: str = "") -> str:
        base = f"{env}-{cls}" + (f"-{tag}" if tag else "")
        index = self.subs.index(sub) + 1
        return base if index == 1 else f"{base}-s{index}"

    @staticmethod
    def des_name(env: str, cls: str, tag: str = "") -> str:
        return f"des-{env}-{_SHORT[cls]}" + (f"-{tag}" if tag else "")

    def uai_id(self, sub: str, env: str, cls: str, service: str, tag: str = "") -> str:
        short = {"storage_account": "st", "container_group": "aci", "sql_managed_instance": "sql"}[service]
        name = f"id-{env}-{_SHORT[cls]}-{short}" + (f"-{tag}" if tag else "")
        return f"{_rg(sub, 'rg-' + env)}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"

    def store_uri(self, store: str) -> str:
        kind = self.stores[store]["kind"]
        return f"https://{store}.vault.azure.net" if kind == "vault" else f"https://{store}.managedhsm.azure.net"

    def key_ref(self, entry: str) -> tuple[str, str]:
        """(store name, key name) of a catalog entry."""
        item = self.catalog[entry]
        return item["_store"], item["name"]

    # --- key stores and keys -------------------------------------------------------------------------
    def add_store(self, name: str, kind: str, env: str, purge: bool = True, access_policies: bool = False,
                  firewall: bool = False) -> None:
        if name in self.stores:
            return
        self.stores[name] = {"kind": kind, "rg": f"rg-keys-{env}", "env": env, "purge": purge,
                             "access_policies": access_policies, "firewall": firewall, "policies": []}

    def add_key(self, entry: str, env: str, store: str, key: str, versions: int = 2, **attributes: Any) -> None:
        if entry in self.catalog:
            return
        self.catalog[entry] = {"environment": env, "vault_uri": self.store_uri(store),
                               "resource_group": self.stores[store]["rg"], "name": key,
                               "key_type": "RSA-HSM", "key_size": 3072, "_store": store}
        kind = "hsm" if self.stores[store]["kind"] == "hsm" else "vault"
        spec = {kind: store, "name": key, "kty": "RSA-HSM", "size": 3072, "ops": ["wrapKey", "unwrapKey"],
                "versions": versions}
        spec.update(attributes)
        self.seed_keys.append(spec)

    def base_stores(self) -> None:
        for env in ENVIRONMENTS:
            if self.hsm:
                self.add_store(f"hsm-{env}-pii", "hsm", env)
                self.add_key(f"{env}-pii", env, f"hsm-{env}-pii", "pii-cmk")
                self.add_store(f"kv-{env}-pii", "vault", env)
                self.add_key(f"{env}-pii-aci", env, f"kv-{env}-pii", "aci-pii-cmk")
            else:
                self.add_store(f"kv-{env}-pii", "vault", env)
                self.add_key(f"{env}-pii", env, f"kv-{env}-pii", "pii-cmk")
            self.add_store(f"kv-{env}-gen", "vault", env, access_policies=(env == "test"))
            self.add_key(f"{env}-general", env, f"kv-{env}-gen", "general-cmk")

    def dedicated_key(self, env: str, cls: str, service: str, kind: str) -> str:
        """The catalog entry of the dedicated key of a key-level break (created on first use)."""
        tag = _DEDICATED_KEY[kind]
        base = self.key_entry(env, cls, service)
        entry = f"{base}-{tag}"
        if entry in self.catalog:
            return entry
        if kind in ("key_disabled", "key_expired"):
            store, key = self.key_ref(base)
            attributes = {"enabled": False} if kind == "key_disabled" else {"exp": "-P1D"}
            self.add_key(entry, env, store, f"{key}-{tag}", versions=1, **attributes)
        else:
            store = f"kv-{env}-{_SHORT[cls]}-{tag}" + ("-aci" if base.endswith("-aci") else "")
            self.add_store(store, "vault", env, purge=(kind != "no_purge_protection"),
                           firewall=(kind == "key_store_firewall"))
            self.add_key(entry, env, store, f"{cls}-cmk", versions=1)
        return entry

    # --- workloads ------------------------------------------------------------------------------------
    def plan(self) -> None:
        n_exceptions = max(1 if self.n >= 10 else 0, round(self.n * self.exception_share)) if self.exception_share else 0
        n_unlabelled = max(1 if self.n >= 10 else 0, round(self.n * self.unlabelled_share)) if self.unlabelled_share else 0
        n_cmk = max(0, self.n - n_exceptions - n_unlabelled)
        counts = _split(n_cmk, _SERVICE_WEIGHTS)
        index = 0
        plan: list[tuple[str, str]] = []
        for service in SERVICES:
            plan += [(service, "cmk")] * counts[service]
        unl_services = _split(n_unlabelled, {s: 1.0 for s in ("storage_account", "managed_disk", "container_group")})
        for service, count in unl_services.items():
            plan += [(service, "unlabelled")] * count
        plan += [("exception", "exception")] * n_exceptions
        for service, category in plan:
            index += 1
            env = self.rng.choices(ENVIRONMENTS, _ENV_WEIGHTS)[0]
            cls = self.rng.choices(CLASSIFICATIONS, _CLS_WEIGHTS)[0]
            sub = self.subs[(index - 1) % len(self.subs)]
            self.resources.append(self._resource(index, service, category, env, cls, sub))
        self._assign_breaks()

    def _resource(self, index: int, service: str, category: str, env: str, cls: str, sub: str) -> Resource:
        e, c = env[0], cls[0]
        if service == "exception":
            rtype = EXCEPTION_TYPES[index % len(EXCEPTION_TYPES)]
            name = ("ca" if rtype.endswith("containerApps") else "app") + f"-{env}-{_SHORT[cls]}-{index:05d}"
        else:
            rtype = {"storage_account": "Microsoft.Storage/storageAccounts", "managed_disk": "Microsoft.Compute/disks",
                     "virtual_machine": "Microsoft.Compute/virtualMachines",
                     "aks": "Microsoft.ContainerService/managedClusters",
                     "container_group": "Microsoft.ContainerInstance/containerGroups",
                     "sql_managed_instance": "Microsoft.Sql/managedInstances"}[service]
            prefix = {"managed_disk": "disk", "virtual_machine": "vm", "aks": "aks", "container_group": "aci",
                      "sql_managed_instance": "sqlmi"}.get(service)
            name = f"st{e}{c}{index:06d}" if service == "storage_account" else f"{prefix}-{env}-{_SHORT[cls]}-{index:05d}"
            if category == "unlabelled":
                name = f"stx{index:06d}" if service == "storage_account" else f"{prefix}-x-{index:05d}"
        group = f"rg-{env}"
        return Resource(name=name, id=f"{_rg(sub, group)}/providers/{rtype}/{name}", service=service, type=rtype,
                        subscription_id=sub, resource_group=group, environment=env, classification=cls,
                        category=category)

    def _applicable(self, resource: Resource) -> list[str]:
        kinds = [k for k in self.kinds if resource.service in BREAKS[k]["services"]]
        if resource.classification != "pii" or not self.hsm:
            kinds = [k for k in kinds if k != "aci_hsm_key"]
        return kinds

    def _assign_breaks(self) -> None:
        labelled = [r for r in self.resources if r.category == "cmk"]
        n_breaks = round(len(labelled) * self.break_share)
        chosen = self.rng.sample(labelled, n_breaks) if n_breaks else []
        # the resources with the fewest applicable kinds pick first, each the least-used kind it can take
        chosen.sort(key=lambda r: (len(self._applicable(r)), r.name))
        used = {kind: 0 for kind in self.kinds}
        for resource in chosen:
            options = self._applicable(resource)
            if not options:
                continue
            low = min(used[k] for k in options)
            kind = self.rng.choice([k for k in options if used[k] == low])
            used[kind] += 1
            resource.breaks = [kind]

    # --- seed -----------------------------------------------------------------------------------------
    def build(self) -> dict:
        self.base_stores()
        # dedicated keys / stores first (catalog + seed keys), then the bodies
        for r in self.resources:
            if r.category == "cmk" and r.breaks and r.breaks[0] in _DEDICATED_KEY:
                r.key = self.dedicated_key(r.environment, r.classification, r.service, r.breaks[0])
                if r.service in _DES_SERVICES:
                    self.des_tags.add((r.environment, r.classification, _DEDICATED_KEY[r.breaks[0]]))
            if r.category == "cmk" and r.breaks == ["identity_no_access"] and r.service in _DES_SERVICES:
                self.des_tags.add((r.environment, r.classification, "noaccess"))

        top_resources: list[dict] = []
        for sub in self.subs:
            for env in ENVIRONMENTS:
                top_resources.append({"id": _rg(sub, f"rg-{env}"), "body": {"location": LOCATION}})
        for env in ENVIRONMENTS:
            top_resources.append({"id": _rg(self.keys_sub, f"rg-keys-{env}"), "body": {"location": LOCATION}})
        for name, store in self.stores.items():
            top_resources.append(self._store_body(name, store, policies=None))

        # identities: one per (subscription, env, cls, service) + dedicated ones for identity breaks
        stage_workloads: list[dict] = []
        for r in self.resources:
            if r.category == "exception":
                stage_workloads.append(self._exception_body(r))
                continue
            stage_workloads.append(self._workload(r))
        uai_bodies = [{"id": uai, "body": {"location": LOCATION}} for uai, info in self.uais.items() if info["exists"]]
        top_resources += uai_bodies

        # DES: per subscription, env, cls (+ dedicated ones), all subscriptions alike
        des_resources: list[dict] = []
        des_grants: list[tuple[str, str]] = []  # (principal placeholder, catalog key entry)
        for sub in self.subs:
            for env in ENVIRONMENTS:
                for cls in CLASSIFICATIONS:
                    for tag in [""] + sorted(t for e, c, t in self.des_tags if (e, c) == (env, cls)):
                        key_entry = self.key_entry(env, cls) if tag in ("", "noaccess") else f"{self.key_entry(env, cls)}-{tag}"
                        des_name = self.des_name(env, cls, tag)
                        des_id = f"{_rg(sub, 'rg-' + env)}/providers/Microsoft.Compute/diskEncryptionSets/{des_name}"
                        store, key = self.key_ref(key_entry)
                        des_resources.append({
                            "id": des_id, "validate": tag not in ("disabled", "expired"),
                            "body": {"location": LOCATION, "identity": {"type": "SystemAssigned"},
                                     "properties": {"activeKey": {"keyUrl": f"{self.store_uri(store)}/keys/{key}"},
                                                    "encryptionType": "EncryptionAtRestWithCustomerKey",
                                                    "rotationToLatestKeyVersionEnabled": True}}})
                        if tag != "noaccess":
                            des_grants.append((_pid(des_id), key_entry))
                        entry = self.des_entry(env, cls, sub, tag)
                        self.des_catalog[entry] = {"environment": env, "name": des_name, "resource_group": f"rg-{env}",
                                                   "key": key_entry, "auto_key_rotation": True,
                                                   "identity_type": "SystemAssigned"}
                        if len(self.subs) > 1:
                            self.des_catalog[entry]["subscription_id"] = sub

        grants: list[tuple[str, str]] = list(des_grants)
        for uai, info in self.uais.items():
            if info["exists"]:
                grants += [(_pid(uai), entry) for entry in sorted(info["grant"])]
        role_assignments, hsm_assignments = [], []
        seen = set()
        for principal, entry in grants:
            if (principal, entry) in seen:
                continue
            seen.add((principal, entry))
            store, key = self.key_ref(entry)
            info = self.stores[store]
            if info["kind"] == "hsm":
                hsm_assignments.append({"hsm": store, "principal_id": principal,
                                        "role": "Managed HSM Crypto Service Encryption User", "scope": f"/keys/{key}"})
            elif info["access_policies"]:
                info["policies"].append(principal)
            else:
                role_assignments.append({"principal_id": principal, "role": "Key Vault Crypto Service Encryption User",
                                         "scope": f"{_rg(self.keys_sub, info['rg'])}/providers/Microsoft.KeyVault/"
                                                  f"vaults/{store}/keys/{key}"})
        policy_vaults = [self._store_body(name, store, policies=store["policies"])
                         for name, store in self.stores.items() if store["access_policies"] and store["policies"]]

        role_ops = [{"principal_id": OPERATOR_OBJECT_ID, "role": "Key Vault Crypto Officer",
                     "scope": f"/subscriptions/{self.keys_sub}"}]
        subscriptions = []
        for index, sub in enumerate(self.subs):
            if index:
                subscriptions.append({"id": sub, "tenant_id": TENANT_ID, "display_name": f"azemu subscription {index + 1}"})
                role_ops += [{"principal_id": OPERATOR_OBJECT_ID, "role": "Owner", "scope": f"/subscriptions/{sub}"},
                             {"principal_id": RUNNER_IDENTITY_OBJECT_ID, "role": "Reader",
                              "scope": f"/subscriptions/{sub}"}]
        hsm_admin = [{"hsm": name, "principal_id": OPERATOR_OBJECT_ID, "role": "Managed HSM Crypto Officer", "scope": "/"}
                     for name, store in self.stores.items() if store["kind"] == "hsm"]
        seed: dict[str, Any] = {"settings": {"lro_retry_after_ms": 20}}
        if subscriptions:
            seed["subscriptions"] = subscriptions
        seed.update({"role_assignments": role_ops, "resources": top_resources, "keys": self.seed_keys,
                     "hsm_role_assignments": hsm_admin,
                     "stages": [
                         {"resources": des_resources},
                         {"role_assignments": role_assignments, "resources": policy_vaults,
                          "hsm_role_assignments": hsm_assignments},
                         {"resources": stage_workloads},
                         {"role_assignments": self.readers},
                     ]})
        return seed

    def _store_body(self, name: str, store: dict, policies: Optional[list[str]]) -> dict:
        group = _rg(self.keys_sub, store["rg"])
        if store["kind"] == "hsm":
            properties: dict[str, Any] = {"tenantId": TENANT_ID, "initialAdminObjectIds": [OPERATOR_OBJECT_ID],
                                          "enablePurgeProtection": True, "softDeleteRetentionInDays": 90}
            return {"id": f"{group}/providers/Microsoft.KeyVault/managedHSMs/{name}",
                    "body": {"location": LOCATION, "sku": {"family": "B", "name": "Standard_B1"}, "properties": properties}}
        properties = {"tenantId": TENANT_ID, "sku": {"family": "A", "name": "premium"},
                      "enableRbacAuthorization": not store["access_policies"]}
        if store["purge"]:
            properties["enablePurgeProtection"] = True
        if store["firewall"]:
            properties["publicNetworkAccess"] = "Disabled"
            properties["networkAcls"] = {"defaultAction": "Deny", "bypass": "None", "ipRules": [],
                                         "virtualNetworkRules": []}
        if store["access_policies"]:
            operator = {"tenantId": TENANT_ID, "objectId": OPERATOR_OBJECT_ID,
                        "permissions": {"keys": ["get", "list", "create", "update", "rotate", "getrotationpolicy",
                                                 "setrotationpolicy", "wrapKey", "unwrapKey"]}}
            properties["accessPolicies"] = [operator] + [
                {"tenantId": TENANT_ID, "objectId": principal, "permissions": {"keys": ["get", "wrapKey", "unwrapKey"]}}
                for principal in (policies or [])]
        return {"id": f"{group}/providers/Microsoft.KeyVault/vaults/{name}", "body": {"location": LOCATION,
                                                                                      "properties": properties}}

    def _uai(self, r: Resource, tag: str = "", grant: Optional[str] = None, exists: bool = True) -> str:
        uai = self.uai_id(r.subscription_id, r.environment, r.classification, r.service, tag)
        info = self.uais.setdefault(uai, {"grant": set(), "exists": exists})
        if grant:
            info["grant"].add(grant)
        return uai

    def _des_id(self, r: Resource, cls: Optional[str] = None, tag: str = "") -> str:
        return (f"{_rg(r.subscription_id, r.resource_group)}/providers/Microsoft.Compute/diskEncryptionSets/"
                f"{self.des_name(r.environment, cls or r.classification, tag)}")

    def _workload(self, r: Resource) -> dict:
        kind = r.breaks[0] if r.breaks else ""
        tags = {} if r.category == "unlabelled" else {"environment": r.environment, "classification": r.classification}
        other_cls = "general" if r.classification == "pii" else "pii"
        policy_entry = self.key_entry(r.environment, r.classification, r.service)
        key_entry = r.key or policy_entry
        validate = True
        body: dict[str, Any] = {"location": LOCATION, "tags": tags}
        if r.service in _DES_SERVICES:
            tag = _DEDICATED_KEY.get(kind, "noaccess" if kind == "identity_no_access" else "")
            if tag:
                r.des = self.des_entry(r.environment, r.classification, r.subscription_id, tag)
                r.key = ""
                validate = kind not in ("key_disabled", "key_expired", "identity_no_access")
            elif len(self.subs) > 1 and self.subs.index(r.subscription_id) > 0:
                r.des = self.des_entry(r.environment, r.classification, r.subscription_id)
            if kind == "wrong_key":
                des = self._des_id(r, other_cls)
            elif kind == "platform_keys":
                des = None
            else:
                des = self._des_id(r, tag=tag)
            if r.service == "managed_disk":
                body.update({"sku": {"name": "Premium_LRS"}, "properties": {
                    "creationData": {"createOption": "Empty"}, "diskSizeGB": 32}})
                if des:
                    body["properties"]["encryption"] = {"type": "EncryptionAtRestWithCustomerKey",
                                                        "diskEncryptionSetId": des}
            else:
                def managed(des_id: Optional[str]) -> dict:
                    disk: dict[str, Any] = {"storageAccountType": "Premium_LRS"}
                    if des_id:
                        disk["diskEncryptionSet"] = {"id": des_id}
                    return disk
                data_des = None if kind == "vm_disks_not_on_des" else des
                body["properties"] = {
                    "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
                    "storageProfile": {
                        "imageReference": {"publisher": "Canonical", "offer": "ubuntu", "sku": "22_04-lts",
                                           "version": "latest"},
                        "osDisk": {"createOption": "FromImage", "managedDisk": managed(des)},
                        "dataDisks": [{"lun": 0, "createOption": "Empty", "diskSizeGB": 16,
                                       "managedDisk": managed(data_des)}]},
                    "securityProfile": {"encryptionAtHost": True},
                    "osProfile": {"computerName": r.name[:15], "adminUsername": "azure"},
                    "networkProfile": {"networkInterfaces": []}}
        elif r.service == "aks":
            if len(self.subs) > 1 and self.subs.index(r.subscription_id) > 0:
                r.des = self.des_entry(r.environment, r.classification, r.subscription_id)
            properties: dict[str, Any] = {"dnsPrefix": r.name, "agentPoolProfiles": [
                {"name": "system", "count": 1, "vmSize": "Standard_D4s_v5", "mode": "System",
                 "enableEncryptionAtHost": True, "osDiskType": "Managed"},
                {"name": "user1", "count": 2, "vmSize": "Standard_D4s_v5", "mode": "User",
                 "enableEncryptionAtHost": kind != "aks_no_host_encryption", "osDiskType": "Managed"}]}
            if kind != "platform_keys":
                properties["diskEncryptionSetID"] = self._des_id(r, other_cls if kind == "wrong_key" else None)
                # AKS needs Reader on its DES (the collection checks it: des_reader)
                self.readers.append({"principal_id": _pid(r.id), "role": "Reader",
                                     "scope": properties["diskEncryptionSetID"]})
            body.update({"identity": {"type": "SystemAssigned"}, "properties": properties})
        else:
            # storage, ACI, SQL MI: a user-assigned identity granted its key(s)
            if kind == "identity_no_access":
                uai = self._uai(r, "noaccess")
            elif kind == "identity_missing":
                uai = self._uai(r, "deleted", exists=False)
            else:
                uai = self._uai(r, grant=key_entry)
            if r.category == "cmk":
                r.identity = uai
            used_entry = key_entry
            if kind == "wrong_key":
                used_entry = self.key_entry(r.environment, other_cls, r.service)
            elif kind == "aci_hsm_key":
                used_entry = f"{r.environment}-pii"
            store, key = self.key_ref(used_entry)
            uri = self.store_uri(store)
            validate = kind not in ("wrong_key", "identity_no_access", "identity_missing", "key_disabled",
                                    "key_expired", "aci_hsm_key", "no_purge_protection")
            identity = {"type": "UserAssigned", "userAssignedIdentities": {uai: {}}}
            if r.service == "storage_account":
                key_type = "Service" if kind == "storage_service_key_type" else "Account"
                encryption: dict[str, Any] = {"services": {"queue": {"keyType": key_type}, "table": {"keyType": key_type}}}
                if kind != "platform_keys":
                    kvp = {"keyname": key, "keyvaulturi": uri + "/"}
                    if kind == "old_key_version":
                        kvp["keyversion"] = "${key_version:%s/%s@1}" % (store, key)
                    encryption.update({"keySource": "Microsoft.Keyvault", "keyvaultproperties": kvp,
                                       "identity": {"userAssignedIdentity": uai}})
                body.update({"sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "identity": identity,
                             "properties": {"encryption": encryption}})
            elif r.service == "container_group":
                properties = {"osType": "Linux", "sku": "Standard", "containers": [{"name": "app", "properties": {
                    "image": "mcr.microsoft.com/azuredocs/aci-helloworld",
                    "resources": {"requests": {"cpu": 1.0, "memoryInGB": 1.5}}}}]}
                if kind != "platform_keys":
                    properties["encryptionProperties"] = {"vaultBaseUrl": uri, "keyName": key,
                                                          "keyVersion": "${key_version:%s/%s}" % (store, key),
                                                          "identity": uai}
                body.update({"identity": identity, "properties": properties})
            else:  # SQL MI
                properties = {"administratorLogin": "azureuser", "administratorLoginPassword": "Generated-Only-123456",
                              "subnetId": f"{_rg(r.subscription_id, r.resource_group)}/providers/Microsoft.Network/"
                                          f"virtualNetworks/vnet-{r.environment}/subnets/sqlmi",
                              "vCores": 4, "primaryUserAssignedIdentityId": uai}
                if kind == "old_key_version":
                    properties["keyId"] = "${key:%s/%s@1}" % (store, key)
                elif kind != "sqlmi_service_managed":
                    properties["keyId"] = f"{uri}/keys/{key}"
                body.update({"sku": {"name": "GP_Gen5"}, "identity": identity, "properties": properties})
        entry: dict[str, Any] = {"id": r.id, "body": body}
        if not validate:
            entry["validate"] = False
        return entry

    @staticmethod
    def _exception_body(r: Resource) -> dict:
        tags = {"environment": r.environment, "classification": r.classification}
        if r.type == "Microsoft.Web/sites":
            properties = {"serverFarmId": f"{_rg(r.subscription_id, r.resource_group)}/providers/Microsoft.Web/"
                                          f"serverfarms/plan-{r.environment}", "httpsOnly": True}
            return {"id": r.id, "body": {"location": LOCATION, "tags": tags, "kind": "app", "properties": properties}}
        properties = {"configuration": {"ingress": {"external": True, "targetPort": 80}},
                      "template": {"containers": [{"name": "app", "image": "mcr.microsoft.com/k8se/quickstart:latest"}]}}
        return {"id": r.id, "body": {"location": LOCATION, "tags": tags, "properties": properties}}

    def policy(self) -> dict:
        policy: dict[str, dict] = {}
        for env in ENVIRONMENTS:
            policy[env] = {}
            for cls in CLASSIFICATIONS:
                rule: dict[str, Any] = {"key": self.key_entry(env, cls), "disk_encryption_set": self.des_entry(env, cls, self.subs[0])}
                if cls == "pii" and self.hsm:
                    rule["services"] = {"container_group": {"key": self.key_entry(env, cls, "container_group")}}
                policy[env][cls] = rule
        return policy


def generate_estate(n_resources: int, subscriptions: int = 3, break_share: float = 0.2, seed: int = 0, hsm: bool = True,
                    kinds: Optional[Iterable[str]] = None, unlabelled_share: float = 0.03,
                    exception_share: float = 0.01) -> Estate:
    """An estate of `n_resources` workload resources (labelled, unlabelled and exceptions together).

    `break_share`: share of the labelled resources that get one break (a kind of `kinds`, default every kind of
    `BREAKS`, that applies to the resource's service); `hsm`: PII keys in Managed HSMs (else in Key Vault Premium);
    `seed`: the random seed (same arguments, same estate)."""
    builder = _Builder(n_resources, subscriptions, break_share, seed, hsm, kinds, unlabelled_share, exception_share)
    builder.plan()
    seed_document = builder.build()
    keys = {name: {k: v for k, v in entry.items() if not k.startswith("_")} for name, entry in builder.catalog.items()}
    arguments = {"n_resources": n_resources, "subscriptions": subscriptions, "break_share": break_share, "seed": seed,
                 "hsm": hsm, "kinds": sorted(builder.kinds), "unlabelled_share": unlabelled_share,
                 "exception_share": exception_share}
    return Estate(seed=seed_document, resources=builder.resources, keys=keys,
                  disk_encryption_sets=builder.des_catalog, policy=builder.policy(), subscriptions=builder.subs,
                  arguments=arguments)


def main(argv: list[str]) -> int:
    """`python -m azemu generate --resources N [--subscriptions S] [--break-share F] [--seed K] --out DIR`."""
    import argparse
    import time
    parser = argparse.ArgumentParser(prog="python -m azemu generate",
                                     description="Generate an estate: DIR/seed.json, DIR/inventory/, DIR/expected.json.")
    parser.add_argument("--resources", type=int, required=True, help="number of workload resources")
    parser.add_argument("--subscriptions", type=int, default=3)
    parser.add_argument("--break-share", type=float, default=0.2, help="share of labelled resources with a break")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same arguments, same estate)")
    parser.add_argument("--no-hsm", action="store_true", help="PII keys in Key Vault Premium instead of Managed HSM")
    parser.add_argument("--kinds", help=f"comma-separated break kinds (default: all of {', '.join(BREAKS)})")
    parser.add_argument("--out", required=True, help="output directory")
    arguments = parser.parse_args(argv)
    kinds = [k.strip() for k in arguments.kinds.split(",") if k.strip()] if arguments.kinds else None
    started = time.perf_counter()
    try:
        estate = generate_estate(arguments.resources, arguments.subscriptions, arguments.break_share, arguments.seed,
                                 hsm=not arguments.no_hsm, kinds=kinds)
    except ValueError as exc:
        parser.error(str(exc))
    out = estate.write(arguments.out)
    broken = sum(1 for kinds_ in estate.expected.values() if kinds_)
    print(f"azemu generate: {len(estate.resources)} resources ({broken} with a break) in {len(estate.subscriptions)} "
          f"subscription(s) -> {out}/seed.json, {out}/inventory/, {out}/expected.json "
          f"({time.perf_counter() - started:.1f} s)")
    return 0
