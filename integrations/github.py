"""GitHub repository webhooks: merged pull requests, reverts and deployments.

What becomes what:

* ``pull_request`` closed with ``merged: true`` -> ``code.pr.merged``; closed without
  a merge, and every other action, is acknowledged and ignored.
* ``push`` whose commits include a ``git revert`` (a message ``Revert "..."`` with a
  ``This reverts commit <sha>`` line) -> one ``code.reverted`` per reverting commit,
  refs ``commit`` = the reverted SHAs (and ``pr`` when the quoted title names one).
* ``deployment_status`` ``success`` -> ``deploy.succeeded``, ``failure``/``error`` ->
  ``deploy.failed``; the other states (queued, in_progress, pending, inactive) are
  steps on the way and ignored.
* Rollback convention: a successful ``deployment_status`` whose deployment ``task``
  is ``rollback``, or whose deployment ``payload`` carries ``rollback_of`` (a deploy
  id or a list of them), or whose description says ``rollback of deploy <id>``,
  becomes ``deploy.rolled_back`` instead. Its refs are the rolled-back deploys and
  the commits named in ``payload.rolled_back_commits``; the SHA the rollback put
  back in production goes to ``attributes.target_sha`` only, so the rollback never
  links to (and voids) the good change it restored.
* ``ping`` and every other event kind are ignored.

Authentication: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``.
GitHub signs no timestamp, so there is no replay window; the delivery id
(``X-GitHub-Delivery``, unchanged on redelivery) is the idempotency key.

AI assistance is read from PR labels (config ``ai_labels``) and from
``Co-authored-by:`` trailers in the PR body naming a known agent (config
``ai_agents``). The helpers that do it are shared with the GitLab mapping.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
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
    hmac_hex,
    load_json,
    register,
)

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"

# Labels that mark a PR as AI work; the first group says the agent wrote it.
DEFAULT_AI_LABELS: tuple[str, ...] = ("ai-generated", "ai-assisted")
GENERATED_LABELS = frozenset({"ai-generated"})

# Names (matched as whole words in the trailer name) and e-mail fragments (matched
# in the trailer address) that known coding agents put in Co-authored-by trailers.
DEFAULT_AI_AGENTS: tuple[str, ...] = (
    "Claude",
    "Copilot",
    "Cursor",
    "Devin",
    "Codex",
    "Aider",
    "Gemini",
    "noreply@anthropic.com",
    "noreply@aider.chat",
    "cursoragent@cursor.com",
    "Copilot@users.noreply.github.com",
    "devin-ai-integration[bot]@users.noreply.github.com",
)

_TRAILER = re.compile(
    r"^[ \t]*co-authored-by:[ \t]*(?P<name>[^<\n]*?)[ \t]*<(?P<email>[^>\n]*)>[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_REVERT_SUBJECT = re.compile(r'^Revert "(?P<title>.*)"\s*$', re.MULTILINE)
_REVERTS_COMMIT = re.compile(r"This reverts commit (?P<sha>[0-9a-fA-F]{7,40})")
# GitHub's merge commit subject and the squash-merge "(#123)" suffix.
_PR_IN_TITLE = re.compile(r"(?:^Merge pull request #(?P<merge>\d+)\b|\(#(?P<squash>\d+)\)\s*$)")
_ROLLBACK_IN_TEXT = re.compile(r"\brollback of deploy(?:ment)?\s*#?(?P<id>[A-Za-z0-9._-]+)", re.I)

FAILED_STATES = frozenset({"failure", "error"})


# Reading the payload defensively: vendors change shapes, and a malformed body must
# end in MappingError, never in a KeyError or TypeError.


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _str(obj: Any, *path: str) -> str:
    value = _dig(obj, *path)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise MappingError(f"{'.'.join(path)} missing")
    return str(value)


def _opt_str(obj: Any, *path: str) -> str | None:
    value = _dig(obj, *path)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def _list(obj: Any, *path: str) -> list[Any]:
    value = _dig(obj, *path)
    return value if isinstance(value, list) else []


def _opt_int(obj: Any, *path: str) -> int | None:
    value = _dig(obj, *path)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _unique(values: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value:
            seen.setdefault(value, None)
    return list(seen)


def _config_strings(config: Mapping[str, Any], key: str, default: Sequence[str]) -> list[str]:
    value = config.get(key)
    if value is None:
        return list(default)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise MappingError(f"source config {key!r} must be a list of strings")
    return list(value)


# AI assistance and reverts: shared with the GitLab mapping.


def ai_agents_in_trailers(text: str, agents: Sequence[str]) -> list[str]:
    """Agents (as configured, lower-cased) named by ``Co-authored-by:`` trailers in text.

    An entry containing ``@`` matches inside the trailer e-mail; any other entry
    matches as a whole word of the trailer name. Both are case-insensitive.
    """
    found: list[str] = []
    for trailer in _TRAILER.finditer(text):
        name = trailer.group("name").lower()
        email = trailer.group("email").lower()
        for agent in agents:
            needle = agent.lower()
            if "@" in needle:
                hit = needle in email
            else:
                hit = re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", name) is not None
            if hit and needle not in found:
                found.append(needle)
    return found


def ai_assistance(
    *, labels: Sequence[str], text: str, config: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The ``ai`` block of a merged change, or None when nothing marks it as AI work.

    ``level`` is ``generated`` for a label in GENERATED_LABELS, else ``assisted``;
    ``agent`` is the first agent named in a trailer, when one is.
    """
    ai_labels = {label.lower() for label in _config_strings(config, "ai_labels", DEFAULT_AI_LABELS)}
    agents = _config_strings(config, "ai_agents", DEFAULT_AI_AGENTS)
    matched_labels = [label for label in labels if label.lower() in ai_labels]
    named = ai_agents_in_trailers(text, agents)
    if not matched_labels and not named:
        return None
    generated = any(label.lower() in GENERATED_LABELS for label in matched_labels)
    block: dict[str, Any] = {
        "assisted": True,
        "level": "generated" if generated else "assisted",
    }
    if named:
        block["agent"] = named[0][:100]  # the ingest schema caps agent names
    return block


