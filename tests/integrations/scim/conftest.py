"""SCIM test helpers: a client over Django's test client with a directory key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.test import Client

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


class Scim:
    """Sends SCIM bodies to /scim/v2 with a bearer key."""

    def __init__(self, client: Client, key: str | None) -> None:
        self.client = client
        self.key = key

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        extra = {"HTTP_AUTHORIZATION": f"Bearer {self.key}"} if self.key else {}
        extra.update(headers)
        data = body if isinstance(body, bytes | str) or body is None else orjson.dumps(body)
        return self.client.generic(
            method,
            f"/scim/v2{path}",
            data=data or b"",
            content_type="application/scim+json",
            **extra,
        )

    def get(self, path: str, **headers: str) -> Any:
        return self.call("GET", path, **headers)

    def post(self, path: str, body: Any, **headers: str) -> Any:
        return self.call("POST", path, body, **headers)

    def put(self, path: str, body: Any, **headers: str) -> Any:
        return self.call("PUT", path, body, **headers)

    def patch(self, path: str, *operations: dict[str, Any], **headers: str) -> Any:
        return self.call(
            "PATCH", path, {"schemas": [PATCH], "Operations": list(operations)}, **headers
        )

    def delete(self, path: str, **headers: str) -> Any:
        return self.call("DELETE", path, **headers)


@pytest.fixture
def scim_as(client: Client, make_key: Callable[..., str]) -> Callable[..., Scim]:
    def build(*scopes: str) -> Scim:
        return Scim(client, make_key(*scopes) if scopes else None)

    return build


@pytest.fixture
def scim(scim_as: Callable[..., Scim]) -> Scim:
    return scim_as("directory:write")


def user(user_name: str, **extra: Any) -> dict[str, Any]:
    """A User body as Okta sends one on create."""
    given, _, family = user_name.partition("@")[0].partition(".")
    return {
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": given.title(), "familyName": family.title() or "Doe"},
        "emails": [{"value": user_name, "primary": True, "type": "work"}],
        "active": True,
        **extra,
    }


def group(name: str, *member_ids: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [GROUP],
        "displayName": name,
        "members": [{"value": m} for m in member_ids],
        **extra,
    }


def error_of(response: Any) -> tuple[int, str | None, str]:
    body = response.json()
    assert body["schemas"] == [ERROR], body
    assert body["status"] == str(response.status_code)
    assert response["Content-Type"].startswith("application/scim+json")
    return response.status_code, body.get("scimType"), body["detail"]
