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
* Every deploy event carries ``service``: the deployment ``payload.service`` when
  the deploy tool sets it (a repository deploying several services), else the
  repository's full name. An incident on that service opening soon after a
  production deploy is attributed to it (docs/rules.md, deploy window).
* ``pull_request`` ``review_requested`` -> ``code.review.requested`` (at the PR's
  ``updated_at``, the moment of the request); ``pull_request_review`` ``submitted``
  -> ``code.review.submitted`` (state lower-cased). Other review actions are ignored.
* ``issues`` ``opened`` or ``labeled`` with a bug label (config ``bug_labels``,
  default ``bug``) whose body names a PR or a commit -> ``issue.bug_reported``;
  a bug naming no change, and every other issue, is ignored.
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from integrations.webhooks.base import (
    ConfigKey,
    Delivery,
    Mapped,
    MappingError,
    Record,
    Signed,
    Vendor,
    hmac_hex,
    load_json,
    register,
)
from integrations.webhooks.payload import (
    check_hex_hmac_header,
    config_strings,
    dig,
    list_at,
    opt_int,
    opt_str,
    req_str,
    unique,
    utc_timestamp,
    without_nulls,
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
    ai_labels = {label.lower() for label in config_strings(config, "ai_labels", DEFAULT_AI_LABELS)}
    agents = config_strings(config, "ai_agents", DEFAULT_AI_AGENTS)
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
    return unique(match.group("sha").lower() for match in _REVERTS_COMMIT.finditer(message))


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
    check_hex_hmac_header(
        delivery.body, delivery.headers, secrets, header=SIGNATURE_HEADER, prefix="sha256="
    )


def sign(body: bytes, secret: str, *, now: datetime, url: str = "") -> Signed:
    """The signature header GitHub sends with ``body``."""
    return Signed({SIGNATURE_HEADER: "sha256=" + hmac_hex(secret, body)})


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
    return without_nulls(_HANDLERS[kind](payload, str(delivery_id), config))


def _ignore_ping(payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]) -> Mapped:
    return Mapped.ignore("ping")


def _actor(user: Any) -> str | None:
    email = opt_str(user, "email")
    if email:
        return email
    login = opt_str(user, "login")
    return f"github:{login}" if login else None


def _pr_key(payload: Mapping[str, Any]) -> str:
    repo = req_str(payload, "repository", "full_name")
    return f"{repo}#{req_str(payload, 'pull_request', 'number')}"


def _review_event(
    payload: Mapping[str, Any],
    delivery_id: str,
    *,
    kind: str,
    at: Any,
    at_field: str,
    commit: str | None,
    actor: str | None,
    attributes: dict[str, Any],
) -> Mapped:
    key = _pr_key(payload)
    event: Record = {
        "id": delivery_id,
        "type": kind,
        "occurred_at": utc_timestamp(at, field=at_field),
        "subject": f"github:{key}",
        "refs": {"pr": [key], "commit": unique([commit.lower() if commit else None])},
        "attributes": attributes,
    }
    if actor:
        event["actor"] = actor
    return Mapped(events=[event])


def _review_requested(payload: dict[str, Any], delivery_id: str) -> Mapped:
    reviewer = opt_str(payload, "requested_reviewer", "login") or opt_str(
        payload, "requested_team", "slug"
    )
    return _review_event(
        payload,
        delivery_id,
        kind="code.review.requested",
        at=dig(payload, "pull_request", "updated_at"),
        at_field="pull_request.updated_at",
        commit=opt_str(payload, "pull_request", "head", "sha"),
        actor=_actor(dig(payload, "sender")),
        attributes={"reviewer": reviewer},
    )


def _pull_request_review(
    payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]
) -> Mapped:
    if dig(payload, "action") != "submitted":
        return Mapped.ignore(f"pull_request_review {dig(payload, 'action')} not used")
    review = dig(payload, "review")
    if not isinstance(review, Mapping):
        raise MappingError("review missing")
    return _review_event(
        payload,
        delivery_id,
        kind="code.review.submitted",
        at=dig(review, "submitted_at"),
        at_field="review.submitted_at",
        commit=opt_str(review, "commit_id"),
        actor=_actor(dig(review, "user")),
        attributes={
            "reviewer": opt_str(review, "user", "login"),
            "state": req_str(payload, "review", "state").lower(),
        },
    )


