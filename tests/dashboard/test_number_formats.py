"""How the dashboard writes numbers for people (awu.dashboard.templatetags.dashboard_format)."""

from __future__ import annotations

import pytest

from awu.dashboard.templatetags.dashboard_format import awus, percent, ratio, raw, spend, usd


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("46.004000000", "$46.00"),
        ("1234.500000000", "$1,235"),
        ("0.420000000", "$0.42"),
        ("0.004000000", "$0.004"),
        ("0.000000000", "$0.00"),
        ("-2.500000000", "-$2.50"),
        (None, "—"),
    ],
)
def test_money_reads_as_dollars(value: str | None, text: str) -> None:
    assert usd(value) == text


@pytest.mark.parametrize(
    ("value", "unpriced", "text"),
    [
        ("46.004000000", 0, "$46.00"),
        ("46.004000000", None, "$46.00"),
        ("46.004000000", 3, "$46.00 + 3 unpriced"),
        (None, 2, "unknown (2 unpriced)"),
        (None, 0, "—"),
    ],
)
def test_spend_says_how_many_records_it_leaves_unpriced(
    value: str | None, unpriced: int | None, text: str
) -> None:
    assert spend(value, unpriced) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.130423, "0.13"),
        (0.052083, "0.0521"),
        (0.48, "0.48"),
        (12.3456, "12.3"),
        (12345.6, "12,346"),
        (0.0, "0"),
        (None, "—"),
    ],
)
def test_ratios_keep_three_significant_digits(value: float | None, text: str) -> None:
    assert ratio(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(0.933333, "93.3%"), (0.75, "75%"), (1.0, "100%"), (None, "—")]
)
def test_shares_read_as_percents(value: float | None, text: str) -> None:
    assert percent(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [("3.000000", "3"), ("2.500000", "2.5"), ("1234.125000", "1,234.13"), ("-1.000000", "-1")],
)
def test_awu_amounts_drop_trailing_zeros(value: str, text: str) -> None:
    assert awus(value) == text


def test_data_values_keep_the_api_value_and_null_is_empty() -> None:
    assert (raw("0.500000"), raw(0.5), raw(None), raw(0)) == ("0.500000", "0.5", "", "0")
