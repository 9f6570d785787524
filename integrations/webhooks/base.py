"""The contract every vendor module implements, and the registry that finds them.

A vendor module is three pure functions and nothing else:

* ``verify`` checks the vendor's own authentication (an HMAC over the raw body,
  a shared token header, ...) against the source's live secrets. It runs on the
  raw bytes *before* anything is parsed, and it must compare in constant time.
* ``parse`` turns one delivery (raw body + headers) into canonical records in the
  wire format of the generic API (see docs/events.md): work events and token usage
  records, without ``source`` (the webhook URL names it).
* ``sign`` is the vendor's side of ``verify``: the headers (or, for Salesforce, the
  URL query) it sends with a body. The demo and the tests sign through it, so a
  scheme is written once beside the check it must pass.

None touches the database. The webhook view (``integrations.webhooks.views``) runs them,
hands the records to the ledger's ingest services and keeps a dead letter for any
delivery that fails to map.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import orjson

# A record in the generic API's wire format (a dict that POST /api/v1/events or
# POST /api/v1/token-usage would accept, minus "source").
Record = dict[str, Any]


class SignatureError(Exception):
    """The delivery is not authentic: missing, malformed or wrong signature, or replayed."""


class MappingError(Exception):
    """The delivery is authentic but cannot be turned into canonical records.

    The message says what is wrong in the vendor's terms (``"pull_request.merged_at
    missing"``); the webhook view stores the delivery as a dead letter with it.
    """


@dataclass(frozen=True)
class Mapped:
    """What one delivery became.

    ``ignored`` is set (to a short reason such as ``"event issues not used"``) when the
    delivery is authentic and well formed but carries nothing the ledger records;
    the view acknowledges it with a 2xx and counts it.
    """

    events: list[Record] = field(default_factory=list)
    usage: list[Record] = field(default_factory=list)
    ignored: str | None = None
    # (login actor, email) pairs the payload gives for one person, e.g.
    # ("github:octocat", "octo@example.com"): the login is proposed for whoever the
    # email already belongs to (integrations.proposals). Kept for ignored deliveries too.
    aliases: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def ignore(cls, reason: str) -> Mapped:
        return cls(ignored=reason)


class Headers(Protocol):
    """Case-insensitive header access (Django's ``request.headers`` satisfies it)."""

    def get(self, key: str, default: Any = None) -> Any: ...


@dataclass(frozen=True)
class Delivery:
    """One webhook request as the vendor sent it.

    ``url`` is the absolute URL the vendor called (scheme, host, path and query),
    which some signature schemes (HubSpot v3) sign.
    """

    body: bytes
    headers: Headers
    url: str = ""
    method: str = "POST"


@dataclass(frozen=True)
class Response:
    """A vendor-specific acknowledgement (Salesforce outbound messages want SOAP)."""

    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Signed:
    """What a vendor adds to a delivery to authenticate it.

    ``headers`` are sent with the body; ``query`` is appended to the endpoint URL
    (Salesforce outbound messages carry no signature: the shared token is in the
    URL the operator configured).
    """

    headers: dict[str, str]
    query: str = ""


class Signer(Protocol):
    """``sign(body, secret, now=..., url=...)``: what the vendor sends, signed at ``now``.

    ``url`` is the absolute endpoint URL, for the vendors that sign it (HubSpot v3).
    """

    def __call__(self, body: bytes, secret: str, *, now: datetime, url: str = "") -> Signed: ...


@dataclass(frozen=True)
class ConfigKey:
    """One per-source setting a vendor reads from ``Source.config``.

    ``shape`` is the JSON the key must hold: ``"string"``, or ``"strings"`` (a list
    of non-empty strings). ``meaning`` is shown to operators.
    """

    shape: Literal["string", "strings"]
    meaning: str

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this key, or None when it fits."""
        if self.shape == "strings":
            fits = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
            return None if fits else "must be a list of non-empty strings"
        return None if isinstance(value, str) else "must be a string"


@dataclass(frozen=True)
class Vendor:
    """One integration: its URL name, its authentication check and its mapping.

    ``verify(delivery, secrets, now)`` raises SignatureError unless one of the live
    ``secrets`` (two may be live during rotation) authenticates the delivery; where
    the vendor signs a timestamp, a delivery outside the tolerance window around
    ``now`` is a replay and is refused too.
    ``sign`` is the other side of ``verify``: what the vendor sends for a body and
    a secret, so the demo and the tests sign as the vendor does in one place.
    ``parse(delivery, config)`` returns Mapped or raises MappingError; ``config`` is
    the source's per-instance settings (known AI agents, default branch, ...).
    ``acknowledge`` builds the success answer when the vendor needs a particular
    one; by default the view answers JSON. ``config_keys`` are the settings
    ``parse`` reads from ``config``; ``manage.py create_source`` accepts only these.
    """

    slug: str
    title: str
    verify: Callable[[Delivery, Sequence[str], datetime], None]
    parse: Callable[[Delivery, Mapping[str, Any]], Mapped]
    sign: Signer
    acknowledge: Callable[[Mapped], Response] | None = None
    config_keys: Mapping[str, ConfigKey] = field(default_factory=dict)


REGISTRY: dict[str, Vendor] = {}


def register(vendor: Vendor) -> Vendor:
    if vendor.slug in REGISTRY:
        raise ValueError(f"vendor {vendor.slug!r} registered twice")
    REGISTRY[vendor.slug] = vendor
    return vendor


# Helpers every vendor needs. Kept here so that the constant-time comparison and
# the JSON parser are the same everywhere.


def load_json(body: bytes) -> Any:
    """Parse a JSON body or raise MappingError with the parser's reason."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MappingError(f"body is not valid JSON: {exc}") from exc


def hmac_hex(secret: str, message: bytes, digestmod: str = "sha256") -> str:
    return hmac.new(secret.encode(), message, getattr(hashlib, digestmod)).hexdigest()


def any_secret_matches(
    secrets: Sequence[str], expected_for: Callable[[str], str], received: str | Sequence[str]
) -> bool:
    """True when a received signature equals ``expected_for(secret)`` for some live secret.

    ``received`` is one signature, or several for vendors that send one per key.
    Every pair is compared in constant time with no early exit, so the timing says
    nothing about which secret, or which prefix, matched.
    """
    signatures = [received] if isinstance(received, str) else list(received)
    matched = False
    for secret in secrets:
        expected = expected_for(secret).encode()
        for signature in signatures:
            if hmac.compare_digest(expected, signature.encode()):
                matched = True
    return matched
