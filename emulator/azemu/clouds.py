"""The clouds the emulator answers for: hosts, DNS suffixes, token audiences.

This is the one place that lists every emulated host name; the TLS certificate, the
CONNECT allow-list and the request router are all derived from it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional


@dataclass(frozen=True)
class Cloud:
    name: str
    login_host: str
    management_host: str
    kv_suffix: str
    mhsm_suffix: str
    arm_audiences: tuple[str, ...]
    extra_login_hosts: tuple[str, ...] = ()

    @property
    def login_hosts(self) -> tuple[str, ...]:
        return (self.login_host,) + self.extra_login_hosts

    @property
    def kv_resource(self) -> str:
        return f"https://{self.kv_suffix}"

    @property
    def mhsm_resource(self) -> str:
        return f"https://{self.mhsm_suffix}"

    @property
    def login_endpoint(self) -> str:
        return f"https://{self.login_host}"

    def host_names(self) -> list[str]:
        """Names the TLS certificate must cover for this cloud."""
        return [*self.login_hosts, self.management_host, f"*.{self.kv_suffix}", f"*.{self.mhsm_suffix}"]

    def metadata(self) -> dict:
        """The `GET /metadata/endpoints` document (api-version 2022-09-01 shape)."""
        return {
            "name": self.name,
            "resourceManager": f"https://{self.management_host}/",
            "authentication": {
                "loginEndpoint": self.login_endpoint,
                "audiences": list(self.arm_audiences),
                "tenant": "common",
                "identityProvider": "AAD",
            },
            "suffixes": {"keyVaultDns": self.kv_suffix, "mhsmDns": self.mhsm_suffix},
        }


CLOUDS: tuple[Cloud, ...] = (
    Cloud(
        name="AzureCloud",
        login_host="login.microsoftonline.com",
        extra_login_hosts=("login.windows.net",),
        management_host="management.azure.com",
        kv_suffix="vault.azure.net",
        mhsm_suffix="managedhsm.azure.net",
        arm_audiences=("https://management.core.windows.net/", "https://management.azure.com/"),
    ),
    Cloud(
        name="AzureChinaCloud",
        login_host="login.chinacloudapi.cn",
        management_host="management.chinacloudapi.cn",
        kv_suffix="vault.azure.cn",
        mhsm_suffix="managedhsm.azure.cn",
        arm_audiences=("https://management.core.chinacloudapi.cn/", "https://management.chinacloudapi.cn/"),
    ),
    Cloud(
        name="AzureUSGovernment",
        login_host="login.microsoftonline.us",
        management_host="management.usgovcloudapi.net",
        kv_suffix="vault.usgovcloudapi.net",
        mhsm_suffix="managedhsm.usgovcloudapi.net",
        arm_audiences=("https://management.core.usgovcloudapi.net/", "https://management.usgovcloudapi.net/"),
    ),
    Cloud(
        name="AzureStackHub",
        login_host="login.local.azurestack.external",
        management_host="management.local.azurestack.external",
        kv_suffix="vault.local.azurestack.external",
        mhsm_suffix="managedhsm.local.azurestack.external",
        arm_audiences=("https://management.local.azurestack.external/",),
    ),
)


@dataclass(frozen=True)
class Endpoint:
    """What a host name is: which cloud and which service (login/arm/kv/mhsm) and, for data planes, the name."""
    cloud: Cloud
    service: str
    name: str = ""


def classify_host(host: str) -> Optional[Endpoint]:
    host = host.lower().rstrip(".")
    for cloud in CLOUDS:
        if host in cloud.login_hosts:
            return Endpoint(cloud, "login")
        if host == cloud.management_host:
            return Endpoint(cloud, "arm")
        for service, suffix in (("kv", cloud.kv_suffix), ("mhsm", cloud.mhsm_suffix)):
            label, _dot, rest = host.partition(".")
            if rest == suffix and label:
                return Endpoint(cloud, service, label)
    return None


def certificate_names(extra: Iterable[str] = ()) -> list[str]:
    names = [name for cloud in CLOUDS for name in cloud.host_names()]
    return names + [name for name in extra if name not in names]


def normalise_audience(value: str) -> str:
    """`https://vault.azure.net/.default` and `https://vault.azure.net/` both mean `https://vault.azure.net`."""
    value = value.strip()
    if value.endswith("/.default"):
        value = value[: -len("/.default")]
    return value.rstrip("/").lower()


def cloud_by_name(name: str) -> Cloud:
    for cloud in CLOUDS:
        if cloud.name.lower() == name.lower():
            return cloud
    raise KeyError(name)