DEFAULT_BUG_LABELS: tuple[str, ...] = ("bug",)
# What an issue body names: owner/repo#123, #123, a pull or commit URL, "commit <sha>".
_PR_MENTION = re.compile(r"(?:(?P<repo>[\w.-]+/[\w.-]+))?#(?P<number>\d+)\b")
_PR_URL = re.compile(r"github\.com/(?P<repo>[\w.-]+/[\w.-]+)/pull/(?P<number>\d+)")
_COMMIT_URL = re.compile(r"github\.com/[\w.-]+/[\w.-]+/commit/(?P<sha>[0-9a-fA-F]{7,40})\b")
_COMMIT_MENTION = re.compile(r"\bcommit\s+(?P<sha>[0-9a-fA-F]{7,40})\b", re.I)


def changes_named(text: str, repo: str) -> dict[str, list[str]]:
    """The ``pr`` and ``commit`` refs an issue's text names (a bare ``#123`` is a PR of
    ``repo``; GitHub numbers issues and PRs alike, so a bare number may be an issue,
    which then links to nothing)."""
    prs = [f"{m.group('repo')}#{m.group('number')}" for m in _PR_URL.finditer(text)]
    prs += [f"{m.group('repo') or repo}#{m.group('number')}" for m in _PR_MENTION.finditer(text)]
    commits = [
        m.group("sha").lower() for p in (_COMMIT_URL, _COMMIT_MENTION) for m in p.finditer(text)
    ]
    refs = {"pr": unique(prs), "commit": unique(commits)}
    return {k: v for k, v in refs.items() if v}


def _issues(payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]) -> Mapped:
    action = dig(payload, "action")
    if action not in ("opened", "labeled"):
        return Mapped.ignore(f"issues {action} not used")
    issue = dig(payload, "issue")
    if not isinstance(issue, Mapping):
        raise MappingError("issue missing")
    labels = [
        label["name"]
        for label in list_at(issue, "labels")
        if isinstance(label, Mapping) and isinstance(label.get("name"), str)
    ]
    wanted = {b.lower() for b in config_strings(config, "bug_labels", DEFAULT_BUG_LABELS)}
    if not any(label.lower() in wanted for label in labels):
        return Mapped.ignore("issue not labelled as a bug")
    repo = req_str(payload, "repository", "full_name")
    number = req_str(payload, "issue", "number")
    body = dig(issue, "body")
    own = f"{repo}#{number}"  # an issue that names itself names no change
    named = {
        kind: kept
        for kind, values in changes_named(body if isinstance(body, str) else "", repo).items()
        if (kept := [v for v in values if v != own])
    }
    if not named:
        return Mapped.ignore("bug names no change")
    event: Record = {
        "id": delivery_id,
        "type": "issue.bug_reported",
        "occurred_at": utc_timestamp(dig(issue, "created_at"), field="issue.created_at"),
        "subject": f"github:{repo}#{number}",
        "refs": {"issue": [f"github:{repo}#{number}"], **named},
        "attributes": {"repository": repo, "number": opt_int(issue, "number"), "labels": labels},
    }
    actor = _actor(dig(issue, "user"))
    if actor:
        event["actor"] = actor
    return Mapped(events=[event])


