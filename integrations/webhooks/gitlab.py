"""GitLab project and group webhooks: merged merge requests, reverts and deployments.

What becomes what:

* ``Merge Request Hook`` with ``object_attributes.action == "merge"`` ->
  ``code.pr.merged`` (pr key ``group/project!iid``); every other action is ignored.
* ``Merge Request Hook`` with action ``approval`` or ``approved`` ->
  ``code.review.submitted`` (state ``approved``, the approving ``user``); GitLab may
  send both for one approval, so the record's id is the approval's own (merge
  request, approver, time), and the second is a duplicate. ``open`` or ``update``
  adding reviewers (``changes.reviewers``) -> one ``code.review.requested`` per
  reviewer added, at the merge request's ``updated_at``.
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

Authentication, two schemes:

* a **signing token** (the source's secret is GitLab's ``whsec_<base64 key>``):
  GitLab signs ``<webhook-id>.<webhook-timestamp>.<body>`` with HMAC-SHA256 under the
  decoded key and sends ``webhook-signature: v1,<base64>`` (the Standard Webhooks
  form; several space-separated signatures may come during a key change). The
  signature must match and ``webhook-timestamp`` (epoch seconds) must lie within
  ``TOLERANCE`` of now, so a captured delivery cannot be replayed later. Once a
  source's secret is a signing token, a delivery without a valid signature is
  refused, whatever ``X-Gitlab-Token`` says.
* a **secret token** (any other secret): GitLab sends it verbatim in
  ``X-Gitlab-Token``; it is compared in constant time with each live secret. It
  proves who sent the request but not that the body is unchanged, so prefer the
  signing token where the GitLab version offers it.
Idempotency key, in order of preference: ``Idempotency-Key`` (unchanged across
retries), ``webhook-id``, ``X-Gitlab-Event-UUID``.

Actor of a merge: the Merge Request Hook names the user who *merged*, and the
author only by id. When they are the same user the actor is that user's e-mail (or
``gitlab:<username>``); otherwise ``gitlab:id:<author_id>``, an alias an identity
mapping can resolve, so the unit is credited to the author rather than the merger.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from integrations.webhooks import payload
from integrations.webhooks.base import (
    Delivery,
    Mapped,
    MappingError,
    Record,
    SignatureError,
    Signed,
    Vendor,
    any_secret_matches,
    load_json,
    register,
)
from integrations.webhooks.github import (
    AI_CONFIG_KEYS,
    DEFAULT_BRANCH_KEY,
    ai_assistance,
    revert_events,
)
from integrations.webhooks.payload import (
    dig,
    epoch_header,
    from_epoch,
    list_at,
    opt_str,
    refuse_replay,
    req_str,
    required_header,
    unique,
    without_nulls,
)

TOKEN_HEADER = "X-Gitlab-Token"  # noqa: S105 (a header name, not a secret)
SIGNATURE_HEADER = "webhook-signature"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNING_TOKEN_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
TOLERANCE = timedelta(minutes=5)
EVENT_HEADER = "X-Gitlab-Event"
# Most stable first: Idempotency-Key survives retries and manual resends.
DELIVERY_HEADERS = ("Idempotency-Key", "webhook-id", "X-Gitlab-Event-UUID")
REDACTED = "[REDACTED]"

_SEE_MERGE_REQUEST = re.compile(r"See merge request (?P<key>[\w.\-/]+![0-9]+)")
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_OFFSET_WITH_SPACE = re.compile(r" ?(?P<sign>[+-])(?P<hh>\d{2}):?(?P<mm>\d{2})$")


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
    return payload.utc_timestamp(text, field=field)


def _user_actor(user: Any) -> str | None:
    email = opt_str(user, "email")
    if email and email != REDACTED:
        return email
    username = opt_str(user, "username")
    return f"gitlab:{username}" if username else None


def _signing_key(secret: str) -> bytes | None:
    """The HMAC key of a ``whsec_`` signing token; None for a plain secret token."""
    if not secret.startswith(SIGNING_TOKEN_PREFIX):
        return None
    try:
        return base64.b64decode(secret[len(SIGNING_TOKEN_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None


def _check_signature(delivery: Delivery, keys: Sequence[bytes], now: datetime) -> None:
    signatures = required_header(delivery.headers, SIGNATURE_HEADER).split()
    delivery_id = required_header(delivery.headers, ID_HEADER)
    timestamp = epoch_header(delivery.headers, TIMESTAMP_HEADER, unit="seconds")
    refuse_replay(
        from_epoch(int(timestamp), unit="seconds"), now=now, tolerance=TOLERANCE,
        what=TIMESTAMP_HEADER,
    )  # fmt: skip
    message = f"{delivery_id}.{timestamp}.".encode() + delivery.body
    received = [s.removeprefix("v1,") for s in signatures if s.startswith("v1,")]
    expected = [
        base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode() for key in keys
    ]
    if not any_secret_matches(expected, lambda signature: signature, received):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match a live signing token")


def verify(delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
    """Pass on a valid ``webhook-signature`` when the source holds a signing token,
    else when ``X-Gitlab-Token`` equals one of the live secrets (constant time)."""
    keys = [key for key in map(_signing_key, secrets) if key is not None]
    if keys:
        _check_signature(delivery, keys, now)
        return
    token = delivery.headers.get(TOKEN_HEADER)
    if not token:
        raise SignatureError(f"{TOKEN_HEADER} header missing")
    if not any_secret_matches(secrets, lambda secret: secret, str(token)):
        raise SignatureError(f"{TOKEN_HEADER} does not match a live secret")


def sign(body: bytes, secret: str, *, now: datetime, url: str = "") -> Signed:
    """What GitLab sends: with a ``whsec_`` signing token, the signed webhook headers
    (the id derived from the body); else the secret token verbatim."""
    key = _signing_key(secret)
    if key is None:
        return Signed({TOKEN_HEADER: secret})
    delivery_id = "msg_" + hashlib.sha256(body).hexdigest()[:32]
    timestamp = str(int(now.timestamp()))
    digest = hmac.new(key, f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return Signed(
        {
            ID_HEADER: delivery_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: "v1," + base64.b64encode(digest.digest()).decode(),
        }
    )


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
    return without_nulls(_HANDLERS[kind](payload, delivery_id, config))


def _ignore_pipeline(
    payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]
) -> Mapped:
    return Mapped.ignore("pipeline events are not recorded; deployments are")


def _merge_request(payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]) -> Mapped:
    attrs = dig(payload, "object_attributes")
    if not isinstance(attrs, Mapping):
        raise MappingError("object_attributes missing")
    action = opt_str(attrs, "action")
    if action in ("approval", "approved"):
        return _approval(payload, attrs)
    if action in ("open", "update"):
        return _reviewers_requested(payload, attrs, delivery_id)
    if action != "merge":
        return Mapped.ignore(f"merge request {action} not used")

    project = req_str(payload, "project", "path_with_namespace")
    iid = req_str(payload, "object_attributes", "iid")
    key = f"{project}!{iid}"
    when = dig(attrs, "merged_at") or dig(attrs, "updated_at")
    labels = [
        label["title"]
        for label in list_at(payload, "labels") or list_at(attrs, "labels")
        if isinstance(label, Mapping) and isinstance(label.get("title"), str)
    ]
    description = dig(attrs, "description")
    draft = dig(attrs, "draft")
    if not isinstance(draft, bool):
        draft = dig(attrs, "work_in_progress") is True
    event: Record = {
        "id": delivery_id,
        "type": "code.pr.merged",
        "occurred_at": utc_timestamp(when, field="object_attributes.merged_at"),
        "subject": f"gitlab:{key}",
        "refs": {
            "pr": [key],
            "commit": unique(
                [
                    (opt_str(attrs, "merge_commit_sha") or "").lower() or None,
                    (opt_str(attrs, "last_commit", "id") or "").lower() or None,
                ]
            ),
        },
        "attributes": {
            "project": project,
            "iid": dig(attrs, "iid"),
            "title": opt_str(attrs, "title"),
            "base_branch": req_str(payload, "object_attributes", "target_branch"),
            "head_branch": opt_str(attrs, "source_branch"),
            "default_branch": opt_str(payload, "project", "default_branch")
            or opt_str(config, "default_branch"),
            "draft": draft,
            "merged": True,
            "labels": labels,
            "author_id": dig(attrs, "author_id"),
            "merged_by": opt_str(payload, "user", "username"),
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


def _review_record(
    payload: Mapping[str, Any], attrs: Mapping[str, Any], *, record_id: str, kind: str
) -> Record:
    project = req_str(payload, "project", "path_with_namespace")
    key = f"{project}!{req_str(payload, 'object_attributes', 'iid')}"
    commit = (opt_str(attrs, "last_commit", "id") or "").lower() or None
    return {
        "id": record_id,
        "type": kind,
        "occurred_at": utc_timestamp(
            dig(attrs, "updated_at"), field="object_attributes.updated_at"
        ),
        "subject": f"gitlab:{key}",
        "refs": {"pr": [key], "commit": unique([commit])},
    }


def _approval(payload: Mapping[str, Any], attrs: Mapping[str, Any]) -> Mapped:
    approver = opt_str(payload, "user", "username") or opt_str(payload, "user", "id")
    if approver is None:
        raise MappingError("user missing")
    record = _review_record(
        payload,
        attrs,
        record_id=f"approval:{req_str(payload, 'object_attributes', 'id')}:{approver}:"
        f"{opt_str(attrs, 'updated_at')}",
        kind="code.review.submitted",
    )
    record["attributes"] = {"reviewer": approver, "state": "approved"}
    actor = _user_actor(dig(payload, "user"))
    if actor:
        record["actor"] = actor
    return Mapped(events=[record])


def _reviewers_requested(
    payload: Mapping[str, Any], attrs: Mapping[str, Any], delivery_id: str
) -> Mapped:
    change = dig(payload, "changes", "reviewers")
    if isinstance(change, Mapping):
        before = {opt_str(r, "username") for r in list_at(change, "previous")}
        added = [opt_str(r, "username") for r in list_at(change, "current")]
    elif opt_str(attrs, "action") == "open":
        before, added = set(), [opt_str(r, "username") for r in list_at(payload, "reviewers")]
    else:
        return Mapped.ignore("merge request update without reviewer changes")
    reviewers = unique([r for r in added if r and r not in before])
    if not reviewers:
        return Mapped.ignore("no reviewer added")
    events = []
    for reviewer in reviewers:
        record = _review_record(
            payload, attrs, record_id=f"{delivery_id}:review-requested:{reviewer}",
            kind="code.review.requested",
        )  # fmt: skip
        record["attributes"] = {"reviewer": reviewer}
        actor = _user_actor(dig(payload, "user"))
        if actor:
            record["actor"] = actor
        events.append(record)
    return Mapped(events=events)


def _merge_actor(payload: Mapping[str, Any], attrs: Mapping[str, Any]) -> str | None:
    author_id = opt_str(attrs, "author_id")
    merger_id = opt_str(payload, "user", "id")
    if author_id is None or author_id == merger_id:
        return _user_actor(dig(payload, "user"))
    return f"gitlab:id:{author_id}"


def _push(payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]) -> Mapped:
    project = req_str(payload, "project", "path_with_namespace")
    mapped = revert_events(
        payload,
        delivery_id,
        vendor="gitlab",
        repo=project,
        repo_attribute="project",
        pr_refs=lambda message: (
            [m.group("key")] if (m := _SEE_MERGE_REQUEST.search(message)) else []
        ),
        actor=_commit_author,
        timestamp=utc_timestamp,
    )
    # The pusher's username and email (GitLab redacts the email on some instances).
    login, email = opt_str(payload, "user_username"), opt_str(payload, "user_email")
    if login and email and email != REDACTED:
        return replace(mapped, aliases=[(f"gitlab:{login}", email)])
    return mapped


def _commit_author(author: Any) -> str | None:
    email = opt_str(author, "email")
    return email if email and email != REDACTED else None


def _deployment(payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]) -> Mapped:
    status = req_str(payload, "status")
    if status not in ("success", "failed"):
        return Mapped.ignore(f"deployment {status} not used")
    project = req_str(payload, "project", "path_with_namespace")
    deploy_id = req_str(payload, "deployment_id")
    tail = (opt_str(payload, "commit_url") or "").rstrip("/").rsplit("/", 1)[-1].lower()
    sha = tail if _FULL_SHA.match(tail) else (opt_str(payload, "short_sha") or "").lower()
    if not sha:
        raise MappingError("commit_url and short_sha missing")
    event: Record = {
        "id": delivery_id,
        "type": "deploy.succeeded" if status == "success" else "deploy.failed",
        "occurred_at": utc_timestamp(dig(payload, "status_changed_at"), field="status_changed_at"),
        "subject": f"gitlab:{project}",
        "refs": {"deploy": [deploy_id], "commit": [sha]},
        "attributes": {
            "project": project,
            # The deployed service, for deploy-window attribution of incidents.
            "service": project,
            "environment": opt_str(payload, "environment"),
            "environment_tier": opt_str(payload, "environment_tier"),
            "deployment_id": deploy_id,
            "deployable_id": dig(payload, "deployable_id"),
            "commit_title": opt_str(payload, "commit_title"),
            "state": status,
        },
    }
    actor = _user_actor(dig(payload, "user"))
    if actor:
        event["actor"] = actor
    return Mapped(events=[event])


_HANDLERS = {
    "Merge Request Hook": _merge_request,
    "Push Hook": _push,
    "Deployment Hook": _deployment,
    "Pipeline Hook": _ignore_pipeline,
}

VENDOR = register(
    Vendor(
        slug="gitlab",
        title="GitLab",
        verify=verify,
        parse=parse,
        sign=sign,
        config_keys={**AI_CONFIG_KEYS, "default_branch": DEFAULT_BRANCH_KEY},
    )
)
