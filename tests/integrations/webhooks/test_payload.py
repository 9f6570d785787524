"""The payload and signature helpers every vendor mapping shares (pure, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.webhooks.base import (
    Mapped,
    MappingError,
    SignatureError,
    any_secret_matches,
    hmac_hex,
)
from integrations.webhooks.payload import (
    check_hex_hmac_header,
    config_strings,
    dig,
    epoch_header,
    epoch_ms_timestamp,
    from_epoch,
    hmac_base64,
    identifier,
    list_at,
    opt_int,
    opt_str,
    refuse_replay,
    req_str,
    required_header,
    unique,
    utc_timestamp,
    without_nulls,
)

PAYLOAD = {"event": {"id": 42, "name": "", "flag": True, "items": [1], "data": "x"}}
NOW = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)


def test_dig_follows_nested_keys() -> None:
    assert dig(PAYLOAD, "event", "data") == "x"


def test_dig_returns_none_where_the_path_breaks() -> None:
    assert dig(PAYLOAD, "event", "data", "deeper") is None
    assert dig(PAYLOAD, "missing", "id") is None


def test_opt_str_reads_strings_and_integers_as_text() -> None:
    assert opt_str(PAYLOAD, "event", "id") == "42"
    assert opt_str(PAYLOAD, "event", "data") == "x"


@pytest.mark.parametrize("key", ["name", "flag", "items", "absent"])
def test_opt_str_is_none_for_empty_bool_list_or_absent_values(key: str) -> None:
    assert opt_str(PAYLOAD, "event", key) is None


def test_req_str_names_the_dotted_path_when_missing() -> None:
    with pytest.raises(MappingError, match=r"^event\.name missing$"):
        req_str(PAYLOAD, "event", "name")


def test_identifier_names_the_field_when_missing() -> None:
    assert identifier(7, field="objectId") == "7"
    with pytest.raises(MappingError, match=r"^events\[0\]\.objectId missing$"):
        identifier(None, field="events[0].objectId")


def test_opt_int_refuses_bools_and_strings() -> None:
    assert opt_int(PAYLOAD, "event", "id") == 42
    assert opt_int(PAYLOAD, "event", "flag") is None
    assert opt_int(PAYLOAD, "event", "data") is None


def test_list_at_is_empty_when_there_is_no_list() -> None:
    assert list_at(PAYLOAD, "event", "items") == [1]
    assert list_at(PAYLOAD, "event", "data") == []


def test_unique_keeps_first_occurrences_and_drops_empty_values() -> None:
    assert unique(["b", None, "a", "", "b"]) == ["b", "a"]


def test_config_strings_falls_back_to_the_default_when_unset() -> None:
    assert config_strings({}, "labels", ("ai",)) == ["ai"]


def test_config_strings_names_the_key_in_the_vendors_wording() -> None:
    with pytest.raises(MappingError, match=r"^source config 'labels' must be a list of strings$"):
        config_strings({"labels": "ai"}, "labels")
    with pytest.raises(MappingError, match=r"^source config stages must be a list of stage ids$"):
        config_strings({"stages": [1]}, "stages", what="stage ids", quote_key=False)


def test_config_strings_refuses_a_tuple_only_when_told_to() -> None:
    assert config_strings({"k": ("a",)}, "k") == ["a"]
    with pytest.raises(MappingError):
        config_strings({"k": ("a",)}, "k", allow_tuple=False)


def test_without_nulls_drops_null_attributes() -> None:
    mapped = without_nulls(Mapped(events=[{"attributes": {"a": 1, "b": None}}]))
    assert mapped.events[0]["attributes"] == {"a": 1}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-04T10:55:14Z", "2026-11-04T10:55:14Z"),
        ("2026-11-04T12:55:14+02:00", "2026-11-04T10:55:14Z"),
        ("2026-11-04T10:55:14.1234567Z", "2026-11-04T10:55:14.123456Z"),
    ],
)
def test_utc_timestamp_normalises_to_utc_z(raw: str, expected: str) -> None:
    assert utc_timestamp(raw, field="t") == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, r"^t missing$"),
        ("", r"^t missing$"),
        ("yesterday", "is not an RFC 3339 timestamp"),
        ("2026-11-04T10:55:14", "has no UTC offset"),
    ],
)
def test_utc_timestamp_refuses_missing_unreadable_or_naive_values(
    raw: str | None, message: str
) -> None:
    with pytest.raises(MappingError, match=message):
        utc_timestamp(raw, field="t")


def test_epoch_ms_timestamp_keeps_the_vendors_fraction_digits() -> None:
    assert epoch_ms_timestamp(1_700_000_000_000, field="t") == "2023-11-14T22:13:20Z"
    assert (
        epoch_ms_timestamp(1_700_000_000_000, field="t", timespec="milliseconds")
        == "2023-11-14T22:13:20.000Z"
    )


@pytest.mark.parametrize("raw", [True, "1700000000000", None])
def test_epoch_ms_timestamp_refuses_anything_but_an_integer(raw: object) -> None:
    with pytest.raises(MappingError, match="missing or not epoch milliseconds"):
        epoch_ms_timestamp(raw, field="t")


def test_epoch_ms_timestamp_refuses_an_out_of_range_value() -> None:
    with pytest.raises(MappingError, match="out of range"):
        epoch_ms_timestamp(10**20, field="t")


def test_required_header_strips_unless_told_not_to() -> None:
    headers = {"X-Sig": " abc "}
    assert required_header(headers, "X-Sig") == "abc"
    assert required_header(headers, "X-Sig", strip=False) == " abc "


def test_required_header_names_the_missing_header() -> None:
    with pytest.raises(SignatureError, match=r"^X-Sig header missing$"):
        required_header({}, "X-Sig")


def test_epoch_header_accepts_only_digits() -> None:
    assert epoch_header({"X-T": "1700000000"}, "X-T", unit="seconds") == "1700000000"
    with pytest.raises(SignatureError, match="is not epoch milliseconds"):
        epoch_header({"X-T": "-17"}, "X-T", unit="milliseconds")


def test_hmac_base64_is_the_base64_hmac_sha256() -> None:
    # RFC 4231 test case 2, in base64.
    assert hmac_base64("Jefe", b"what do ya want for nothing?") == (
        "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
    )


def test_any_of_several_received_signatures_matches_against_any_secret() -> None:
    def expected_for(secret: str) -> str:
        return hmac_hex(secret, b"body")

    assert any_secret_matches(["old", "new"], expected_for, ["junk", hmac_hex("old", b"body")])
    assert not any_secret_matches(["new"], expected_for, ["junk", hmac_hex("old", b"body")])
    assert not any_secret_matches(["new"], expected_for, [])


def test_check_hex_hmac_header_passes_a_prefixed_signature_from_a_live_secret() -> None:
    headers = {"X-Hub": "sha256=" + hmac_hex("old", b"body")}
    check_hex_hmac_header(b"body", headers, ["new", "old"], header="X-Hub", prefix="sha256=")


def test_check_hex_hmac_header_refuses_a_missing_prefix() -> None:
    headers = {"X-Hub": hmac_hex("new", b"body")}
    with pytest.raises(SignatureError, match="not of the form sha256=<hex>"):
        check_hex_hmac_header(b"body", headers, ["new"], header="X-Hub", prefix="sha256=")


def test_check_hex_hmac_header_without_prefix_ignores_hex_case() -> None:
    headers = {"X-Sig": hmac_hex("new", b"body").upper()}
    check_hex_hmac_header(b"body", headers, ["new"], header="X-Sig")


def test_check_hex_hmac_header_refuses_a_signature_from_no_live_secret() -> None:
    headers = {"X-Sig": hmac_hex("retired", b"body")}
    with pytest.raises(SignatureError, match="does not match a live secret"):
        check_hex_hmac_header(b"body", headers, ["new"], header="X-Sig")


def test_from_epoch_is_exact_and_none_when_out_of_range() -> None:
    assert from_epoch(1_700_000_000_123, unit="milliseconds") == datetime(
        2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC
    )
    assert from_epoch(10**30, unit="seconds") is None


def test_refuse_replay_accepts_the_edge_of_the_window_on_either_side() -> None:
    window = timedelta(minutes=5)
    refuse_replay(NOW - window, now=NOW, tolerance=window, what="X-T")
    refuse_replay(NOW + window, now=NOW, tolerance=window, what="X-T")


@pytest.mark.parametrize(
    "sent", [NOW - timedelta(minutes=5, seconds=1), NOW + timedelta(minutes=5, seconds=1), None]
)
def test_refuse_replay_refuses_times_outside_the_window_or_unreadable(
    sent: datetime | None,
) -> None:
    with pytest.raises(SignatureError, match=r"^X-T.*tolerance \(replay\?\)$"):
        refuse_replay(sent, now=NOW, tolerance=timedelta(minutes=5), what="X-T")