def _pull_request(payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]) -> Mapped:
    if dig(payload, "action") == "review_requested":
        return _review_requested(payload, delivery_id)
    if dig(payload, "action") != "closed":
        return Mapped.ignore(f"pull_request {dig(payload, 'action')} not used")
    pr = dig(payload, "pull_request")
    if not isinstance(pr, Mapping):
        raise MappingError("pull_request missing")
    merged = dig(pr, "merged")
    if not isinstance(merged, bool):
        raise MappingError("pull_request.merged missing")
    if not merged:
        return Mapped.ignore("pull request closed without merge")

    repo = req_str(payload, "repository", "full_name")
    number = req_str(payload, "pull_request", "number")
    key = f"{repo}#{number}"
    label_names = [
        label["name"]
        for label in list_at(pr, "labels")
        if isinstance(label, Mapping) and isinstance(label.get("name"), str)
    ]
    body = dig(pr, "body")
    default_branch = opt_str(payload, "repository", "default_branch") or opt_str(
        config, "default_branch"
    )
    event: Record = {
        "id": delivery_id,
        "type": "code.pr.merged",
        "occurred_at": utc_timestamp(dig(pr, "merged_at"), field="pull_request.merged_at"),
        "subject": f"github:{key}",
        "refs": {
            "pr": [key],
            "commit": unique([opt_str(pr, "merge_commit_sha"), opt_str(pr, "head", "sha")]),
        },
        "attributes": {
            "repository": repo,
            "number": opt_int(pr, "number"),
            "title": opt_str(pr, "title"),
            "base_branch": req_str(payload, "pull_request", "base", "ref"),
            "head_branch": opt_str(pr, "head", "ref"),
            "default_branch": default_branch,
            "draft": dig(pr, "draft") is True,
            "merged": True,
            "additions": opt_int(pr, "additions"),
            "deletions": opt_int(pr, "deletions"),
            "changed_files": opt_int(pr, "changed_files"),
            "commits": opt_int(pr, "commits"),
            "labels": label_names,
            "author": opt_str(pr, "user", "login"),
            "merged_by": opt_str(pr, "merged_by", "login"),
        },
    }
    actor = _actor(dig(pr, "user"))
    if actor:
        event["actor"] = actor
    ai = ai_assistance(
        labels=label_names, text=body if isinstance(body, str) else "", config=config
    )
    if ai:
        event["ai"] = ai
    return Mapped(events=[event])


def revert_events(
    payload: Mapping[str, Any],
    delivery_id: str,
    *,
    vendor: str,
    repo: str,
    repo_attribute: str,
    pr_refs: Callable[[str], list[str]],
    actor: Callable[[Any], str | None],
    timestamp: Callable[..., str] = utc_timestamp,
) -> Mapped:
    """One ``code.reverted`` per reverting commit of a push (shared with GitLab).

    What differs between the two forges is passed in: the subject prefix
    (``vendor``), the attribute naming the repository, how a revert message names
    the reverted change's PR, who a commit's author is, and the timestamp format.
    """
    commits = dig(payload, "commits")
    if not isinstance(commits, list):
        raise MappingError("commits missing")
    events: list[Record] = []
    for index, commit in enumerate(commits):
        message = dig(commit, "message")
        if not isinstance(message, str):
            raise MappingError(f"commits[{index}].message missing")
        reverted = reverted_commits(message)
        if not reverted:
            continue
        sha = (opt_str(commit, "id") or "").lower()
        if not sha:
            raise MappingError(f"commits[{index}].id missing")
        refs: dict[str, list[str]] = {"commit": reverted}
        prs = pr_refs(message)
        if prs:
            refs["pr"] = prs
        event: Record = {
            "id": f"{delivery_id}:revert:{sha}",
            "type": "code.reverted",
            "occurred_at": timestamp(dig(commit, "timestamp"), field=f"commits[{index}].timestamp"),
            "subject": f"{vendor}:{repo}@{sha}",
            "refs": refs,
            "attributes": {
                repo_attribute: repo,
                "revert_commit": sha,
                "ref": opt_str(payload, "ref"),
            },
        }
        author = actor(dig(commit, "author"))
        if author:
            event["actor"] = author
        events.append(event)
    if not events:
        return Mapped.ignore("push without reverts")
    return Mapped(events=events)


def _push(payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]) -> Mapped:
    repo = req_str(payload, "repository", "full_name")

    def pr_refs(message: str) -> list[str]:
        number = reverted_pr_number(message)
        return [f"{repo}#{number}"] if number else []

    mapped = revert_events(
        payload,
        delivery_id,
        vendor="github",
        repo=repo,
        repo_attribute="repository",
        pr_refs=pr_refs,
        actor=_commit_author,
    )
    return replace(mapped, aliases=_push_aliases(payload))


