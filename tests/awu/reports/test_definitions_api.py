"""GET /api/v1/definitions and /api/v1/definitions/{id}; the admin-only preview."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.awu.reports import build
from tests.conftest import Api

pytestmark = pytest.mark.django_db


def test_list_names_the_latest_published_version(api: Callable[..., Api]) -> None:
    build.definition("shipped")
    rows = api("reports:read").get("/api/v1/definitions").json()["results"]
    assert [(r["key"], r["latest_published_version"]) for r in rows] == [("shipped", 1)]


def test_detail_lists_the_versions(api: Callable[..., Api]) -> None:
    version = build.definition("shipped")
    body = api("reports:read").get(f"/api/v1/definitions/{version.definition_id}").json()
    assert [v["trigger_type"] for v in body["versions"]] == ["code.pr.merged"]


def test_preview_needs_admin(api: Callable[..., Api]) -> None:
    version = build.definition("shipped")
    response = api("reports:read").post(
        f"/api/v1/definitions/{version.definition_id}/preview", {"days": 7}
    )
    assert response.status_code == 403


def test_preview_runs_the_latest_version(api: Callable[..., Api]) -> None:
    version = build.definition("shipped")
    response = api("admin").post(
        f"/api/v1/definitions/{version.definition_id}/preview", {"days": 7}
    )
    assert response.status_code == 200, response.content
    assert response.json()["days"] == 7