def reverted_commits(message: str) -> list[str]:
    """SHAs a ``git revert`` commit message says it reverts; empty for other commits."""
    if not _REVERT_SUBJECT.search(message):
        return []
    return _unique(match.group("sha").lower() for match in _REVERTS_COMMIT.finditer(message))


def reverted_pr_number(message: str) -> str | None:
    """The PR number in a revert's quoted title (merge or squash subject), if any."""
    subject = _REVERT_SUBJECT.search(message)
    if subject is None:
        return None
    found = _PR_IN_TITLE.search(subject.group("title"))
    if found is None:
        return None
    return found.group("merge") or found.group("squash")


# The two hooks.


def verify(delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
    """Pass when ``X-Hub-Signature-256`` is the HMAC-SHA256 of the body under a live secret."""
    received = delivery.headers.get(SIGNATURE_HEADER)
    if not received:
        raise SignatureError(f"{SIGNATURE_HEADER} header missing")
    received = str(received).strip()
    if not received.startswith("sha256="):
        raise SignatureError(f"{SIGNATURE_HEADER} is not of the form sha256=<hex>")
    if not any_secret_matches(
        secrets, lambda secret: "sha256=" + hmac_hex(secret, delivery.body), received
    ):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match a live secret")


def parse(delivery: Delivery, config: Mapping[str, Any]) -> Mapped:
    """Map one GitHub delivery to canonical records (see the module docstring)."""
    kind = delivery.headers.get(EVENT_HEADER)
    if not kind:
        raise MappingError(f"{EVENT_HEADER} header missing")
    kind = str(kind)
    if kind not in _HANDLERS:
        return Mapped.ignore(f"event {kind} not used")
    delivery_id = delivery.headers.get(DELIVERY_HEADER)
    if not delivery_id:
        raise MappingError(f"{DELIVERY_HEADER} header missing")
    payload = load_json(delivery.body)
    if not isinstance(payload, dict):
        raise MappingError("body is not a JSON object")
    return _without_nulls(_HANDLERS[kind](payload, str(delivery_id), config))


def _without_nulls(mapped: Mapped) -> Mapped:
    """Leave unknown attributes out rather than null, so rules can test them with has()."""
    for event in mapped.events:
        attributes = event.get("attributes") or {}
        event["attributes"] = {k: v for k, v in attributes.items() if v is not None}
    return mapped


def _ignore_ping(payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]) -> Mapped:
    return Mapped.ignore("ping")


def _actor(user: Any) -> str | None:
    email = _opt_str(user, "email")
    if email:
        return email
    login = _opt_str(user, "login")
    return f"github:{login}" if login else None


def _pull_request(payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]) -> Mapped:
    if _dig(payload, "action") != "closed":
        return Mapped.ignore(f"pull_request {_dig(payload, 'action')} not used")
    pr = _dig(payload, "pull_request")
    if not isinstance(pr, Mapping):
        raise MappingError("pull_request missing")
    merged = _dig(pr, "merged")
    if not isinstance(merged, bool):
        raise MappingError("pull_request.merged missing")
    if not merged:
        return Mapped.ignore("pull request closed without merge")

    repo = _str(payload, "repository", "full_name")
    number = _str(payload, "pull_request", "number")
    key = f"{repo}#{number}"
    label_names = [
        label["name"]
        for label in _list(pr, "labels")
        if isinstance(label, Mapping) and isinstance(label.get("name"), str)
    ]
    body = _dig(pr, "body")
    default_branch = _opt_str(payload, "repository", "default_branch") or _opt_str(
        config, "default_branch"
    )
    event: Record = {
        "id": delivery_id,
        "type": "code.pr.merged",
        "occurred_at": utc_timestamp(_dig(pr, "merged_at"), field="pull_request.merged_at"),
        "subject": f"github:{key}",
        "refs": {
            "pr": [key],
            "commit": _unique([_opt_str(pr, "merge_commit_sha"), _opt_str(pr, "head", "sha")]),
        },
        "attributes": {
            "repository": repo,
            "number": _opt_int(pr, "number"),
            "title": _opt_str(pr, "title"),
            "base_branch": _str(payload, "pull_request", "base", "ref"),
            "head_branch": _opt_str(pr, "head", "ref"),
            "default_branch": default_branch,
            "draft": _dig(pr, "draft") is True,
            "merged": True,
            "additions": _opt_int(pr, "additions"),
            "deletions": _opt_int(pr, "deletions"),
            "changed_files": _opt_int(pr, "changed_files"),
            "commits": _opt_int(pr, "commits"),
            "labels": label_names,
            "author": _opt_str(pr, "user", "login"),
            "merged_by": _opt_str(pr, "merged_by", "login"),
        },
    }
    actor = _actor(_dig(pr, "user"))
    if actor:
        event["actor"] = actor
    ai = ai_assistance(
        labels=label_names, text=body if isinstance(body, str) else "", config=config
    )
    if ai:
        event["ai"] = ai
    return Mapped(events=[event])


