"""``awu directory import``: the directory from a CSV file, and every bad row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from ledger import directory
from ledger.models import Identity, Membership, Person, Team
from tests.cli.conftest import Ran

pytestmark = pytest.mark.django_db

HEADER = "name,email,team,identities,valid_from,department,cost_centre,parent_team,external_id\n"
GOOD = (
    HEADER
    + "Ann,ann@example.com,web,github:ann;slack:U1,,Eng,CC-1,eng,hr-1\n"
    + "Bob,bob@example.com,api,github:bob,2026-01-01,Eng,CC-2,eng,hr-2\n"
)


@pytest.fixture(autouse=True)
def _clock() -> Any:
    with override_settings(AWU_NOW="2026-11-23T12:00:00Z"):
        yield


@pytest.fixture
def csv_file(tmp_path: Path) -> Callable[[str | bytes], str]:
    def write(content: str | bytes) -> str:
        path = tmp_path / "people.csv"
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return str(path)

    return write


def _nothing_written() -> None:
    assert not Person.objects.exists()
    assert not Team.objects.exists()
    assert not Membership.history.exists()
    assert not Identity.history.exists()


def test_an_import_makes_people_teams_memberships_and_identities(
    awu: Callable[..., Ran], csv_file: Callable[[str], str]
) -> None:
    ran = awu("directory", "import", csv_file(GOOD))
    assert ran.code == 0, ran
    assert "person.create 2" in ran.out
    ann = Person.objects.get(email="ann@example.com")
    assert (ann.department, ann.cost_centre, ann.external_id) == ("Eng", "CC-1", "hr-1")
    assert set(ann.identities.values_list("value", flat=True)) == {
        "ann@example.com",
        "github:ann",
        "slack:U1",
    }
    assert Team.objects.get(slug="web").parent == Team.objects.get(slug="eng")
    assert Membership.objects.get(person=ann).valid_from == directory.BEGINNING
    bob = Membership.objects.get(person__email="bob@example.com")
    assert bob.valid_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert {m.origin for m in Membership.objects.all()} == {"import"}


def test_a_second_import_of_the_same_file_changes_nothing_and_says_so(
    awu: Callable[..., Ran], csv_file: Callable[[str], str]
) -> None:
    path = csv_file(GOOD)
    awu("directory", "import", path)
    counts = (Membership.history.count(), Identity.history.count(), Person.objects.count())
    ran = awu("directory", "import", path)
    assert ran.code == 0
    assert "No changes" in ran.out
    assert (Membership.history.count(), Identity.history.count(), Person.objects.count()) == counts


def test_a_dry_run_shows_the_diff_and_writes_nothing(
    awu: Callable[..., Ran], csv_file: Callable[[str], str]
) -> None:
    ran = awu("directory", "import", csv_file(GOOD), "--dry-run")
    assert ran.code == 0, ran
    assert "Would change (dry run, nothing written)" in ran.out
    assert "line 2: person.create ann@example.com (Ann)" in ran.out
    assert "line 3: membership.start bob@example.com in api from 2026-01-01" in ran.out
    assert "identity.map github:ann -> ann@example.com" in ran.out
    assert "team.create eng" in ran.out
    _nothing_written()


def test_a_move_ends_the_old_membership_and_a_remap_is_shown(
    awu: Callable[..., Ran], csv_file: Callable[[str], str]
) -> None:
    awu("directory", "import", csv_file(GOOD))
    carol = directory.person_create(name="Carol", email="carol@example.com")
    directory.identity_map(value="github:bob", person=carol)
    moved = HEADER + "Bob,bob@example.com,web,github:bob,2026-06-01,Eng,CC-2,,hr-2\n"
    dry = awu("directory", "import", csv_file(moved), "--dry-run")
    assert "membership.end bob@example.com in api" in dry.out
    assert "membership.start bob@example.com in web from 2026-06-01" in dry.out
    assert f"identity.remap github:bob -> bob@example.com (was person {carol.pk})" in dry.out
    ran = awu("directory", "import", csv_file(moved))
    assert ran.code == 0, ran
    bob = Person.objects.get(email="bob@example.com")
    spans = sorted(
        (m.team.slug, m.valid_from.date().isoformat(), m.valid_to and m.valid_to.date().isoformat())
        for m in Membership.objects.filter(person=bob)
    )
    assert spans == [("api", "2026-01-01", "2026-06-01"), ("web", "2026-06-01", None)]


@pytest.mark.parametrize(
    ("content", "line", "column"),
    [
        ("email,team\nann@example.com,web\n", 1, "name"),
        ("name,team\nAnn,web\n", 1, "email"),
        ("name,email,colour\nAnn,ann@example.com,blue\n", 1, "colour"),
        (HEADER + ",ann@example.com,web,,,,,,\n", 2, "name"),
        (HEADER + "Ann,,web,,,,,,\n", 2, "email"),
        (HEADER + "Ann,not-an-email,web,,,,,,\n", 2, "email"),
        (HEADER + "Ann,ann@example.com,has space,,,,,,\n", 2, "team"),
        (HEADER + "Ann,ann@example.com,web,,yesterday,,,,\n", 2, "valid_from"),
        (HEADER + "Ann,ann@example.com,web,,2026-02-30,,,,\n", 2, "valid_from"),
        (HEADER + "Ann,ann@example.com,,,,,,eng,\n", 2, "parent_team"),
        (HEADER + "Ann,ann@example.com,web,,,,,web,\n", 2, "parent_team"),
        (HEADER + "Ann,ann@example.com,web,,,,,,,extra\n", 2, "row"),
        (HEADER + f"{'A' * 201},ann@example.com,web,,,,,,\n", 2, "name"),
        (HEADER + f"Ann,ann@example.com,web,{'x' * 255},,,,,\n", 2, "identities"),
        (
            HEADER + "Ann,ann@example.com,web,,,,,,\nAnn,ANN@example.com,web,,,,,,\n",
            3,
            "email",
        ),
        (
            HEADER
            + "Ann,ann@example.com,web,github:x,,,,,\nBob,bob@example.com,web,github:x,,,,,\n",
            3,
            "identities",
        ),
    ],
)
def test_a_bad_row_is_reported_by_line_and_column_and_nothing_is_written(
    awu: Callable[..., Ran], csv_file: Callable[[str], str], content: str, line: int, column: str
) -> None:
    good = HEADER + "Zed,zed@example.com,ops,,,,,,\n" if line > 1 else ""
    ran = awu("directory", "import", csv_file(content + (good.split("\n", 1)[1] if good else "")))
    assert ran.code == 1, ran
    assert f"error line {line}: {column}:" in ran.out
    assert "nothing written" in ran.err
    _nothing_written()


def test_a_file_that_is_not_utf8_is_refused(
    awu: Callable[..., Ran], csv_file: Callable[[bytes], str]
) -> None:
    ran = awu("directory", "import", csv_file(HEADER.encode() + b"Ann,\xff@example.com,web\n"))
    assert ran.code == 1
    assert "error line 2: file: not UTF-8 text" in ran.out
    _nothing_written()


def test_a_clash_with_the_directory_is_a_row_error(
    awu: Callable[..., Ran], csv_file: Callable[[str], str]
) -> None:
    other = Person.objects.create(name="Other", external_id="hr-9", email="other@example.com")
    content = HEADER + "Ann,ann@example.com,web,,,,,,hr-9\n"
    # The external id finds Other, whose email would become Ann's: fine. A clash is an
    # email already used by a third person.
    Person.objects.create(name="Ann old", email="ann@example.com")
    ran = awu("directory", "import", csv_file(content))
    assert ran.code == 1, ran
    assert "error line 2: email:" in ran.out
    assert Person.objects.get(pk=other.pk).email == "other@example.com"
    assert not Team.objects.exists()


def test_skip_invalid_imports_the_valid_rows_and_reports_the_others(
    awu: Callable[..., Ran], csv_file: Callable[[str], str]
) -> None:
    content = GOOD + "Bad,not-an-email,web,,,,,,\n"
    ran = awu("directory", "import", csv_file(content), "--skip-invalid")
    assert ran.code == 0, ran
    assert "error line 4: email: not an email address" in ran.out
    assert "Skipped 1 line(s)" in ran.out
    assert Person.objects.count() == 2


def test_a_dry_run_with_bad_rows_shows_both_and_fails(
    awu: Callable[..., Ran], csv_file: Callable[[str], str]
) -> None:
    ran = awu("directory", "import", csv_file(GOOD + "Bad,not-an-email,web,,,,,,\n"), "--dry-run")
    assert ran.code == 1
    assert "error line 4: email" in ran.out
    assert "person.create ann@example.com" in ran.out
    _nothing_written()


def test_manage_py_directory_import_runs_the_same_import(
    csv_file: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("directory_import", csv_file(GOOD))
    assert "Made:" in capsys.readouterr().out
    assert Person.objects.count() == 2


def test_a_missing_file_is_one_line(awu: Callable[..., Ran], tmp_path: Path) -> None:
    ran = awu("directory", "import", str(tmp_path / "nope.csv"))
    assert ran.code == 1
    assert "cannot read" in ran.err
