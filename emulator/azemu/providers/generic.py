"""Resource types the emulator stores without service behaviour: services with no customer-managed-key switch of their
own (the seed document's "notable exceptions": App Service / Functions (`kind` `app`, `functionapp`,
`functionapp,linux`, ...), Container Apps, Static Web Apps, Logic Apps) and what they stand on. They exist so that an
estate can hold them and discovery can report them as exceptions: PUT/GET/PATCH/DELETE and the subscription and group
listings are ARM's generic CRUD (synchronous); nothing service-specific is validated or computed."""
from __future__ import annotations

from ..arm import ResourceType, registry

# type -> the status Resource Manager answers a creating PUT with
GENERIC_TYPES = {
    "Microsoft.App/containerApps": 201,
    "Microsoft.App/managedEnvironments": 201,
    "Microsoft.Web/sites": 200,
    "Microsoft.Web/serverfarms": 200,
    "Microsoft.Web/staticSites": 200,
    "Microsoft.Logic/workflows": 201,
}


def _register(type_name: str, created_status: int) -> None:
    registry.resource_type(type(type_name.replace("/", "_").replace(".", "_"), (ResourceType,),
                                {"type_name": type_name, "created_status": created_status, "updated_status": 200}))


for _name, _status in GENERIC_TYPES.items():
    _register(_name, _status)
