"""GitLab project and group webhooks: merged merge requests, reverts and deployments.

What becomes what:

* ``Merge Request Hook`` with ``object_attributes.action == "merge"`` ->
  ``code.pr.merged`` (pr key ``group/project!iid``); every other action is ignored.
* ``Push Hook`` whose commits include a ``git revert`` (``Revert "..."`` with
  ``This reverts commit <sha>``) -> one ``code.reverted`` per reverting commit; a
  ``See merge request group/project!iid`` line adds the ``pr`` ref.
* ``Deployment Hook`` ``success`` -> ``deploy.succeeded``, ``failed`` ->
  ``deploy.failed``; ``running`` and ``canceled`` are ignored. The payload carries
  the deployed commit only as ``commit_url`` and ``short_sha``: the full SHA is the
  last path segment of ``commit_url``, else the short SHA is used as is.
* ``Pipeline Hook`` is ignored on purpose: a pipeline is not a deployment, and the
  Deployment Hook already says what reached an environment.
* Everything else is ignored.

Authentication: GitLab sends the webhook's secret token verbatim in
``X-Gitlab-Token``; it is compared in constant time with each live secret.
Idempotency key, in order of preference: ``Idempotency-Key`` (unchanged across
retries), ``webhook-id``, ``X-Gitlab-Event-UUID``.

Actor of a merge: the Merge Request Hook names the user who *merged*, and the
author only by id. When they are the same user the actor is that user's e-mail (or
``gitlab:<username>``); otherwise ``gitlab:id:<author_id>``, an alias an identity
mapping can resolve, so the unit is credited to the author rather than the merger.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from integrations.base import (
    Delivery,
    Mapped,
    MappingError,
    Record,
    SignatureError,
    Vendor,
    any_secret_matches,
    load_json,
    register,
)
from integrations.github import ai_assistance, reverted_commits

TOKEN_HEADER = "X-Gitlab-Token"  # noqa: S105 (a header name, not a secret)
EVENT_HEADER = "X-Gitlab-Event"
# Most stable first: Idempotency-Key survives retries and manual resends.
DELIVERY_HEADERS = ("Idempotency-Key", "webhook-id", "X-Gitlab-Event-UUID")
REDACTED = "[REDACTED]"

_SEE_MERGE_REQUEST = re.compile(r"See merge request (?P<key>[\w.\-/]+![0-9]+)")
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_OFFSET_WITH_SPACE = re.compile(r" ?(?P<sign>[+-])(?P<hh>\d{2}):?(?P<mm>\d{2})$")


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _str(obj: Any, *path: str) -> str:
    value = _opt_str(obj, *path)
    if value is None:
        raise MappingError(f"{'.'.join(path)} missing")
    return value


def _opt_str(obj: Any, *path: str) -> str | None:
    value = _dig(obj, *path)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def _list(obj: Any, *path: str) -> list[Any]:
    value = _dig(obj, *path)
    return value if isinstance(value, list) else []


def utc_timestamp(value: Any, *, field: str) -> str:
    """A GitLab timestamp normalised to RFC 3339 UTC ``...Z``.

    GitLab writes three forms: ``2013-12-03T17:23:34Z``, ``2021-04-28 21:50:00 +0200``
    and ``2016-08-12 15:23:28 UTC``. Raises MappingError for anything without an offset.
    """
    if not isinstance(value, str) or not value:
        raise MappingError(f"{field} missing")
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[: -len(" UTC")] + "+00:00"
    else:
        text = _OFFSET_WITH_SPACE.sub(r"\g<sign>\g<hh>:\g<mm>", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MappingError(f"{field} is not a timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        raise MappingError(f"{field} has no UTC offset: {value!r}")
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _unique(values: Sequence[str | None]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _user_actor(user: Any) -> str | None:
    email = _opt_str(user, "email")
    if email and email != REDACTED:
        return email
    username = _opt_str(user, "username")
    return f"gitlab:{username}" if username else None


def verify(delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
    """Pass when ``X-Gitlab-Token`` equals one of the live secrets (constant time)."""
    token = delivery.headers.get(TOKEN_HEADER)
    if not token:
        raise SignatureError(f"{TOKEN_HEADER} header missing")
    if not any_secret_matches(secrets, lambda secret: secret, str(token)):
        raise SignatureError(f"{TOKEN_HEADER} does not match a live secret")


def parse(delivery: Delivery, config: Mapping[str, Any]) -> Mapped:
    """Map one GitLab delivery to canonical records (see the module docstring)."""
    kind = delivery.headers.get(EVENT_HEADER)
    if not kind:
        raise MappingError(f"{EVENT_HEADER} header missing")
    kind = str(kind)
    if kind not in _HANDLERS:
        return Mapped.ignore(f"event {kind} not used")
    delivery_id = next((str(v) for h in DELIVERY_HEADERS if (v := delivery.headers.get(h))), None)
    if delivery_id is None:
        raise MappingError(f"none of the headers {', '.join(DELIVERY_HEADERS)} present")
    payload = load_json(delivery.body)
    if not isinstance(payload, dict):
        raise MappingError("body is not a JSON object")
    return _without_nulls(_HANDLERS[kind](payload, delivery_id, config))


def _without_nulls(mapped: Mapped) -> Mapped:
    """Leave unknown attributes out rather than null, so rules can test them with has()."""
    for event in mapped.events:
        attributes = event.get("attributes") or {}
        event["attributes"] = {k: v for k, v in attributes.items() if v is not None}
    return mapped


def _ignore_pipeline(
    payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]
) -> Mapped:
    return Mapped.ignore("pipeline events are not recorded; deployments are")


def _merge_request(payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]) -> Mapped:
    attrs = _dig(payload, "object_attributes")
    if not isinstance(attrs, Mapping):
        raise MappingError("object_attributes missing")
    action = _opt_str(attrs, "action")
    if action != "merge":
        return Mapped.ignore(f"merge request {action} not used")

    project = _str(payload, "project", "path_with_namespace")
    iid = _str(payload, "object_attributes", "iid")
    key = f"{project}!{iid}"
    when = _dig(attrs, "merged_at") or _dig(attrs, "updated_at")
    labels = [
        label["title"]
        for label in _list(payload, "labels") or _list(attrs, "labels")
        if isinstance(label, Mapping) and isinstance(label.get("title"), str)
    ]
    description = _dig(attrs, "description")
    draft = _dig(attrs, "draft")
    if not isinstance(draft, bool):
        draft = _dig(attrs, "work_in_progress") is True
    event: Record = {
        "id": delivery_id,
        "type": "code.pr.merged",
        "occurred_at": utc_timestamp(when, field="object_attributes.merged_at"),
        "subject": f"gitlab:{key}",
        "refs": {
            "pr": [key],
            "commit": _unique(
                [
                    (_opt_str(attrs, "merge_commit_sha") or "").lower() or None,
                    (_opt_str(attrs, "last_commit", "id") or "").lower() or None,
                ]
            ),
        },
        "attributes": {
            "project": project,
            "iid": _dig(attrs, "iid"),
            "title": _opt_str(attrs, "title"),
            "base_branch": _str(payload, "object_attributes", "target_branch"),
            "head_branch": _opt_str(attrs, "source_branch"),
            "default_branch": _opt_str(payload, "project", "default_branch")
            or _opt_str(config, "default_branch"),
            "draft": draft,
            "merged": True,
            "labels": labels,
            "author_id": _dig(attrs, "author_id"),
            "merged_by": _opt_str(payload, "user", "username"),
        },
    }
    actor = _merge_actor(payload, attrs)
    if actor:
        event["actor"] = actor
    ai = ai_assistance(
        labels=labels,
        text=description if isinstance(description, str) else "",
        config=config,
    )
    if ai:
        event["ai"] = ai
    return Mapped(events=[event])


def _merge_actor(payload: Mapping[str, Any], attrs: Mapping[str, Any]) -> str | None:
    author_id = _opt_str(attrs, "author_id")
    merger_id = _opt_str(payload, "user", "id")
    if author_id is None or author_id == merger_id:
        return _user_actor(_dig(payload, "user"))
    return f"gitlab:id:{author_id}"


def _push(payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]) -> Mapped:
    project = _str(payload, "project", "path_with_namespace")
    commits = _dig(payload, "commits")
    if not isinstance(commits, list):
        raise MappingError("commits missing")
    events: list[Record] = []
    for index, commit in enumerate(commits):
        message = _dig(commit, "message")
        if not isinstance(message, str):
            raise MappingError(f"commits[{index}].message missing")
        reverted = reverted_commits(message)
        if not reverted:
            continue
        sha = (_opt_str(commit, "id") or "").lower()
        if not sha:
            raise MappingError(f"commits[{index}].id missing")
        refs: dict[str, list[str]] = {"commit": reverted}
        merge_request = _SEE_MERGE_REQUEST.search(message)
        if merge_request:
            refs["pr"] = [merge_request.group("key")]
        event: Record = {
            "id": f"{delivery_id}:revert:{sha}",
            "type": "code.reverted",
            "occurred_at": utc_timestamp(
                _dig(commit, "timestamp"), field=f"commits[{index}].timestamp"
            ),
            "subject": f"gitlab:{project}@{sha}",
            "refs": refs,
            "attributes": {
                "project": project,
                "revert_commit": sha,
                "ref": _opt_str(payload, "ref"),
            },
        }
        email = _opt_str(commit, "author", "email")
        if email and email != REDACTED:
            event["actor"] = email
        events.append(event)
    if not events:
        return Mapped.ignore("push without reverts")
    return Mapped(events=events)


def _deployment(payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]) -> Mapped:
    status = _str(payload, "status")
    if status not in ("success", "failed"):
        return Mapped.ignore(f"deployment {status} not used")
    project = _str(payload, "project", "path_with_namespace")
    deploy_id = _str(payload, "deployment_id")
    tail = (_opt_str(payload, "commit_url") or "").rstrip("/").rsplit("/", 1)[-1].lower()
    sha = tail if _FULL_SHA.match(tail) else (_opt_str(payload, "short_sha") or "").lower()
    if not sha:
        raise MappingError("commit_url and short_sha missing")
    event: Record = {
        "id": delivery_id,
        "type": "deploy.succeeded" if status == "success" else "deploy.failed",
        "occurred_at": utc_timestamp(_dig(payload, "status_changed_at"), field="status_changed_at"),
        "subject": f"gitlab:{project}",
        "refs": {"deploy": [deploy_id], "commit": [sha]},
        "attributes": {
            "project": project,
            "environment": _opt_str(payload, "environment"),
            "environment_tier": _opt_str(payload, "environment_tier"),
            "deployment_id": deploy_id,
            "deployable_id": _dig(payload, "deployable_id"),
            "commit_title": _opt_str(payload, "commit_title"),
            "state": status,
        },
    }
    actor = _user_actor(_dig(payload, "user"))
    if actor:
        event["actor"] = actor
    return Mapped(events=[event])


_HANDLERS = {
    "Merge Request Hook": _merge_request,
    "Push Hook": _push,
    "Deployment Hook": _deployment,
    "Pipeline Hook": _ignore_pipeline,
}

VENDOR = register(Vendor(slug="gitlab", title="GitLab", verify=verify, parse=parse))
