"""Claude Code OTLP log events -> token usage records and session-commit links.

Interface (pure; no database, no clock)::

    result = usage_from_logs(request, received_at=now)
    result.usage      # TokenUsage records, wire format, one per claude_code.api_request
    result.events     # work events: x.session.commit links (session -> commit SHA)
    result.sessions   # session ids that delivered api_request usage in this export
    result.rejected   # log records that looked like ours but failed validation
    result.error_message  # for ExportLogsPartialSuccess.error_message, or None
    result.ignored    # log records the ledger does not use (other events, no SHA, ...)

Source of the event shapes: Claude Code's "Monitoring" documentation
(https://code.claude.com/docs/en/monitoring-usage), sections "Standard attributes",
"API request event" and "Tool result event".

``claude_code.api_request`` -> one usage record:

* ``id``: ``cc-req-`` + SHA-256 of (``session.id``, ``request_id``). Claude Code sets
  ``request_id`` from the API's ``request-id`` header "when the API returns one";
  without it the id hashes ``session.id``, ``prompt.id``, ``event.timestamp``,
  ``event.sequence``, ``model`` and the four token counts, which is still identical
  for a retried export and distinct for two requests (``event.sequence`` is
  monotonic within a session).
* ``occurred_at``: ``event.timestamp``, else the record's ``timeUnixNano``, else its
  ``observedTimeUnixNano``, else ``received_at``.
* ``cost_usd``: the reported cost as a decimal string, from ``cost_usd_micros``
  (an exact integer) when present, else ``cost_usd``; null when neither is sent.
* ``actor``: ``user.email``, else ``claude-code:<user.account_uuid>``.
  ``team``: ``team.id`` from the log record or the resource (OTEL_RESOURCE_ATTRIBUTES).
* ``refs``: ``session`` and ``prompt``; ``attributes.derived_from`` is ``"logs"``.

``claude_code.tool_result`` for a successful ``Bash`` call whose ``tool_parameters``
carry ``git_commit_id`` (only sent with ``OTEL_LOG_TOOL_DETAILS=1``) -> a work event of
type ``x.session.commit`` with refs ``session`` + ``commit`` (+ ``prompt``), id
``cc-commit-`` + SHA-256 of (session, commit), so spend in the session can be tied
to the commit and, through it, to the pull request that merged it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

import orjson
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

from integrations.otlp.decoding import (
    AttributeValue,
    MappedExport,
    attributes,
    nanos_to_datetime,
    rfc3339,
    string_attribute,
    to_count,
    to_decimal,
)
from integrations.usage_reports.client import record_id, usd_text
from integrations.webhooks.base import Record

PROVIDER = "anthropic"
AGENT = "claude-code"
COMMIT_EVENT_TYPE = "x.session.commit"
_PREFIX = "claude_code."
_MICROS = Decimal(1_000_000)

# Copied from the api_request event into the usage record's attributes when present.
_USAGE_ATTRIBUTES = (
    "request_id",
    "client_request_id",
    "duration_ms",
    "query_source",
    "speed",
    "effort",
    "event.sequence",
    "agent.name",
    "skill.name",
    "organization.id",
    "app.version",
    "service.name",
)


class InvalidRecord(ValueError):
    """One log record failed validation; counted as rejected, never fatal."""


@dataclass
class LogsResult(MappedExport):
    """Usage records and commit links from a logs export, and the sessions seen."""

    UNIT: ClassVar[str] = "log record(s)"

    sessions: set[str] = field(default_factory=set)


def usage_from_logs(
    request: logs_service_pb2.ExportLogsServiceRequest, *, received_at: datetime
) -> LogsResult:
    """Map one decoded logs export to usage records and commit links.

    Never raises for bad content: a record that fails validation is counted in
    ``rejected`` (with a reason in ``error_message``) and the rest still map.
    The output is a function of the request (and, only for records carrying no
    timestamp at all, ``received_at``), so a retried export maps to identical records.
    """
    result = LogsResult()
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for log_record in scope_logs.log_records:
                _map_record(log_record, resource, received_at, result)
    return result


def _map_record(
    log_record: logs_pb2.LogRecord,
    resource: Mapping[str, AttributeValue],
    received_at: datetime,
    result: LogsResult,
) -> None:
    values = {**resource, **attributes(log_record.attributes)}
    name = _event_name(log_record, values)
    try:
        if name == "api_request":
            record = _usage_record(log_record, values, received_at)
            result.usage.append(record)
            result.sessions.update(record.get("refs", {}).get("session", []))
        elif name == "tool_result":
            event = _commit_link(log_record, values, received_at)
            if event is None:
                result.ignored += 1
            else:
                result.events.append(event)
        else:
            result.ignored += 1
    except InvalidRecord as exc:
        result.reject(f"{_PREFIX}{name}: {exc}")


def _event_name(log_record: logs_pb2.LogRecord, values: Mapping[str, AttributeValue]) -> str:
    """The unprefixed event name, wherever this emitter version put it.

    Claude Code documents the ``event.name`` attribute (``"api_request"``); records
    also carry the full name as the body, and newer SDKs fill ``LogRecord.event_name``.
    """
    candidates: list[Any] = [
        log_record.event_name,
        values.get("event.name"),
        log_record.body.string_value if log_record.body.HasField("string_value") else None,
    ]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            text = candidate.strip()
            return text[len(_PREFIX) :] if text.startswith(_PREFIX) else text
    return ""


def _usage_record(
    log_record: logs_pb2.LogRecord,
    values: Mapping[str, AttributeValue],
    received_at: datetime,
) -> Record:
    model = string_attribute(values, "model")
    if model is None:
        raise InvalidRecord("model missing")
    counts = {
        "input_tokens": _count(values, "input_tokens"),
        "output_tokens": _count(values, "output_tokens"),
        "cache_creation_input_tokens": _count(values, "cache_creation_tokens"),
        "cache_read_input_tokens": _count(values, "cache_read_tokens"),
    }
    cost = _reported_cost(values)
    session = string_attribute(values, "session.id")
    prompt = string_attribute(values, "prompt.id")
    request_id = string_attribute(values, "request_id")
    stamp = string_attribute(values, "event.timestamp")

    if request_id is not None:
        usage_id = record_id("cc-req", session or "", request_id)
    else:
        usage_id = record_id(
            "cc-req",
            session or "",
            prompt or "",
            stamp or str(log_record.time_unix_nano),
            string_attribute(values, "event.sequence") or "",
            model,
            *(str(value) for value in counts.values()),
        )

    record: Record = {
        "id": usage_id,
        "occurred_at": rfc3339(_occurred_at(log_record, stamp, received_at)),
        "provider": PROVIDER,
        "model": model,
        **counts,
        "cost_usd": None if cost is None else usd_text(cost),
    }
    record.update(who(values))
    refs = {kind: [value] for kind, value in (("session", session), ("prompt", prompt)) if value}
    if refs:
        record["refs"] = refs
    extra: dict[str, Any] = {"derived_from": "logs"}
    for key in _USAGE_ATTRIBUTES:
        value = values.get(key)
        if value is not None and not isinstance(value, bytes | list | dict):
            extra[key] = str(value) if isinstance(value, float) else value
    record["attributes"] = extra
    return record


def _commit_link(
    log_record: logs_pb2.LogRecord,
    values: Mapping[str, AttributeValue],
    received_at: datetime,
) -> Record | None:
    """An ``x.session.commit`` event, or None when this tool result made no commit."""
    if string_attribute(values, "tool_name") != "Bash" or not _is_true(values.get("success")):
        return None
    raw_parameters = values.get("tool_parameters")
    if not isinstance(raw_parameters, str) or not raw_parameters.strip():
        return None
    try:
        parameters = orjson.loads(raw_parameters)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord(f"tool_parameters is not JSON: {exc}") from exc
    if not isinstance(parameters, dict):
        raise InvalidRecord("tool_parameters is not a JSON object")
    commit = parameters.get("git_commit_id")
    if commit is None or commit == "":
        return None
    if not isinstance(commit, str) or not _is_commit_sha(commit.strip()):
        raise InvalidRecord(f"git_commit_id {commit!r} is not a commit SHA")
    commit = commit.strip().lower()
    session = string_attribute(values, "session.id")
    if session is None:
        # Without a session the commit cannot be tied to any spend.
        return None
    prompt = string_attribute(values, "prompt.id")
    stamp = string_attribute(values, "event.timestamp")
    refs: dict[str, list[str]] = {"session": [session], "commit": [commit]}
    if prompt:
        refs["prompt"] = [prompt]
    event: Record = {
        "id": record_id("cc-commit", session, commit),
        "type": COMMIT_EVENT_TYPE,
        "occurred_at": rfc3339(_occurred_at(log_record, stamp, received_at)),
        "subject": f"claude-code:session/{session}",
        "refs": refs,
        "ai": {"assisted": True, "agent": AGENT},
        "attributes": {
            key: value
            for key, value in (
                ("tool_use_id", string_attribute(values, "tool_use_id")),
                ("organization.id", string_attribute(values, "organization.id")),
            )
            if value is not None
        },
    }
    event.update(who(values))
    return event


# --- small pieces -------------------------------------------------------------------


def who(values: Mapping[str, AttributeValue]) -> dict[str, str]:
    """``actor`` (e-mail, else account) and ``team`` from Claude Code's standard attributes."""
    who: dict[str, str] = {}
    email = string_attribute(values, "user.email")
    account = string_attribute(values, "user.account_uuid")
    if email:
        who["actor"] = email
    elif account:
        who["actor"] = f"{AGENT}:{account}"
    team = string_attribute(values, "team.id")
    if team:
        who["team"] = team
    return who


