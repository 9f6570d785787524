"""The wire models (scim2-models) and the discovery documents of /scim/v2."""

from __future__ import annotations

from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    Group,
    Patch,
    ResourceType,
    ScimPolicy,
    ServiceProviderConfig,
    Sort,
    User,
)

UserResource = User[EnterpriseUser]
GroupResource = Group
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MAX_RESULTS = 200

# Identity providers depart from the RFCs in known ways: Entra ID removes a
# member with the member as the ``value`` of a ``remove``, and writes
# ``emails[type eq "work"].value`` before there is a work email; both send
# attributes of their own (custom schemas) that we have no field for.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)


def service_provider_config() -> dict[str, Any]:
    config = ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="API key",
                description="Authorization: Bearer <API key with directory:read or directory:write>",
                primary=True,
            )
        ],
    )
    return config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def resource_types(base: str) -> list[dict[str, Any]]:
    out = []
    for model, name in ((UserResource, "User"), (GroupResource, "Group")):
        rt = ResourceType.from_resource(model)
        body = rt.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        body["meta"] = {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/{name}"}
        out.append(body)
    return out


def schemas(base: str) -> list[dict[str, Any]]:
    out = []
    for schema in (User.to_schema(), EnterpriseUser.to_schema(), Group.to_schema()):
        body = schema.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        body["meta"] = {"resourceType": "Schema", "location": f"{base}/Schemas/{schema.id}"}
        out.append(body)
    return out
