"""Reading vendor payloads and signature headers defensively, the same way everywhere.

Vendors change shapes, and a malformed body must end in MappingError (or, for the
authentication headers, SignatureError), never in a KeyError or TypeError. Every
function here is pure: no clock (``now`` is passed in), no database.

Path accessors take the object and the keys to follow (``req_str(payload, "event",
"id")``) and name the dotted path in their error (``"event.id missing"``); value
checkers take the value and a ``field`` name for the error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from integrations.webhooks.base import (
    Headers,
    Mapped,
    MappingError,
    SignatureError,
    any_secret_matches,
    hmac_hex,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Payload values.


def dig(obj: Any, *path: str) -> Any:
    """The value at ``path`` inside nested mappings, or None where the path breaks."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def opt_identifier(value: Any) -> str | None:
    """A non-empty string or an integer (not a bool) as text; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def identifier(value: Any, *, field: str) -> str:
    """Like ``opt_identifier``, but a missing value raises ``MappingError("<field> missing")``."""
    text = opt_identifier(value)
    if text is None:
        raise MappingError(f"{field} missing")
    return text


def opt_str(obj: Any, *path: str) -> str | None:
    """The string or integer at ``path`` as text, or None when absent, empty or another type."""
    return opt_identifier(dig(obj, *path))


def req_str(obj: Any, *path: str) -> str:
    """The string or integer at ``path`` as text; MappingError ``"<a.b.c> missing"`` if none."""
    return identifier(dig(obj, *path), field=".".join(path))


def opt_int(obj: Any, *path: str) -> int | None:
    """The integer (not bool) at ``path``, or None."""
    value = dig(obj, *path)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def list_at(obj: Any, *path: str) -> list[Any]:
    """The list at ``path``, or an empty list when there is none."""
    value = dig(obj, *path)
    return value if isinstance(value, list) else []


def unique(values: Iterable[str | None]) -> list[str]:
    """The non-empty values, first occurrence kept, in order."""
    return list(dict.fromkeys(value for value in values if value))


def config_strings(
    config: Mapping[str, Any],
    key: str,
    default: Sequence[str] = (),
    *,
    what: str = "strings",
    quote_key: bool = True,
    allow_tuple: bool = True,
) -> list[str]:
    """The list of strings a source config holds at ``key``, or ``default`` when unset.

    Raises MappingError ``source config <key> must be a list of <what>`` otherwise.
    ``quote_key`` and ``allow_tuple`` keep each vendor's established wording and
    leniency (a tuple can only come from Python callers, never from stored JSON).
    """
    value = config.get(key)
    if value is None:
        return list(default)
    is_list = isinstance(value, list) or (allow_tuple and isinstance(value, tuple))
    if not is_list or not all(isinstance(item, str) for item in value):
        shown = repr(key) if quote_key else key
        raise MappingError(f"source config {shown} must be a list of {what}")
    return list(value)


def without_nulls(mapped: Mapped) -> Mapped:
    """Leave unknown attributes out rather than null, so rules can test them with has()."""
    for event in mapped.events:
        attributes = event.get("attributes") or {}
        event["attributes"] = {k: v for k, v in attributes.items() if v is not None}
    return mapped


# Timestamps.


def rfc3339_utc(moment: datetime, *, timespec: str = "auto") -> str:
    """An aware datetime as RFC 3339 in UTC with a ``Z`` suffix."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def utc_timestamp(value: Any, *, field: str) -> str:
    """An ISO 8601 / RFC 3339 timestamp with an offset, normalised to UTC ``...Z``.

    Raises MappingError when the value is missing, unreadable or has no offset.
    """
    if not isinstance(value, str) or not value:
        raise MappingError(f"{field} missing")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MappingError(f"{field} is not an RFC 3339 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        raise MappingError(f"{field} has no UTC offset: {value!r}")
    return rfc3339_utc(parsed)


def epoch_ms_timestamp(
    value: Any, *, field: str, timespec: Literal["auto", "milliseconds"] = "auto"
) -> str:
    """Integer epoch milliseconds as RFC 3339 UTC ``...Z``.

    ``timespec`` is the vendor's established form: ``"auto"`` leaves a whole second
    without fraction digits, ``"milliseconds"`` always writes three.
    """
    # bool is an int subclass; True is not a timestamp.
    if isinstance(value, bool) or not isinstance(value, int):
        raise MappingError(f"{field} missing or not epoch milliseconds")
    try:
        moment = datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise MappingError(f"{field} out of range: {value!r}") from exc
    return rfc3339_utc(moment, timespec=timespec)


# Signature headers.


def required_header(headers: Headers, name: str, *, strip: bool = True) -> str:
    """The header's value as text; SignatureError ``"<name> header missing"`` when absent."""
    value = headers.get(name)
    if not value:
        raise SignatureError(f"{name} header missing")
    return str(value).strip() if strip else str(value)


def hmac_base64(secret: str, message: bytes) -> str:
    """Base64 of the HMAC-SHA256 of ``message`` under ``secret``."""
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def epoch_header(headers: Headers, name: str, *, unit: Literal["seconds", "milliseconds"]) -> str:
    """A required header holding a whole epoch number (digits only), as sent."""
    value = required_header(headers, name)
    if not value.isascii() or not value.isdigit():
        raise SignatureError(f"{name} is not epoch {unit}")
    return value


def from_epoch(value: float, *, unit: Literal["seconds", "milliseconds"]) -> datetime | None:
    """An epoch number as an aware UTC datetime, exactly; None when out of range."""
    try:
        return _EPOCH + timedelta(**{unit: value})
    except OverflowError:
        return None


def refuse_replay(sent: datetime | None, *, now: datetime, tolerance: timedelta, what: str) -> None:
    """SignatureError unless ``sent`` lies within ``tolerance`` of ``now``, either side.

    The window is symmetric: a time far in the future is as suspect as an old one.
    ``sent`` is None when the vendor's time could not be read as a date at all.
    """
    if sent is None or abs(now - sent) > tolerance:
        age = "" if sent is None else f" is {abs(now - sent).total_seconds():.0f}s from now;"
        raise SignatureError(
            f"{what}{age} outside the {tolerance.total_seconds():.0f}s tolerance (replay?)"
        )


def check_hex_hmac_header(
    body: bytes, headers: Headers, secrets: Sequence[str], *, header: str, prefix: str = ""
) -> None:
    """Pass when ``header`` is ``prefix`` + the hex HMAC-SHA256 of ``body`` under a live secret.

    The GitHub-style scheme (``X-Hub-Signature-256: sha256=<hex>``), which Jira
    reuses; with an empty ``prefix`` the hex digest stands alone and is compared
    case-insensitively (Linear).
    """
    received = required_header(headers, header)
    if prefix:
        if not received.startswith(prefix):
            raise SignatureError(f"{header} is not of the form {prefix}<hex>")
    else:
        received = received.lower()
    if not any_secret_matches(secrets, lambda secret: prefix + hmac_hex(secret, body), received):
        raise SignatureError(f"{header} does not match a live secret")
