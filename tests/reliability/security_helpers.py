"""Shared by the security tests: the routed endpoints, callers in every key state,
capturing every log record, looking for secret values in text, and hypothesis
strategies that mutate real payloads.

Also a URL configuration (``urlpatterns`` below) that mounts the product's routes
plus one view that fails, so the 500 path can be exercised with real middleware
(``settings.ROOT_URLCONF = "tests.reliability.security_helpers"``).
"""

from __future__ import annotations

import copy
import json
import logging
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver, include, path
from hypothesis import strategies as st

from ledger import auth

# --- Routed endpoints -----------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One routed endpoint: its route as written in the URLconf, and its view class."""

    route: str
    view_class: type | None


def routed_endpoints() -> list[Route]:
    """Every route the root URLconf serves. The admin site counts as one route
    (``admin/``): everything under it sits behind the same staff login."""
    found: list[Route] = []

    def walk(patterns: Iterable[Any], prefix: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                here = prefix + str(entry.pattern)
                if entry.app_name == "admin":
                    found.append(Route(here, None))
                else:
                    walk(entry.url_patterns, here)
            elif isinstance(entry, URLPattern):
                callback = entry.callback
                found.append(
                    Route(prefix + str(entry.pattern), getattr(callback, "view_class", None))
                )

    walk(get_resolver().url_patterns, "")
    return found


def implemented_methods(view_class: type | None) -> set[str] | None:
    """The HTTP methods a class-based view answers (OPTIONS and HEAD aside), or None
    for function views, whose methods the decorators decide."""
    if view_class is None:
        return None
    allowed = getattr(view_class, "http_method_names", ())
    return {
        method.upper()
        for method in ("get", "post", "put", "patch", "delete")
        if method in allowed and callable(getattr(view_class, method, None))
    }


# --- Callers ----------------------------------------------------------------------------

SCOPES = (
    "events:write",
    "usage:write",
    "reports:read",
    "directory:read",
    "directory:write",
    "admin",
)
# The ways a request can present (or fail to present) an API key.
CALLERS = ("no key", "malformed header", "unknown key", "revoked key", *SCOPES)


def authorization_for(caller: str) -> str | None:
    """The Authorization header value a caller sends (None: no header at all)."""
    if caller == "no key":
        return None
    if caller == "malformed header":
        return "Token not-a-bearer-key"
    if caller == "unknown key":
        return auth.KEY_PREFIX + secrets.token_urlsafe(32)
    if caller == "revoked key":
        row, key = auth.api_key_create(name="revoked", scopes=list(SCOPES))
        auth.api_key_revoke(key_id=row.pk)
        return f"Bearer {key}"
    _, key = auth.api_key_create(name=f"holds {caller}", scopes=[caller])
    return f"Bearer {key}"


# --- Logs and secrets ------------------------------------------------------------------


@contextmanager
def every_log_record(caplog: Any) -> Iterator[list[logging.LogRecord]]:
    """Every record any logger emits, at DEBUG, while the block runs.

    Each known logger is set to DEBUG and handed the capture handler directly, so a
    logger that does not propagate (or that the settings hold at WARNING, like
    ``django.db.backends``) is captured too. SQL is logged with its parameters
    (a debug cursor), so a secret written to or looked up in the database in
    clear would show.
    """
    names = ["", *sorted(logging.Logger.manager.loggerDict)]
    loggers = [logging.getLogger(name) for name in names]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    handler = caplog.handler
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
        if not lg.propagate:
            lg.addHandler(handler)
    logging.getLogger().addHandler(handler)
    start = len(handler.records)
    records: list[logging.LogRecord] = []
    debug_cursor = connection.force_debug_cursor
    connection.force_debug_cursor = True
    try:
        yield records
    finally:
        connection.force_debug_cursor = debug_cursor
        records.extend(handler.records[start:])
        for lg, level, disabled in saved:
            lg.setLevel(level)
            lg.disabled = disabled
            if handler in lg.handlers and lg is not logging.getLogger():
                lg.removeHandler(handler)


def rendered(record: logging.LogRecord) -> str:
    """A record as any handler could write it: message, arguments, traceback, stack."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    parts = [formatter.format(record), repr(record.args)]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(repr(record.exc_info[1].args))
    return "\n".join(parts)


def leaks(texts: Iterable[str], secret_values: Iterable[str]) -> list[tuple[str, str]]:
    """(secret, excerpt) for every secret value found in any of the texts."""
    found = []
    values = [value for value in secret_values if value]
    for text in texts:
        for value in values:
            at = text.find(value)
            if at >= 0:
                found.append((value, text[max(0, at - 80) : at + len(value) + 80]))
    return found


# --- Mutating real payloads -------------------------------------------------------------

# Values that have broken parsers before: wrong types, edge numbers, odd text.
NASTY_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1e309",
            "NaN",
            "null",
            "\x00",
            "\u202e",
            "2026-13-45T99:99:99Z",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "x" * 100_000,
        ]
    ),
)
ANY_JSON = st.recursive(
    NASTY_VALUES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

Path = tuple[Any, ...]


def json_paths(document: Any, prefix: Path = ()) -> list[Path]:
    """The path of every value inside a JSON document (the root excluded)."""
    out: list[Path] = []
    children: Iterable[tuple[Any, Any]] = ()
    if isinstance(document, dict):
        children = document.items()
    elif isinstance(document, list):
        children = enumerate(document)
    for key, value in children:
        out.append((*prefix, key))
        out.extend(json_paths(value, (*prefix, key)))
    return out


def _parent(document: Any, path: Path) -> Any:
    for key in path[:-1]:
        document = document[key]
    return document


@st.composite
def mutated_json(draw: Any, document: Any) -> Any:
    """A real document with one to four mutations: a key dropped, a value replaced
    by a nasty one (another type, a huge string, null), a value nested one level
    deeper, a number turned into a string or a string into a number."""
    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 4))):
        paths = json_paths(document)
        if not paths:
            break
        shallow = [p for p in paths if len(p) <= 3]
        path = draw(st.sampled_from(shallow if shallow and draw(st.booleans()) else paths))
        parent, key = _parent(document, path), path[-1]
        operation = draw(st.sampled_from(("drop", "replace", "nest", "retype")))
        if operation == "drop":
            del parent[key]
        elif operation == "replace":
            parent[key] = draw(NASTY_VALUES)
        elif operation == "nest":
            parent[key] = draw(st.sampled_from(([parent[key]], {"value": parent[key]})))
        else:
            value = parent[key]
            if isinstance(value, str):
                parent[key] = draw(st.integers(-(2**40), 2**40))
            elif isinstance(value, int | float):
                parent[key] = str(value)
            else:
                parent[key] = json.dumps(value)
    return document


@st.composite
def mutated_body(draw: Any, seed: bytes) -> bytes:
    """Bytes of a mutated copy of a real JSON payload, sometimes truncated."""
    raw = json.dumps(draw(mutated_json(json.loads(seed))), ensure_ascii=False).encode()
    if draw(st.integers(0, 7)) == 0:
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


@st.composite
def mutated_xml(draw: Any, seed: bytes) -> bytes:
    """A real XML payload with element texts replaced, a slice cut out, or truncated."""
    text = seed.decode()
    for _ in range(draw(st.integers(1, 3))):
        operation = draw(st.sampled_from(("text", "cut", "truncate")))
        if operation == "text":
            starts = [i + 1 for i, ch in enumerate(text) if ch == ">" and i + 1 < len(text)]
            start = draw(st.sampled_from(starts)) if starts else 0
            end = text.find("<", start)
            end = len(text) if end < 0 else end
            replacement = draw(st.one_of(st.text(max_size=20), NASTY_VALUES.map(str)))
            text = text[:start] + replacement + text[end:]
        elif operation == "cut":
            start = draw(st.integers(0, len(text)))
            end = draw(st.integers(start, min(len(text), start + 200)))
            text = text[:start] + text[end:]
        else:
            text = text[: draw(st.integers(0, len(text)))]
    return text.encode("utf-8", "surrogatepass")


# --- A URLconf with a failing view -----------------------------------------------------


def failing_view(request: HttpRequest) -> HttpResponse:
    # A bug anywhere in a view: the server answers 500 in the error shape.
    raise RuntimeError("a programming error in a view")


handler400 = "ledger.http.handler400"
handler403 = "ledger.http.handler403"
handler404 = "ledger.http.handler404"
handler500 = "ledger.http.handler500"

urlpatterns = [
    path("test-only/fails", failing_view),
    path("", include("awu.urls")),
]
