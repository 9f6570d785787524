"""ledger.query and the selectors that read query strings, called without HTTP:
a bad value raises the domain's InvalidInput (never the HTTP layer's ApiError)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.http import QueryDict

from awu.reports.query import parse_report_query, parse_trend_query
from awu.reports.selectors import definition_detail, work_unit_detail
from ledger.errors import InvalidInput, NotFound
from ledger.http import ApiError
from ledger.query import Keyset, decode_cursor, encode_cursor, page_limit, person_id
from ledger.selectors import ListFilters
from tests.conftest import Api


@pytest.mark.parametrize(
    ("parse", "query", "field"),
    [
        (ListFilters.from_query, "limit=0", "limit"),
        (ListFilters.from_query, "person=alice", "person"),
        (ListFilters.from_query, "from=2026-02-01&to=2026-01-01", "to"),
        (ListFilters.from_query, "cost_source=free", "cost_source"),
        (ListFilters.from_query, "ref=nokind", "ref"),
        (ListFilters.from_query, "cursor=%21%21", "cursor"),
        (parse_report_query, "group_by=colour", "group_by"),
        (parse_report_query, "as_of=yesterday", "as_of"),
        (parse_report_query, "person=1,2", "person"),
        (parse_trend_query, "interval=day&from=2026-01-01&to=2026-02-01", "interval"),
        (parse_trend_query, "from=2026-01-01", "from"),
    ],
)
def test_a_bad_parameter_raises_invalid_input_naming_it(
    parse: Callable[[QueryDict], object], query: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse(QueryDict(query))

    assert not isinstance(raised.value, ApiError)
    assert list(raised.value.errors) == [field]
    assert raised.value.detail == "A query parameter is not valid."


def test_the_listings_and_the_reports_read_a_person_and_a_limit_alike() -> None:
    for bad in ("alice", "0", "-1", "²", str(2**63)):
        with pytest.raises(InvalidInput, match="not valid") as raised:
            person_id(bad)
        assert raised.value.errors == {"person": ["not a person id"]}
    for bad in ("abc", "0", "501", "²", "+5"):
        with pytest.raises(InvalidInput) as raised:
            page_limit(bad)
        assert raised.value.errors == {"limit": ["between 1 and 500"]}
    assert (person_id("7"), page_limit("500"), page_limit(None)) == (7, 500, 100)


def test_a_cursor_round_trips_with_its_order() -> None:
    cursor = encode_cursor(order="oldest", last_id=42)

    assert decode_cursor(cursor) == ("oldest", 42)
    assert Keyset.from_query(order=None, cursor=cursor) == Keyset(order="oldest", after=42)


@pytest.mark.django_db
def test_a_detail_selector_raises_not_found_for_a_missing_id() -> None:
    with pytest.raises(NotFound, match=r"No such work unit\."):
        work_unit_detail(unit_id=999_999)
    with pytest.raises(NotFound, match=r"No such definition\."):
        definition_detail(definition_id=999_999)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "query", "field"),
    [
        ("/api/v1/work-units", {"limit": "²"}, "limit"),
        ("/api/v1/work-units", {"person": "²"}, "person"),
        ("/api/v1/reports/efficiency", {"person": "²"}, "person"),
        ("/api/v1/events", {"person": "²"}, "person"),
    ],
)
def test_a_digit_that_is_not_a_decimal_digit_is_a_400(
    api: Callable[..., Api], url: str, query: dict[str, str], field: str
) -> None:
    response = api("reports:read").get(url, query)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
