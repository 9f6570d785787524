"""Vendor webhook bodies and Claude Code telemetry for the demo, shaped as each
vendor sends them.

Only the fields the integrations read plus the ones a real delivery always
carries; docs/integrations/<vendor>.md and tests/fixtures/<vendor>/ hold the
full real payloads these follow (tests/fixtures/otlp/ for Claude Code).
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from awu.demo.company import PersonSpec, rfc3339, usage_cost

DEFAULT_BRANCH = "main"
CLAUDE_CODE_VERSION = "2.1.230"
CLAUDE_CODE_ORGANIZATION = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"


def _repository(repo: str) -> dict[str, Any]:
    owner, name = repo.split("/")
    return {
        "full_name": repo,
        "name": name,
        "owner": {"login": owner},
        "default_branch": DEFAULT_BRANCH,
        "private": True,
    }


def github_pull_request_merged(
    *,
    repo: str,
    number: int,
    title: str,
    author: PersonSpec,
    merged_at: datetime,
    merge_sha: str,
    head_sha: str,
    additions: int,
    deletions: int,
    ai_level: str | None,
) -> dict[str, Any]:
    """``pull_request`` ``closed`` with ``merged: true``; AI work marked as teams do:
    a label and the agent's ``Co-authored-by`` trailer."""
    labels = [{"name": f"ai-{ai_level}"}] if ai_level else []
    body = "Summary of the change.\n"
    if ai_level:
        body += "\nCo-authored-by: Claude <noreply@anthropic.com>\n"
    user = {"login": author.github, "type": "User"}
    return {
        "action": "closed",
        "number": number,
        "pull_request": {
            "number": number,
            "state": "closed",
            "title": title,
            "body": body,
            "user": user,
            "labels": labels,
            "draft": False,
            "merged": True,
            "merged_at": rfc3339(merged_at),
            "closed_at": rfc3339(merged_at),
            "merge_commit_sha": merge_sha,
            "merged_by": user,
            "head": {"ref": f"{author.github}/change-{number}", "sha": head_sha},
            "base": {"ref": DEFAULT_BRANCH},
            "additions": additions,
            "deletions": deletions,
            "changed_files": max(1, (additions + deletions) // 40),
            "commits": max(1, (additions + deletions) // 120),
        },
        "repository": _repository(repo),
        "sender": user,
    }


def github_deployment_status(
    *,
    repo: str,
    deploy_id: int,
    sha: str,
    at: datetime,
    creator: PersonSpec,
    rollback_of: int | None = None,
) -> dict[str, Any]:
    """``deployment_status`` ``success`` to production; a rollback names the deploy
    it undoes in the deployment payload (the convention integrations/webhooks/github.py reads)."""
    user = {"login": creator.github, "type": "User"}
    payload: dict[str, Any] = {}
    if rollback_of is not None:
        payload["rollback_of"] = str(rollback_of)
    return {
        "action": "created",
        "deployment_status": {
            "state": "success",
            "environment": "production",
            "created_at": rfc3339(at),
            "creator": user,
            "description": "Deployed",
        },
        "deployment": {
            "id": deploy_id,
            "sha": sha,
            "ref": DEFAULT_BRANCH,
            "task": "rollback" if rollback_of is not None else "deploy",
            "environment": "production",
            "payload": payload,
            "creator": user,
        },
        "repository": _repository(repo),
        "sender": user,
    }


def github_push_revert(
    *, repo: str, number: int, title: str, reverted_sha: str, revert_sha: str, at: datetime,
    author: PersonSpec,
) -> dict[str, Any]:  # fmt: skip
    """A ``push`` to the default branch holding a ``git revert`` of a squash-merged PR."""
    message = f'Revert "{title} (#{number})"\n\nThis reverts commit {reverted_sha}.\n'
    return {
        "ref": f"refs/heads/{DEFAULT_BRANCH}",
        "before": reverted_sha,
        "after": revert_sha,
        "commits": [
            {
                "id": revert_sha,
                "message": message,
                "timestamp": rfc3339(at),
                "author": {"name": author.name, "email": author.email, "username": author.github},
            }
        ],
        "repository": _repository(repo),
        "pusher": {"name": author.github},
    }


def pagerduty_incident(
    *,
    event_id: str,
    event_type: str,
    incident_id: str,
    number: int,
    title: str,
    service: str,
    at: datetime,
    agent: PersonSpec | None,
    urgency: str,
) -> dict[str, Any]:
    """A V3 webhook for ``incident.triggered`` or ``incident.resolved``."""
    event: dict[str, Any] = {
        "id": event_id,
        "event_type": event_type,
        "resource_type": "incident",
        "occurred_at": rfc3339(at),
        "data": {
            "id": incident_id,
            "type": "incident",
            "number": number,
            "title": title,
            "status": "triggered" if event_type == "incident.triggered" else "resolved",
            "urgency": urgency,
            "priority": {"summary": "P1" if urgency == "high" else "P3"},
            "service": {"id": f"PS{service.upper()[:5]}", "summary": service},
            "teams": [{"summary": "Engineering"}],
        },
    }
    if agent is not None:
        event["agent"] = {"id": agent.pagerduty, "type": "user_reference"}
    return {"event": event}


def docusign_envelope_completed(
    *, envelope_id: str, account_id: str, sender: PersonSpec, subject: str, at: datetime,
    signers: int,
) -> dict[str, Any]:  # fmt: skip
    """A Connect (JSON SIM) ``envelope-completed`` message with its envelope summary."""
    return {
        "event": "envelope-completed",
        "apiVersion": "v2.1",
        "uri": f"/restapi/v2.1/accounts/{account_id}/envelopes/{envelope_id}",
        "retryCount": 0,
        "configurationId": 10004321,
        "generatedDateTime": rfc3339(at),
        "data": {
            "accountId": account_id,
            "envelopeId": envelope_id,
            "envelopeSummary": {
                "status": "completed",
                "emailSubject": subject,
                "completedDateTime": rfc3339(at),
                "sender": {"userName": sender.name, "email": sender.email},
                "recipients": {
                    "signers": [
                        {"recipientId": str(n + 1), "status": "completed"} for n in range(signers)
                    ]
                },
            },
        },
    }


def hubspot_stage_change(
    *, event_id: int, deal_id: str, stage: str, owner: PersonSpec, at: datetime
) -> dict[str, Any]:
    """One ``deal.propertyChange`` subscription event (HubSpot batches up to 100)."""
    return {
        "eventId": event_id,
        "subscriptionId": 2412001,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": int(at.timestamp() * 1000),
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": int(deal_id),
        "propertyName": "dealstage",
        "propertyValue": stage,
        "changeSource": "CRM_UI",
        "sourceId": f"userId:{owner.hubspot}",
    }


def zendesk_status_changed(
    *, event_id: str, ticket_id: str, agent: PersonSpec, previous: str, current: str,
    at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """A ``zen:event-type:ticket.status_changed`` event-subscription body."""
    return {
        "type": "zen:event-type:ticket.status_changed",
        "account_id": 22_129_848,
        "id": event_id,
        "time": rfc3339(at),
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{ticket_id}",
        "detail": {
            "id": ticket_id,
            "actor_id": agent.zendesk,
            "assignee_id": agent.zendesk,
            "brand_id": "360001",
            "group_id": "360002",
            "priority": "normal",
            "status": current.upper(),
            "type": "question",
            "via": {"channel": "email"},
        },
        "event": {"previous": previous.upper(), "current": current.upper()},
    }


# --- Claude Code (OTLP logs) ------------------------------------------------------------
#
# A log record is kept as plain data until it is sent: {"actor", "at", "name",
# "attributes"}, ``at`` the event's RFC 3339 timestamp with milliseconds.


@functools.cache
def _claude_code_user(email: str) -> tuple[str, str]:
    """The installation id (``user.id``) and account UUID Claude Code reports for a person."""
    return (
        hashlib.sha256(f"claude-code:{email}".encode()).hexdigest(),
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{email}")),
    )


def _claude_code_record(
    name: str, *, session: str, prompt: str, person: PersonSpec, at: datetime, sequence: int,
    attributes: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """One event with Claude Code's standard attributes."""
    stamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    user_id, account = _claude_code_user(person.email)
    return {
        "actor": person.email,
        "at": stamp,
        "name": f"claude_code.{name}",
        "attributes": {
            "user.id": user_id,
            "session.id": session,
            "organization.id": CLAUDE_CODE_ORGANIZATION,
            "user.email": person.email,
            "user.account_uuid": account,
            "terminal.type": "vscode",
            "prompt.id": prompt,
            "event.timestamp": stamp,
            "event.sequence": sequence,
            "event.name": name,
            **attributes,
        },
    }


def claude_code_api_request(
    *, session: str, prompt: str, person: PersonSpec, at: datetime, sequence: int,
    request_id: str, model: str, tokens: dict[str, int],
) -> dict[str, Any]:  # fmt: skip
    """A ``claude_code.api_request`` event with the cost Claude Code computes itself."""
    cost = usage_cost({"model": model, **tokens})
    return _claude_code_record(
        "api_request", session=session, prompt=prompt, person=person, at=at,
        sequence=sequence,
        attributes={
            "model": model,
            "cost_usd": float(round(cost, 6)),
            "duration_ms": 1500 + tokens["output_tokens"] % 40_000,
            "input_tokens": tokens["input_tokens"],
            "output_tokens": tokens["output_tokens"],
            "cache_read_tokens": tokens["cache_read_input_tokens"],
            "cache_creation_tokens": tokens["cache_creation_input_tokens"],
            "request_id": request_id,
        },
    )  # fmt: skip


def claude_code_commit(
    *, session: str, prompt: str, person: PersonSpec, at: datetime, sequence: int,
    tool_use_id: str, commit: str, message: str,
) -> dict[str, Any]:  # fmt: skip
    """The ``claude_code.tool_result`` of a ``git commit`` the session ran; its
    ``git_commit_id`` is sent with ``OTEL_LOG_TOOL_DETAILS=1``."""
    command = f"git commit -m {orjson.dumps(message).decode()}"
    parameters = {
        "bash_command": "git",
        "full_command": command,
        "timeout": 120000,
        "description": "Commit the change",
        "dangerouslyDisableSandbox": False,
        "git_commit_id": commit,
    }
    return _claude_code_record(
        "tool_result", session=session, prompt=prompt, person=person, at=at,
        sequence=sequence,
        attributes={
            "tool_name": "Bash",
            "tool_use_id": tool_use_id,
            "success": "true",
            "duration_ms": 688,
            "decision_type": "accept",
            "decision_source": "config",
            "tool_parameters": orjson.dumps(parameters).decode(),
        },
    )  # fmt: skip


def _any_value(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    return common_pb2.AnyValue(string_value=str(value))


def _nanos(stamp: str) -> int:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def claude_code_logs_export(records: Sequence[dict[str, Any]]) -> bytes:
    """An OTLP ``ExportLogsServiceRequest`` (``http/protobuf``, the encoding the
    Claude Code set-up guide recommends) holding ``records``, with Claude Code's
    resource and instrumentation scope."""
    export = logs_service_pb2.ExportLogsServiceRequest()
    resource_logs = export.resource_logs.add()
    for key, value in (
        ("service.name", "claude-code"),
        ("service.version", CLAUDE_CODE_VERSION),
        ("os.type", "darwin"),
    ):
        resource_logs.resource.attributes.add(key=key, value=_any_value(value))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "com.anthropic.claude_code.events"
    scope_logs.scope.version = CLAUDE_CODE_VERSION
    for record in records:
        log_record = scope_logs.log_records.add()
        log_record.time_unix_nano = log_record.observed_time_unix_nano = _nanos(record["at"])
        log_record.severity_number = 9  # INFO
        log_record.severity_text = "INFO"
        log_record.body.string_value = record["name"]
        for key, value in record["attributes"].items():
            log_record.attributes.add(key=key, value=_any_value(value))
    return export.SerializeToString()
