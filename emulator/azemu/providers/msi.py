"""Microsoft.ManagedIdentity/userAssignedIdentities: each identity is also a directory principal."""
from __future__ import annotations

import uuid
from typing import Optional

from ..arm import ArmContext, ResourceType, Target, registry
from ..state import Principal

UAI_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"


@registry.resource_type
class UserAssignedIdentity(ResourceType):
    type_name = UAI_TYPE
    name_pattern = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$"
    name_message = ("Resource name '{name}' is invalid. The name can contain only letters, numbers, underscores and "
                    "hyphens. The name must start with a letter or number.")
    envelope_keys = ("location", "tags", "properties")

    def prepare(self, ctx: ArmContext, target: Target, existing: Optional[dict], body: dict) -> dict:
        resource = super().prepare(ctx, target, existing, body)
        computed = existing["properties"] if existing else {
            "tenantId": ctx.tenant_of_subscription(target.subscription_id),
            "principalId": str(uuid.uuid4()), "clientId": str(uuid.uuid4()),
        }
        requested = body.get("properties") or {}
        resource["properties"] = {
            "tenantId": computed["tenantId"], "principalId": computed["principalId"], "clientId": computed["clientId"],
            "isolationScope": requested.get("isolationScope", "None"),
        }
        return resource

    def on_finish(self, ctx: ArmContext, resource: dict) -> None:
        properties = resource["properties"]
        if ctx.state.principal(properties["principalId"]) is None:
            ctx.state.add_principal(Principal(
                object_id=properties["principalId"], type="ManagedIdentity", display_name=resource["name"],
                tenant_id=properties["tenantId"], client_id=properties["clientId"], resource_id=resource["id"]))

    def remove(self, ctx: ArmContext, target: Target, resource: dict) -> None:
        super().remove(ctx, target, resource)
        ctx.state.principals.pop(resource["properties"]["principalId"].lower(), None)
