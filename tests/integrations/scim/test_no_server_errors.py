"""Property: whatever a client sends to /scim/v2, the answer is never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integrations.scim.conftest import ENTERPRISE, GROUP, PATCH, USER, Scim

pytestmark = pytest.mark.django_db

_ATTRS = [
    "userName",
    "externalId",
    "active",
    "emails",
    "name",
    "displayName",
    "members",
    "title",
    "id",
    "schemas",
    "meta",
    "groups",
    ENTERPRISE,
    "value",
    "op",
    "path",
]
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["1", "999999999999", "a@b.co", "False", "\x00", "members", "Replace"]),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(_ATTRS) | st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=12,
)


def _users_body(extra: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [USER, ENTERPRISE], "userName": "fuzz@example.com", **extra}


_bodies = st.one_of(
    _json,
    st.dictionaries(st.sampled_from(_ATTRS), _json, max_size=5).map(_users_body),
    st.builds(
        lambda ops: {"schemas": [PATCH], "Operations": ops},
        st.lists(
            st.fixed_dictionaries(
                {"op": st.sampled_from(["add", "Replace", "remove", "x"]) | _scalars},
                optional={
                    "path": st.sampled_from(
                        [
                            "members",
                            'members[value eq "1"]',
                            "active",
                            f"{ENTERPRISE}:manager",
                            'emails[type eq "work"].value',
                            "name.givenName",
                            "((",
                        ]
                    )
                    | st.text(max_size=20),
                    "value": _json,
                },
            ),
            max_size=3,
        ),
    ),
    st.builds(lambda members: {"schemas": [GROUP], "displayName": "G", "members": members}, _json),
)

_settings = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def targets(scim: Scim) -> dict[str, str]:
    user_id = scim.post("/Users", {"schemas": [USER], "userName": "t@example.com"}).json()["id"]
    group_id = scim.post("/Groups", {"schemas": [GROUP], "displayName": "T"}).json()["id"]
    return {"user": user_id, "group": group_id}


@_settings
@given(
    body=_bodies,
    method=st.sampled_from(["POST", "PUT", "PATCH"]),
    kind=st.sampled_from(["Users", "Groups"]),
)
def test_malformed_bodies_never_cause_a_500(
    scim: Scim, targets: dict[str, str], body: Any, method: str, kind: str
) -> None:
    target = targets["user" if kind == "Users" else "group"]
    path = f"/{kind}" if method == "POST" else f"/{kind}/{target}"
    response = scim.call(method, path, body)
    assert response.status_code < 500, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/scim+json")


@_settings
@given(
    expression=st.text(max_size=60)
    | st.builds(
        lambda a, op, v: f"{a} {op} {v}",
        st.sampled_from(
            [
                "userName",
                "emails.value",
                "id",
                "active",
                "meta.lastModified",
                "members.value",
                "displayName",
                "x.y",
                f"{ENTERPRISE}:manager.value",
            ]
        ),
        st.sampled_from(["eq", "ne", "co", "sw", "gt", "le", "pr", "zz"]),
        st.sampled_from(
            ['"a"', "true", "12", '"2026-01-01T00:00:00Z"', '"99999999999999999999"', "null", "("]
        ),
    ),
    kind=st.sampled_from(["Users", "Groups"]),
    start=st.sampled_from(["", "1", "-5", "x", "99999999999999999999"]),
)
def test_any_filter_or_page_never_causes_a_500(
    scim: Scim, expression: str, kind: str, start: str
) -> None:
    response = scim.client.get(
        f"/scim/v2/{kind}",
        {"filter": expression, "startIndex": start, "count": "2"},
        HTTP_AUTHORIZATION=f"Bearer {scim.key}",
    )
    assert response.status_code < 500, (expression, response.content)