def _count(values: Mapping[str, AttributeValue], key: str) -> int:
    raw = values.get(key)
    if raw is None:
        return 0
    count = to_count(raw)
    if count is None:
        raise InvalidRecord(f"{key} {raw!r} is not a non-negative integer")
    return count


def _reported_cost(values: Mapping[str, AttributeValue]) -> Decimal | None:
    micros = values.get("cost_usd_micros")
    if micros is not None:
        count = to_count(micros)
        if count is None:
            raise InvalidRecord(f"cost_usd_micros {micros!r} is not a non-negative integer")
        return Decimal(count) / _MICROS
    raw = values.get("cost_usd")
    if raw is None:
        return None
    cost = to_decimal(raw)
    if cost is None or cost < 0:
        raise InvalidRecord(f"cost_usd {raw!r} is not a non-negative number")
    return cost


def _occurred_at(
    log_record: logs_pb2.LogRecord, stamp: str | None, received_at: datetime
) -> datetime:
    if stamp:
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError as exc:
            raise InvalidRecord(f"event.timestamp {stamp!r} is not ISO 8601") from exc
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if log_record.time_unix_nano:
        return nanos_to_datetime(log_record.time_unix_nano)
    if log_record.observed_time_unix_nano:
        return nanos_to_datetime(log_record.observed_time_unix_nano)
    return received_at


def _is_true(value: AttributeValue) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _is_commit_sha(text: str) -> bool:
    return 7 <= len(text) <= 64 and all(char in "0123456789abcdefABCDEF" for char in text)
