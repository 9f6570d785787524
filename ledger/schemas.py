"""Input models for the ingest API, in the generic wire format (docs/events.md).

pydantic validates each item of a batch in microseconds and reports every bad
field with its path; drf-spectacular renders the same models into the OpenAPI
schema, so the documentation cannot drift from the validation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)

from ledger.event_types import is_known_type

MAX_TOKENS = 10**15  # far above any real request or daily bucket
MAX_JSON_DEPTH = 16
MAX_ATTRIBUTES_BYTES = 64 * 1024

NoNul = StringConstraints(pattern=r"^[^\x00]*$", strict=True)


def _rfc3339_text(value: Any) -> Any:
    # JSON has no timestamp type: insist on the RFC 3339 text rather than letting a
    # bare number pass as Unix time.
    if not isinstance(value, str):
        raise ValueError("give an RFC 3339 timestamp string with an offset")
    return value


def _to_utc(value: datetime) -> datetime:
    # Stored in UTC, and part of the canonical body in UTC: the same instant written
    # with another offset is the same record (a duplicate, not a conflict).
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("is outside the range of representable times") from exc


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_to_utc)]
TokenCount = Annotated[int, Strict(), Field(ge=0, le=MAX_TOKENS)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=200), NoNul]
SourceSlug = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", strict=True)
]
Actor = Annotated[str, StringConstraints(min_length=1, max_length=254), NoNul]
TeamName = Annotated[str, StringConstraints(min_length=1, max_length=100), NoNul]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=500), NoNul]
RefKind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,49}$", strict=True)]
RefValue = Annotated[str, StringConstraints(min_length=1, max_length=250), NoNul]
Refs = dict[RefKind, Annotated[list[RefValue], Field(max_length=200)]]


def check_json_value(value: Any, depth: int = 0) -> None:
    """Refuse what PostgreSQL's jsonb cannot store (NUL characters) and absurd nesting."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("strings may not contain NUL (\\u0000)")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json_value(key, depth + 1)
            check_json_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json_value(item, depth + 1)


class AiAssistance(BaseModel):
    """How much of the work was AI-assisted, when the tool knows."""

    model_config = ConfigDict(extra="forbid")

    assisted: Annotated[bool, Strict()] | None = None
    level: Literal["none", "assisted", "generated"] | None = None
    share: Annotated[float, Strict(), Field(ge=0.0, le=1.0, allow_inf_nan=False)] | None = None
    agent: Annotated[str, StringConstraints(max_length=100), NoNul] | None = None


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: SourceSlug = Field(description="Who emits it; registered on first use.")
    id: ExternalId = Field(description="Idempotency key, unique per source.")
    actor: Actor | None = Field(default=None, description="Login or email as the tool knows it.")
    team: TeamName | None = Field(default=None, description="Team slug, when the tool knows it.")
    refs: Refs = Field(default_factory=dict, description="Correlation keys: kind -> values.")
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("attributes")
    @classmethod
    def _attributes_storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_json_value(value)
        return value


