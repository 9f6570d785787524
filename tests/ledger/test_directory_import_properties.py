"""Properties of reading a directory CSV: any bytes are answered, never raised on, and
a well-formed file reads back as written."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.directory_import import COLUMNS, rows_read

_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_are_read_or_refused_by_line_never_raised_on(data: bytes) -> None:
    rows, errors = rows_read(data)
    assert all(e.line >= 1 and e.field and e.reason for e in errors)
    assert len({r.line for r in rows}) == len(rows)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_cell, min_size=1, max_size=len(COLUMNS) + 1), max_size=6))
def test_any_csv_of_the_known_columns_is_read_or_refused_by_line(cells: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(cells)
    rows, errors = rows_read(buffer.getvalue().encode())
    refused = {e.line for e in errors}
    assert not refused & {r.line for r in rows}


_name = st.text(alphabet="abcdefghij ", min_size=1, max_size=12).map(str.strip).filter(bool)
_login = st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(_name, _login, st.sampled_from(["", "web", "api"]), st.lists(_login, max_size=3)),
        min_size=1,
        max_size=5,
        unique_by=lambda t: t[1],
    )
)
def test_a_well_formed_file_reads_back_as_written(
    people: list[tuple[str, str, str, list[str]]],
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "email", "team", "identities"])
    for name, login, team, aliases in people:
        handles = sorted({f"github:{login}-{a}" for a in aliases})
        writer.writerow([name, f"{login}@example.com", team, ";".join(handles)])
    rows, errors = rows_read(buffer.getvalue().encode())
    assert errors == []
    assert [(r.line, r.name, r.email, r.team) for r in rows] == [
        (n + 2, name, f"{login}@example.com", team)
        for n, (name, login, team, _) in enumerate(people)
    ]
    assert [len(r.identities) for r in rows] == [len(set(a)) for *_, a in people]
