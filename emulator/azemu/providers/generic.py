"""Resource types the emulator stores without service behaviour: services with no customer-managed-key switch of their
own (the seed document's "notable exceptions": Azure Container Apps, App Service / Functions). They exist so that an
estate can hold them and an audit can name them; PUT/GET/PATCH/DELETE/list are ARM's generic CRUD (synchronous)."""
from __future__ import annotations

from ..arm import ResourceType, registry

GENERIC_TYPES = ("Microsoft.App/containerApps", "Microsoft.App/managedEnvironments", "Microsoft.Web/sites",
                 "Microsoft.Web/serverfarms")


def _register(type_name: str) -> None:
    registry.resource_type(type(type_name.replace("/", "_").replace(".", "_"), (ResourceType,),
                                {"type_name": type_name, "created_status": 201, "updated_status": 200}))


for _name in GENERIC_TYPES:
    _register(_name)