def _push(payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]) -> Mapped:
    repo = _str(payload, "repository", "full_name")
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
        number = reverted_pr_number(message)
        if number:
            refs["pr"] = [f"{repo}#{number}"]
        event: Record = {
            "id": f"{delivery_id}:revert:{sha}",
            "type": "code.reverted",
            "occurred_at": utc_timestamp(
                _dig(commit, "timestamp"), field=f"commits[{index}].timestamp"
            ),
            "subject": f"github:{repo}@{sha}",
            "refs": refs,
            "attributes": {
                "repository": repo,
                "revert_commit": sha,
                "ref": _opt_str(payload, "ref"),
            },
        }
        actor = _opt_str(commit, "author", "email") or (
            f"github:{login}" if (login := _opt_str(commit, "author", "username")) else None
        )
        if actor:
            event["actor"] = actor
        events.append(event)
    if not events:
        return Mapped.ignore("push without reverts")
    return Mapped(events=events)


def _rolled_back(deployment: Any, status: Any) -> tuple[bool, list[str], list[str]]:
    """Whether a deployment is a rollback, and the deploys and commits it rolled back."""
    task = _opt_str(deployment, "task")
    extra = _dig(deployment, "payload")
    deploys: list[str | None] = []
    commits: list[str | None] = []
    marked = task == "rollback"
    if isinstance(extra, Mapping):
        rollback_of = extra.get("rollback_of")
        if rollback_of is not None:
            marked = True
            items = rollback_of if isinstance(rollback_of, list) else [rollback_of]
            deploys += [str(i) for i in items if isinstance(i, str | int) and i != ""]
        named = extra.get("rolled_back_commits")
        if isinstance(named, list):
            commits += [c.lower() for c in named if isinstance(c, str) and c]
    for text in (_opt_str(deployment, "description"), _opt_str(status, "description")):
        found = _ROLLBACK_IN_TEXT.search(text or "")
        if found:
            marked = True
            deploys.append(found.group("id"))
    return marked, _unique(deploys), _unique(commits)


def _deployment_status(
    payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]
) -> Mapped:
    status = _dig(payload, "deployment_status")
    deployment = _dig(payload, "deployment")
    if not isinstance(status, Mapping):
        raise MappingError("deployment_status missing")
    if not isinstance(deployment, Mapping):
        raise MappingError("deployment missing")
    state = _str(payload, "deployment_status", "state")
    if state != "success" and state not in FAILED_STATES:
        return Mapped.ignore(f"deployment_status {state} not used")

    repo = _str(payload, "repository", "full_name")
    deploy_id = _str(payload, "deployment", "id")
    sha = _str(payload, "deployment", "sha").lower()
    environment = _opt_str(status, "environment") or _opt_str(deployment, "environment")
    attributes: dict[str, Any] = {
        "repository": repo,
        "environment": environment,
        "deployment_id": deploy_id,
        "ref": _opt_str(deployment, "ref"),
        "task": _opt_str(deployment, "task"),
        "state": state,
    }
    rollback, rolled_deploys, rolled_commits = _rolled_back(deployment, status)
    if state == "success" and rollback:
        kind = "deploy.rolled_back"
        refs: dict[str, list[str]] = {"deploy": _unique([deploy_id, *rolled_deploys])}
        if rolled_commits:
            refs["commit"] = rolled_commits
        attributes["target_sha"] = sha
        attributes["rolled_back_deploys"] = rolled_deploys
    else:
        kind = "deploy.succeeded" if state == "success" else "deploy.failed"
        refs = {"deploy": [deploy_id], "commit": [sha]}
    event: Record = {
        "id": delivery_id,
        "type": kind,
        "occurred_at": utc_timestamp(
            _dig(status, "created_at"), field="deployment_status.created_at"
        ),
        "subject": f"github:{repo}",
        "refs": refs,
        "attributes": attributes,
    }
    actor = _actor(_dig(status, "creator")) or _actor(_dig(deployment, "creator"))
    if actor:
        event["actor"] = actor
    return Mapped(events=[event])


_HANDLERS = {
    "ping": _ignore_ping,
    "pull_request": _pull_request,
    "push": _push,
    "deployment_status": _deployment_status,
}

VENDOR = register(Vendor(slug="github", title="GitHub", verify=verify, parse=parse))
