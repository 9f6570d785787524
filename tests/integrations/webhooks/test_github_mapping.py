"""GitHub webhooks: signature check and mapping to canonical events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.webhooks import github
from integrations.webhooks.base import Delivery, MappingError, SignatureError, hmac_hex
from tests.integrations.webhooks.mapping import Recorded, json_values, maps_or_refuses, only_event

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "github"
RECORDED = Recorded(FIXTURES)
body_of = RECORDED.body
edited = RECORDED.edited
SECRET = "It's a Secret to Everybody"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DELIVERY_ID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def delivery(
    event: str, body: bytes, *, secret: str = SECRET, delivery_id: str = DELIVERY_ID
) -> Delivery:
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
        "X-Hub-Signature-256": "sha256=" + hmac_hex(secret, body),
    }
    return Delivery(body=body, headers=headers)


# Signatures


def test_signature_from_the_live_secret_is_accepted() -> None:
    github.verify(delivery("ping", body_of("ping.json")), [SECRET], NOW)


def test_githubs_documented_signature_example_is_accepted() -> None:
    # docs.github.com "Validating webhook deliveries": test values and expected digest.
    body = b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    github.verify(Delivery(body=body, headers={"X-Hub-Signature-256": expected}), [SECRET], NOW)


def test_signature_without_the_sha256_prefix_is_refused() -> None:
    body = body_of("ping.json")
    headers = {"X-Hub-Signature-256": hmac_hex(SECRET, body)}
    with pytest.raises(SignatureError, match="sha256="):
        github.verify(Delivery(body=body, headers=headers), [SECRET], NOW)


def test_tampered_body_is_refused() -> None:
    signed = delivery("ping", body_of("ping.json"))
    tampered = Delivery(body=signed.body + b" ", headers=signed.headers)
    with pytest.raises(SignatureError):
        github.verify(tampered, [SECRET], NOW)


# Pull requests


def test_merged_pull_request_becomes_code_pr_merged() -> None:
    event = only_event(
        github.parse(delivery("pull_request", body_of("pull_request.merged.json")), {})
    )
    assert event["type"] == "code.pr.merged"
    assert event["id"] == DELIVERY_ID
    assert event["occurred_at"] == "2019-05-15T15:21:18Z"
    assert event["subject"] == "github:Codertocat/Hello-World#2"
    assert event["actor"] == "github:Codertocat"
    assert event["refs"] == {
        "pr": ["Codertocat/Hello-World#2"],
        "commit": [
            "c4295bd74fb0f4fda03689c3df3f2803b658fd85",
            "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        ],
    }
    assert "source" not in event


def test_merged_pull_request_carries_branch_size_and_label_attributes() -> None:
    event = only_event(
        github.parse(delivery("pull_request", body_of("pull_request.merged.json")), {})
    )
    attributes = event["attributes"]
    assert attributes["base_branch"] == "master"
    assert attributes["default_branch"] == "master"
    assert attributes["draft"] is False
    assert attributes["merged"] is True
    assert (attributes["additions"], attributes["deletions"], attributes["changed_files"]) == (
        1,
        1,
        1,
    )
    assert attributes["title"] == "Update the README with new information."
    assert attributes["labels"] == ["bug", "ai-assisted"]


def test_ai_label_and_agent_trailer_mark_the_merge_as_ai_assisted() -> None:
    event = only_event(
        github.parse(delivery("pull_request", body_of("pull_request.merged.json")), {})
    )
    assert event["ai"] == {
        "assisted": True,
        "level": "assisted",
        "agent": "claude",
    }


def test_ai_generated_label_marks_the_merge_as_generated() -> None:
    def relabel(payload: dict[str, Any]) -> None:
        payload["pull_request"]["labels"] = [{"name": "ai-generated"}]
        payload["pull_request"]["body"] = "No trailers here."

    event = only_event(
        github.parse(delivery("pull_request", edited("pull_request.merged.json", relabel)), {})
    )
    assert event["ai"] == {"assisted": True, "level": "generated"}


def test_trailer_email_of_a_configured_agent_marks_ai_assistance() -> None:
    def trailer(payload: dict[str, Any]) -> None:
        payload["pull_request"]["labels"] = []
        payload["pull_request"]["body"] = "Fix.\n\nCo-authored-by: Bot <bot@agents.example.com>"

    body = edited("pull_request.merged.json", trailer)
    config = {"ai_agents": ["bot@agents.example.com"]}
    event = only_event(github.parse(delivery("pull_request", body), config))
    assert event["ai"]["agent"] == "bot@agents.example.com"


def test_human_co_author_does_not_mark_ai_assistance() -> None:
    def human(payload: dict[str, Any]) -> None:
        payload["pull_request"]["labels"] = []
        payload["pull_request"]["body"] = (
            "Pairing.\n\nCo-authored-by: Claudette Ng <cn@example.com>"
        )

    event = only_event(
        github.parse(delivery("pull_request", edited("pull_request.merged.json", human)), {})
    )
    assert "ai" not in event


def test_pull_request_closed_without_merge_is_ignored() -> None:
    mapped = github.parse(delivery("pull_request", body_of("pull_request.closed.json")), {})
    assert mapped.ignored == "pull request closed without merge"
    assert mapped.events == []


def test_opened_pull_request_is_ignored() -> None:
    body = edited("pull_request.closed.json", lambda p: p.update(action="opened"))
    assert github.parse(delivery("pull_request", body), {}).ignored is not None


def test_merged_pull_request_without_merged_at_is_a_mapping_error() -> None:
    body = edited("pull_request.merged.json", lambda p: p["pull_request"].pop("merged_at"))
    with pytest.raises(MappingError, match=r"pull_request\.merged_at missing"):
        github.parse(delivery("pull_request", body), {})


def test_redelivered_merge_yields_identical_records() -> None:
    body = body_of("pull_request.merged.json")
    first = github.parse(delivery("pull_request", body), {})
    second = github.parse(delivery("pull_request", body), {})
    assert first == second


# Pushes with reverts


def test_revert_commit_in_a_push_becomes_code_reverted() -> None:
    event = only_event(github.parse(delivery("push", body_of("push.revert.json")), {}))
    assert event["type"] == "code.reverted"
    assert event["refs"] == {
        "commit": ["c4295bd74fb0f4fda03689c3df3f2803b658fd85"],
        "pr": ["Codertocat/Hello-World#2"],
    }
    assert event["occurred_at"] == "2019-05-15T15:02:11Z"
    assert event["actor"] == "21031067+Codertocat@users.noreply.github.com"


def test_revert_ids_are_stable_and_distinct_per_reverting_commit() -> None:
    def two_reverts(payload: dict[str, Any]) -> None:
        second = dict(payload["commits"][0])
        second["id"] = "0" * 39 + "1"
        second["message"] = 'Revert "Other"\n\nThis reverts commit ' + "a" * 40 + "."
        payload["commits"].append(second)

    body = edited("push.revert.json", two_reverts)
    mapped = github.parse(delivery("push", body), {})
    ids = [event["id"] for event in mapped.events]
    assert len(set(ids)) == 2
    assert ids == [event["id"] for event in github.parse(delivery("push", body), {}).events]
    assert all(i.startswith(DELIVERY_ID + ":revert:") for i in ids)


def test_push_without_reverts_is_ignored() -> None:
    def ordinary(payload: dict[str, Any]) -> None:
        payload["commits"][0]["message"] = "Update README"

    mapped = github.parse(delivery("push", edited("push.revert.json", ordinary)), {})
    assert mapped.ignored == "push without reverts"


def test_push_commit_without_message_is_a_mapping_error() -> None:
    body = edited("push.revert.json", lambda p: p["commits"][0].pop("message"))
    with pytest.raises(MappingError, match=r"commits\[0\]\.message missing"):
        github.parse(delivery("push", body), {})


# Deployments


def test_successful_deployment_status_becomes_deploy_succeeded() -> None:
    event = only_event(
        github.parse(delivery("deployment_status", body_of("deployment_status.success.json")), {})
    )
    assert event["type"] == "deploy.succeeded"
    assert event["refs"] == {
        "deploy": ["145988746"],
        "commit": ["f95f852bd8fca8fcc58a9a2d6c842781e32a215e"],
    }
    assert event["attributes"]["environment"] == "production"
    assert event["occurred_at"] == "2019-05-15T15:20:55Z"


def test_failed_deployment_status_becomes_deploy_failed() -> None:
    body = body_of("deployment_status.failure.json")
    event = only_event(github.parse(delivery("deployment_status", body), {}))
    assert event["type"] == "deploy.failed"


def test_in_progress_deployment_status_is_ignored() -> None:
    def in_progress(payload: dict[str, Any]) -> None:
        payload["deployment_status"]["state"] = "in_progress"

    body = edited("deployment_status.success.json", in_progress)
    assert github.parse(delivery("deployment_status", body), {}).ignored is not None


def test_rollback_deployment_becomes_deploy_rolled_back_naming_what_it_undid() -> None:
    body = body_of("deployment_status.rollback.json")
    event = only_event(github.parse(delivery("deployment_status", body), {}))
    assert event["type"] == "deploy.rolled_back"
    assert event["refs"] == {
        "deploy": ["145988801", "145988746"],
        "commit": ["c4295bd74fb0f4fda03689c3df3f2803b658fd85"],
    }
    # The restored (good) commit must not become a ref, or the rollback would void it.
    assert event["attributes"]["target_sha"] == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"


def test_description_naming_a_rolled_back_deploy_marks_a_rollback() -> None:
    def described(payload: dict[str, Any]) -> None:
        payload["deployment_status"]["description"] = "Rollback of deploy 4711"

    body = edited("deployment_status.success.json", described)
    event = only_event(github.parse(delivery("deployment_status", body), {}))
    assert event["type"] == "deploy.rolled_back"
    assert event["refs"]["deploy"] == ["145988746", "4711"]


# Everything else


# Reviews and bugs


def test_review_request_becomes_code_review_requested_at_the_prs_update() -> None:
    event = only_event(
        github.parse(delivery("pull_request", body_of("pull_request.review_requested.json")), {})
    )
    assert event == {
        "id": DELIVERY_ID,
        "type": "code.review.requested",
        "occurred_at": "2019-05-15T15:20:33Z",
        "subject": "github:Codertocat/Hello-World#2",
        "refs": {
            "pr": ["Codertocat/Hello-World#2"],
            "commit": ["ec26c3e57ca3a959ca5aad62de7213c562f8c821"],
        },
        "attributes": {"reviewer": "octocat"},
        "actor": "github:Codertocat",
    }


def test_submitted_review_becomes_code_review_submitted_with_its_state() -> None:
    for name, state, reviewer in [
        ("pull_request_review.submitted.json", "commented", "Codertocat"),
        ("pull_request_review.approved.json", "approved", "octocat"),
    ]:
        event = only_event(github.parse(delivery("pull_request_review", body_of(name)), {}))
        assert event["type"] == "code.review.submitted"
        assert event["attributes"] == {"reviewer": reviewer, "state": state}
        assert event["refs"]["pr"] == ["Codertocat/Hello-World#2"]
        assert event["actor"] == f"github:{reviewer}"


def test_dismissed_review_is_ignored() -> None:
    body = edited("pull_request_review.approved.json", lambda p: p.update(action="dismissed"))
    assert github.parse(delivery("pull_request_review", body), {}).ignored


def test_bug_labelled_issue_naming_a_pr_becomes_issue_bug_reported() -> None:
    event = only_event(github.parse(delivery("issues", body_of("issues.labeled.bug.json")), {}))
    assert event["type"] == "issue.bug_reported"
    assert event["refs"] == {
        "issue": ["github:Codertocat/Hello-World#1"],
        "pr": ["Codertocat/Hello-World#2"],
    }
    assert event["occurred_at"] == "2019-05-15T15:20:18Z"
    assert event["attributes"]["labels"] == ["bug"]


def test_issue_names_changes_by_url_by_repo_and_by_commit() -> None:
    text = (
        "Broken since https://github.com/acme/web/pull/7 and acme/api#9;"
        " see commit 4B8D0A1F and https://github.com/acme/api/commit/9f1c2e7aa."
    )
    assert github.changes_named(text, "acme/api") == {
        "pr": ["acme/web#7", "acme/api#9"],
        "commit": ["9f1c2e7aa", "4b8d0a1f"],
    }


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["issue"].update(labels=[{"name": "enhancement"}]),
        lambda p: p["issue"].update(body="No idea where this came from."),
        lambda p: p.update(action="closed"),
    ],
    ids=["not-a-bug", "names-no-change", "closed"],
)
def test_issues_that_are_not_bugs_naming_a_change_are_ignored(change: Any) -> None:
    body = edited("issues.labeled.bug.json", change)
    assert github.parse(delivery("issues", body), {}).ignored


def test_bug_labels_come_from_the_source_config() -> None:
    body = edited(
        "issues.labeled.bug.json", lambda p: p["issue"].update(labels=[{"name": "defect"}])
    )
    assert github.parse(delivery("issues", body), {"bug_labels": ["defect"]}).events


def test_ping_is_ignored() -> None:
    assert github.parse(delivery("ping", body_of("ping.json")), {}).ignored == "ping"


def test_unknown_event_kind_is_ignored() -> None:
    assert github.parse(delivery("star", b"{}"), {}).ignored == "event star not used"


def test_missing_delivery_id_is_a_mapping_error() -> None:
    body = body_of("pull_request.merged.json")
    headers = {"X-GitHub-Event": "pull_request"}
    with pytest.raises(MappingError, match="X-GitHub-Delivery"):
        github.parse(Delivery(body=body, headers=headers), {})


JSON_VALUES = json_values()


def _mutate(payload: Any, path: list[str], value: Any) -> Any:
    node = payload
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return payload
        node = node[key]
    if isinstance(node, dict):
        node[path[-1]] = value
    return payload


FIELD_PATHS = [
    ["action"],
    ["pull_request"],
    ["pull_request", "merged"],
    ["pull_request", "merged_at"],
    ["pull_request", "labels"],
    ["pull_request", "body"],
    ["pull_request", "number"],
    ["pull_request", "base"],
    ["repository"],
    ["repository", "full_name"],
    ["commits"],
    ["deployment"],
    ["deployment", "payload"],
    ["deployment_status", "state"],
    ["deployment_status", "created_at"],
]
FIXTURE_EVENTS = [
    ("pull_request", "pull_request.merged.json"),
    ("pull_request", "pull_request.review_requested.json"),
    ("pull_request_review", "pull_request_review.approved.json"),
    ("issues", "issues.labeled.bug.json"),
    ("push", "push.revert.json"),
    ("deployment_status", "deployment_status.rollback.json"),
]


@settings(max_examples=200, deadline=None)
@given(
    choice=st.sampled_from(FIXTURE_EVENTS),
    path=st.sampled_from(FIELD_PATHS),
    value=JSON_VALUES,
)
def test_mutated_payloads_map_or_raise_mapping_error_only(
    choice: tuple[str, str], path: list[str], value: Any
) -> None:
    event, name = choice
    payload = _mutate(json.loads(body_of(name)), path, value)
    maps_or_refuses(lambda: github.parse(delivery(event, json.dumps(payload).encode()), {}))
