"""The audit trail itself: append-only in the database, read through the API, the admin
and the JSON-lines export."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ledger import audit
from ledger.models import AuditEvent
from tests.conftest import Api

pytestmark = pytest.mark.django_db


def some_rows(count: int, *, actor: str = "ops-ann", object_type: str = "team") -> None:
    with audit.acting_as(audit.Actor.operator(actor)):
        for n in range(count):
            audit.record(
                f"{object_type}.renamed",
                object_type=object_type,
                object_id=n,
                label=f"{object_type} {n}",
                before={"name": f"old {n}"},
                after={"name": f"new {n}"},
                reason="tidy-up",
            )


@pytest.fixture
def auditor(api: Callable[..., Api]) -> Api:
    return api("audit:read")


@pytest.mark.parametrize("statement", ["UPDATE {t} SET reason = 'edited'", "DELETE FROM {t}"])
def test_an_audit_row_cannot_be_changed_even_by_the_tables_owner(statement: str) -> None:
    some_rows(1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableowner = current_user FROM pg_tables WHERE tablename = %s",
                       [AuditEvent._meta.db_table])  # fmt: skip
        assert cursor.fetchone() == (True,)  # the test runs as the owner (and a superuser)
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute(statement.format(t=AuditEvent._meta.db_table))

    assert AuditEvent.objects.get().reason == "tidy-up"


def test_the_orm_cannot_change_an_audit_row_either() -> None:
    some_rows(1)
    row = AuditEvent.objects.get()
    row.reason = "edited"
    with pytest.raises(DatabaseError), transaction.atomic():
        row.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        row.delete()


def test_a_change_that_rolls_back_leaves_no_audit_row() -> None:
    def failing_change() -> None:
        with transaction.atomic():
            some_rows(1)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()

    assert not AuditEvent.objects.exists()


def test_a_row_without_a_named_actor_names_the_operating_system_user() -> None:
    row = audit.record("team.renamed", object_type="team", object_id=1)

    assert row.actor_kind == "operator"
    assert row.actor == audit.Actor.operator().name != ""


def test_the_api_needs_the_audit_scope(api: Callable[..., Api]) -> None:
    assert api().get("/api/v1/audit-events").status_code == 401
    refused = api("reports:read").get("/api/v1/audit-events")
    assert refused.status_code == 403
    assert "audit:read" in refused.json()["detail"]
    assert api("admin").get("/api/v1/audit-events").status_code == 200


def test_the_api_filters_by_object_type_actor_and_period(auditor: Api) -> None:
    some_rows(2, actor="ops-ann", object_type="team")
    some_rows(3, actor="ops-ben", object_type="price")

    def count(**params: str) -> int:
        response = auditor.get("/api/v1/audit-events", params)
        assert response.status_code == 200, response.content
        return len(response.json()["results"])

    today = timezone.now().date()
    assert count(object_type="price") == 3
    assert count(actor="ops-ann") == 2
    assert count(actor="ops-ann", object_type="price") == 0
    assert count(action="price.renamed", object_id="1") == 1
    assert count(object_type="price", **{"from": str(today), "to": str(today)}) == 3
    assert count(**{"from": str(today + timedelta(days=1))}) == 0


def test_the_api_pages_newest_first_with_a_cursor(auditor: Api) -> None:
    some_rows(5)
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", "object_type": "team", **({"cursor": cursor} if cursor else {})}
        page = auditor.get("/api/v1/audit-events", params).json()
        seen += [row["id"] for row in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == sorted(seen, reverse=True)
    assert len(seen) == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"limit": "0"}, "limit"),
        ({"actor_kind": "robot"}, "actor_kind"),
        ({"cursor": "nonsense"}, "cursor"),
        ({"format": "xml"}, "format"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(
    auditor: Api, params: dict[str, str], field: str
) -> None:
    response = auditor.get("/api/v1/audit-events", params)

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_the_api_answers_csv(auditor: Api) -> None:
    some_rows(2)

    response = auditor.get("/api/v1/audit-events", {"format": "csv", "object_type": "team"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["after_name"] for r in table] == ["new 1", "new 0"]
    assert {r["actor"] for r in table} == {"ops-ann"}


def test_the_admin_lists_audit_events_read_only(admin_client: Client) -> None:
    some_rows(1)
    row = AuditEvent.objects.get()

    listing = admin_client.get(
        reverse("admin:ledger_auditevent_changelist"), {"object_type": "team"}
    )
    detail = admin_client.get(reverse("admin:ledger_auditevent_change", args=[row.pk]))
    edit = admin_client.post(
        reverse("admin:ledger_auditevent_change", args=[row.pk]), {"reason": "edited"}
    )

    assert listing.status_code == 200
    assert b"team 0" in listing.content
    assert detail.status_code == 200
    assert b"tidy-up" in detail.content
    assert edit.status_code == 403
    assert admin_client.get(reverse("admin:ledger_auditevent_add")).status_code == 403
    assert AuditEvent.objects.get().reason == "tidy-up"


def test_the_export_writes_json_lines_oldest_first(tmp_path: Path) -> None:
    some_rows(3)
    out = tmp_path / "audit.jsonl"
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    call_command("audit_export", "--since", since, "--output", str(out), stderr=io.StringIO())

    lines = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert [line["object_label"] for line in lines] == ["team 0", "team 1", "team 2"]
    assert lines[0]["before"] == {"name": "old 0"}
    assert lines[0]["actor"] == "ops-ann"
    assert datetime.fromisoformat(lines[0]["at"]).tzinfo is not None


def test_the_export_to_stdout_leaves_out_rows_before_since() -> None:
    some_rows(2)
    out = io.StringIO()

    call_command(
        "audit_export", "--since", str(datetime.now(UTC).date() + timedelta(days=1)), stdout=out
    )

    assert out.getvalue() == ""


def test_the_export_refuses_a_bad_since() -> None:
    with pytest.raises(CommandError, match="--since"):
        call_command("audit_export", "--since", "last tuesday")


def test_the_actor_of_an_api_request_is_its_key(api: Callable[..., Any]) -> None:
    writer = api("usage:write")
    from tests.ledger.factories import usage

    writer.post("/api/v1/token-usage", usage(team="discovered-by-key"))

    row = AuditEvent.objects.get(action="team.created")
    assert (row.actor_kind, row.actor) == ("api_key", "test")