class WorkEventIn(_Record):
    """A work event (see docs/events.md for the canonical types)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source": "deploy-bot",
                    "id": "deploy-4711-success",
                    "type": "deploy.succeeded",
                    "occurred_at": "2026-11-01T12:00:00Z",
                    "actor": "alice@example.com",
                    "team": "payments",
                    "subject": "github:acme/api",
                    "refs": {"commit": ["9f1c2e7"], "deploy": ["4711"]},
                    "ai": {"assisted": True, "share": 0.7, "agent": "claude-code"},
                    "attributes": {"environment": "production"},
                }
            ]
        },
    )

    type: Annotated[
        str,
        StringConstraints(
            pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_-]+)+$", max_length=100, strict=True
        ),
    ]
    occurred_at: Timestamp = Field(description="RFC 3339 with an offset.")
    subject: Subject | None = None
    ai: AiAssistance | None = None

    @field_validator("type")
    @classmethod
    def _type_known(cls, value: str) -> str:
        if not is_known_type(value):
            raise ValueError(
                f"unknown event type {value!r}: use a canonical type (docs/events.md) or x.<name>"
            )
        return value


class TokenUsageIn(_Record):
    """Tokens spent on one request (``occurred_at``) or in one bucket (``period_start``/``period_end``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source": "llm-gateway",
                    "id": "req-01J8ZQ3",
                    "occurred_at": "2026-11-01T12:00:03Z",
                    "actor": "alice@example.com",
                    "provider": "anthropic",
                    "model": "claude-opus-4-5",
                    "input_tokens": 12000,
                    "output_tokens": 1800,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 40000,
                    "cost_usd": None,
                    "refs": {"session": ["cc-5f2a"], "pr": ["acme/api#123"]},
                }
            ]
        },
    )

    occurred_at: Timestamp | None = None
    period_start: Timestamp | None = None
    period_end: Timestamp | None = None
    provider: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,59}$", strict=True)]
    model: Annotated[str, StringConstraints(min_length=1, max_length=200), NoNul]
    input_tokens: TokenCount = 0
    output_tokens: TokenCount = 0
    cache_creation_input_tokens: TokenCount = Field(
        default=0, description="All cache writes (5-minute and 1-hour)."
    )
    cache_creation_1h_input_tokens: TokenCount = Field(
        default=0, description="The part of the cache writes made with a 1-hour lifetime."
    )
    cache_read_input_tokens: TokenCount = 0
    cost_usd: (
        Annotated[
            Decimal,
            Field(
                ge=0, le=Decimal("100000000"), max_digits=20, decimal_places=9, allow_inf_nan=False
            ),
        ]
        | None
    ) = Field(default=None, description="Reported cost as a decimal string; null to price it here.")

    grain: Literal["request", "summary"] = Field(
        default="request",
        description="'summary' when the record sums requests that the same source may also "
        "report one by one (then those count and this one does not: docs/events.md).",
    )

    @field_validator("cost_usd", mode="before")
    @classmethod
    def _cost_is_decimal_text(cls, value: Any) -> Any:
        # Money never travels as a binary float; accept a decimal string or an integer.
        if isinstance(value, bool | float):
            raise ValueError('give cost_usd as a decimal string, e.g. "0.0123"')
        if isinstance(value, int | str):
            try:
                return Decimal(str(value))
            except ArithmeticError as exc:
                raise ValueError("not a decimal number") from exc
        return value

    @field_validator("cost_usd", mode="after")
    @classmethod
    def _cost_canonical(cls, value: Decimal | None) -> Decimal | None:
        # "0.10" and "0.1" are the same money, so the same canonical body.
        return None if value is None else value.normalize() + 0

    @model_validator(mode="after")
    def _time_given_once(self) -> TokenUsageIn:
        if self.occurred_at is None and self.period_start is None:
            raise ValueError("give occurred_at, or period_start and period_end")
        if self.occurred_at is not None and self.period_start is not None:
            raise ValueError("give occurred_at or a period, not both")
        if self.period_start is not None:
            if self.period_end is None:
                raise ValueError("period_start needs period_end")
            if self.period_end <= self.period_start:
                raise ValueError("period_end must be after period_start")
        elif self.period_end is not None:
            raise ValueError("period_end needs period_start")
        if self.cache_creation_1h_input_tokens > self.cache_creation_input_tokens:
            raise ValueError(
                "cache_creation_1h_input_tokens is part of cache_creation_input_tokens"
            )
        return self

    @property
    def at(self) -> datetime:
        return self.occurred_at or self.period_start  # type: ignore[return-value]


# --- Output shapes (documented in OpenAPI through ledger.openapi) ------------------


class IngestItemResult(BaseModel):
    """The outcome of one item, in request order."""

    index: int = Field(description="Position of the item in the request (0 for a single object).")
    status: Literal["created", "duplicate", "conflict", "invalid"]
    id: int | None = Field(
        default=None,
        description="Ledger sequence of the stored record (for created, duplicate and conflict).",
    )
    detail: str | None = None
    errors: dict[str, list[str]] | None = Field(
        default=None, description="Field path -> reasons, for invalid items."
    )


class IngestCounts(BaseModel):
    created: int
    duplicate: int
    conflict: int
    invalid: int


class IngestResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {"index": 0, "status": "created", "id": 1041},
                        {"index": 1, "status": "duplicate", "id": 977},
                        {
                            "index": 2,
                            "status": "invalid",
                            "errors": {"occurred_at": ["Field required"]},
                        },
                    ],
                    "counts": {"created": 1, "duplicate": 1, "conflict": 0, "invalid": 1},
                }
            ]
        }
    )

    results: list[IngestItemResult]
    counts: IngestCounts


class Error(BaseModel):
    """The one error shape of the API."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "validation_error",
                    "detail": "The request is not valid.",
                    "errors": {"occurred_at": ["Field required"]},
                }
            ]
        }
    )

    type: str = Field(
        description="Machine-readable kind: invalid_json, validation_error, not_authenticated, "
        "permission_denied, not_found, conflict, payload_too_large, unsupported_media_type, "
        "service_unavailable, ..."
    )
    detail: str
    errors: dict[str, list[str]] | None = None
    existing_id: int | None = Field(
        default=None, description="On a conflict: the id of the row already there."
    )
