"""Resource types with no customer-managed-key switch of their own (App Service / Functions, Container Apps,
Static Web Apps, Logic Apps): stored as Resource Manager stores them (synchronous PUT, GET, PATCH, DELETE,
subscription/group listing) so that an estate can hold them and discovery can report them as exceptions.
Nothing service-specific is validated or computed."""
from __future__ import annotations

from ..arm import ResourceType, registry


@registry.resource_type
class WebSite(ResourceType):
    """App Service apps and Azure Functions (`kind` `app`, `functionapp`, `functionapp,linux`, ...)."""
    type_name = "Microsoft.Web/sites"
    created_status = 200


@registry.resource_type
class StaticSite(ResourceType):
    type_name = "Microsoft.Web/staticSites"
    created_status = 200


@registry.resource_type
class ContainerApp(ResourceType):
    type_name = "Microsoft.App/containerApps"
    created_status = 201


@registry.resource_type
class LogicWorkflow(ResourceType):
    type_name = "Microsoft.Logic/workflows"
    created_status = 201