def _push_aliases(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """The logins a push names with an email: each commit's author, and the pusher
    (whose ``name`` is the login)."""
    people = [
        (opt_str(commit, "author", "username"), opt_str(commit, "author", "email"))
        for commit in (dig(payload, "commits") or [])
        if isinstance(commit, Mapping)
    ]
    people.append((opt_str(payload, "pusher", "name"), opt_str(payload, "pusher", "email")))
    return sorted({(f"github:{login}", email) for login, email in people if login and email})


def _commit_author(author: Any) -> str | None:
    email = opt_str(author, "email")
    if email:
        return email
    login = opt_str(author, "username")
    return f"github:{login}" if login else None


def _rolled_back(deployment: Any, status: Any) -> tuple[bool, list[str], list[str]]:
    """Whether a deployment is a rollback, and the deploys and commits it rolled back."""
    task = opt_str(deployment, "task")
    extra = dig(deployment, "payload")
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
    for text in (opt_str(deployment, "description"), opt_str(status, "description")):
        found = _ROLLBACK_IN_TEXT.search(text or "")
        if found:
            marked = True
            deploys.append(found.group("id"))
    return marked, unique(deploys), unique(commits)


def _deployment_status(
    payload: dict[str, Any], delivery_id: str, config: Mapping[str, Any]
) -> Mapped:
    status = dig(payload, "deployment_status")
    deployment = dig(payload, "deployment")
    if not isinstance(status, Mapping):
        raise MappingError("deployment_status missing")
    if not isinstance(deployment, Mapping):
        raise MappingError("deployment missing")
    state = req_str(payload, "deployment_status", "state")
    if state != "success" and state not in FAILED_STATES:
        return Mapped.ignore(f"deployment_status {state} not used")

    repo = req_str(payload, "repository", "full_name")
    deploy_id = req_str(payload, "deployment", "id")
    sha = req_str(payload, "deployment", "sha").lower()
    environment = opt_str(status, "environment") or opt_str(deployment, "environment")
    service = dig(deployment, "payload", "service")
    attributes: dict[str, Any] = {
        "repository": repo,
        # The deployed service, for deploy-window attribution of incidents: the
        # deployment payload's ``service`` when the deploy tool sets one, else the repo.
        "service": service if isinstance(service, str) and service else repo,
        "environment": environment,
        "deployment_id": deploy_id,
        "ref": opt_str(deployment, "ref"),
        "task": opt_str(deployment, "task"),
        "state": state,
    }
    rollback, rolled_deploys, rolled_commits = _rolled_back(deployment, status)
    if state == "success" and rollback:
        kind = "deploy.rolled_back"
        refs: dict[str, list[str]] = {"deploy": unique([deploy_id, *rolled_deploys])}
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
            dig(status, "created_at"), field="deployment_status.created_at"
        ),
        "subject": f"github:{repo}",
        "refs": refs,
        "attributes": attributes,
    }
    actor = _actor(dig(status, "creator")) or _actor(dig(deployment, "creator"))
    if actor:
        event["actor"] = actor
    return Mapped(events=[event])


_HANDLERS = {
    "ping": _ignore_ping,
    "pull_request": _pull_request,
    "push": _push,
    "deployment_status": _deployment_status,
    "pull_request_review": _pull_request_review,
    "issues": _issues,
}

# Read by GitLab too (its merge requests carry labels and descriptions alike).
AI_CONFIG_KEYS = {
    "ai_labels": ConfigKey("strings", "PR labels that mark AI-assisted or AI-generated work"),
    "ai_agents": ConfigKey("strings", "agents named by Co-authored-by: trailers"),
}
DEFAULT_BRANCH_KEY = ConfigKey("string", "default branch when the payload names none")

VENDOR = register(
    Vendor(
        slug="github",
        title="GitHub",
        verify=verify,
        parse=parse,
        sign=sign,
        config_keys={
            **AI_CONFIG_KEYS,
            "default_branch": DEFAULT_BRANCH_KEY,
            "bug_labels": ConfigKey("strings", "issue labels that mark a bug (default: bug)"),
        },
    )
)
