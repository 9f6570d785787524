"""/scim/v2 authentication and scopes, the discovery endpoints, unknown paths."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger import auth
from tests.integrations.scim.conftest import Scim, error_of, user

pytestmark = pytest.mark.django_db


def test_no_key_is_401_in_scim_shape_with_a_bearer_challenge(scim_as: Callable[..., Scim]) -> None:
    response = scim_as().get("/Users")
    assert error_of(response)[0] == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer awu_unknown", "Bearer ", "Bearer x"]
)
def test_a_wrong_or_unknown_key_is_401(scim: Scim, header: str) -> None:
    assert error_of(scim.get("/Users", HTTP_AUTHORIZATION=header))[0] == 401


def test_a_revoked_key_is_401(scim_as: Callable[..., Scim], make_key: Callable[..., str]) -> None:
    key = make_key("directory:write")
    row = auth.principal_for_key(key)
    assert row is not None
    auth.api_key_revoke(key_id=row.key_id)
    client = scim_as()
    client.key = key
    assert error_of(client.get("/Users"))[0] == 401


def test_directory_read_may_read_but_not_write(scim_as: Callable[..., Scim]) -> None:
    reader = scim_as("directory:read")
    assert reader.get("/Users").status_code == 200
    status, _, detail = error_of(reader.post("/Users", user("r@example.com")))
    assert status == 403
    assert "directory:write" in detail


@pytest.mark.parametrize("scope", ["reports:read", "events:write"])
def test_other_scopes_are_403(scim_as: Callable[..., Scim], scope: str) -> None:
    assert error_of(scim_as(scope).get("/Users"))[0] == 403


def test_write_scope_and_admin_may_read(scim_as: Callable[..., Scim]) -> None:
    assert scim_as("directory:write").get("/Groups").status_code == 200
    assert scim_as("admin").get("/Groups").status_code == 200


def test_service_provider_config_says_what_is_supported(scim: Scim) -> None:
    response = scim.get("/ServiceProviderConfig")
    body = response.json()
    assert response["Content-Type"].startswith("application/scim+json")
    assert body["patch"]["supported"] is True
    assert body["filter"] == {"supported": True, "maxResults": 200}
    assert body["etag"]["supported"] is True
    assert body["bulk"]["supported"] is False
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"


def test_resource_types_and_schemas_list_user_enterprise_and_group(scim: Scim) -> None:
    types = scim.get("/ResourceTypes").json()
    assert {r["id"] for r in types["Resources"]} == {"User", "Group"}
    assert scim.get("/ResourceTypes/Group").json()["endpoint"] == "/Groups"
    schemas = scim.get("/Schemas").json()
    assert {s["id"] for s in schemas["Resources"]} == {
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:Group",
    }
    assert error_of(scim.get("/Schemas/urn:nope"))[0] == 404


def test_an_unknown_path_or_method_is_a_scim_error(scim: Scim) -> None:
    assert error_of(scim.get("/Nope"))[0] == 404
    assert error_of(scim.call("DELETE", "/ServiceProviderConfig"))[0] == 405


def test_search_by_post_finds_users_and_groups(scim: Scim) -> None:
    scim.post("/Users", user("s@example.com"))
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'userName eq "s@example.com"',
        "attributes": ["userName"],
    }
    found = scim.post("/Users/.search", body).json()
    assert [r["userName"] for r in found["Resources"]] == ["s@example.com"]
    assert scim.post("/.search", body).json()["totalResults"] == 1
    assert error_of(scim.post("/.search", {**body, "filter": 'nope eq "x"'}))[:2] == (
        400,
        "invalidFilter",
    )
    assert error_of(scim.post("/Users/.search", {**body, "count": "many"}))[0] == 400
