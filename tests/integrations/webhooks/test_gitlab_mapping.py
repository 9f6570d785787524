"""GitLab webhooks: token check and mapping to canonical events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.webhooks import gitlab
from integrations.webhooks.base import Delivery, MappingError
from tests.integrations.webhooks.mapping import Recorded, json_values, maps_or_refuses, only_event

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gitlab"
RECORDED = Recorded(FIXTURES)
body_of = RECORDED.body
edited = RECORDED.edited
SECRET = "gl-hook-token-1"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
IDEMPOTENCY_KEY = "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"
EVENT_UUID = "13792a34-cac6-4fda-95a8-c58e00a3954e"


def delivery(event: str, body: bytes, *, token: str = SECRET, **extra: str) -> Delivery:
    headers = {
        "X-Gitlab-Event": event,
        "X-Gitlab-Token": token,
        "Idempotency-Key": IDEMPOTENCY_KEY,
        "X-Gitlab-Event-UUID": EVENT_UUID,
        **extra,
    }
    return Delivery(body=body, headers=headers)


def test_matching_token_is_accepted() -> None:
    gitlab.verify(delivery("Push Hook", b"{}"), [SECRET], NOW)


def test_merged_merge_request_becomes_code_pr_merged() -> None:
    body = body_of("merge_request.merge.json")
    event = only_event(gitlab.parse(delivery("Merge Request Hook", body), {}))
    assert event["type"] == "code.pr.merged"
    assert event["id"] == IDEMPOTENCY_KEY
    assert event["subject"] == "gitlab:gitlabhq/gitlab-test!1"
    assert event["occurred_at"] == "2013-12-04T09:12:05Z"
    assert event["actor"] == "admin@example.com"
    assert event["refs"] == {
        "pr": ["gitlabhq/gitlab-test!1"],
        "commit": [
            "8d4e2f5a9c1b3e7d6f0a2b4c6d8e0f1a3b5c7d9e",
            "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        ],
    }
    attributes = event["attributes"]
    assert (attributes["base_branch"], attributes["default_branch"]) == ("master", "master")
    assert attributes["draft"] is False
    assert attributes["merged"] is True
    assert attributes["labels"] == ["API"]


def test_agent_trailer_in_description_marks_ai_assistance() -> None:
    body = body_of("merge_request.merge.json")
    event = only_event(gitlab.parse(delivery("Merge Request Hook", body), {}))
    assert event["ai"]["agent"] == "claude"


def test_merge_by_someone_else_is_credited_to_the_author_id() -> None:
    body = edited("merge_request.merge.json", lambda p: p["object_attributes"].update(author_id=51))
    event = only_event(gitlab.parse(delivery("Merge Request Hook", body), {}))
    assert event["actor"] == "gitlab:id:51"


def test_opened_merge_request_requests_reviews_of_its_reviewers() -> None:
    mapped = gitlab.parse(delivery("Merge Request Hook", body_of("merge_request.open.json")), {})
    event = only_event(mapped)
    assert (event["type"], event["attributes"]) == ("code.review.requested", {"reviewer": "user1"})


def test_opened_merge_request_without_reviewers_is_ignored() -> None:
    body = edited("merge_request.open.json", lambda p: p.update(reviewers=[]))
    assert gitlab.parse(delivery("Merge Request Hook", body), {}).ignored == "no reviewer added"


def test_reviewers_added_by_an_update_are_requested_at_the_update() -> None:
    body = body_of("merge_request.reviewers.json")
    event = only_event(gitlab.parse(delivery("Merge Request Hook", body), {}))
    assert event["type"] == "code.review.requested"
    assert event["refs"]["pr"] == ["gitlabhq/gitlab-test!1"]
    assert event["attributes"] == {"reviewer": "user1"}
    assert event["id"] == f"{IDEMPOTENCY_KEY}:review-requested:user1"


def test_an_update_that_changes_no_reviewer_is_ignored() -> None:
    body = edited("merge_request.reviewers.json", lambda p: p.pop("changes"))
    assert gitlab.parse(delivery("Merge Request Hook", body), {}).ignored


def test_approval_becomes_an_approving_review_with_one_id_for_both_hooks() -> None:
    approval = only_event(
        gitlab.parse(delivery("Merge Request Hook", body_of("merge_request.approval.json")), {})
    )
    assert approval["type"] == "code.review.submitted"
    assert approval["attributes"] == {"reviewer": "user1", "state": "approved"}
    assert approval["actor"] == "user1@example.com"
    assert approval["occurred_at"] == "2013-12-04T09:30:00Z"
    approved = edited(
        "merge_request.approval.json", lambda p: p["object_attributes"].update(action="approved")
    )
    # GitLab may send "approved" beside "approval": the same record, stored once.
    assert only_event(gitlab.parse(delivery("Merge Request Hook", approved), {})) == approval


def test_merge_without_target_branch_is_a_mapping_error() -> None:
    body = edited("merge_request.merge.json", lambda p: p["object_attributes"].pop("target_branch"))
    with pytest.raises(MappingError, match="target_branch missing"):
        gitlab.parse(delivery("Merge Request Hook", body), {})


def test_successful_deployment_becomes_deploy_succeeded_with_full_sha() -> None:
    body = body_of("deployment.success.json")
    event = only_event(gitlab.parse(delivery("Deployment Hook", body), {}))
    assert event["type"] == "deploy.succeeded"
    assert event["refs"] == {
        "deploy": ["15"],
        "commit": ["279484c09fbe69ededfced8c1bb6e6d24616b468"],
    }
    assert event["occurred_at"] == "2021-04-28T19:50:00Z"
    assert event["attributes"]["environment"] == "staging"


def test_failed_deployment_becomes_deploy_failed() -> None:
    body = body_of("deployment.failed.json")
    assert only_event(gitlab.parse(delivery("Deployment Hook", body), {}))["type"] == (
        "deploy.failed"
    )


def test_running_deployment_is_ignored() -> None:
    body = edited("deployment.success.json", lambda p: p.update(status="running"))
    assert gitlab.parse(delivery("Deployment Hook", body), {}).ignored is not None


def test_pipeline_events_are_ignored() -> None:
    mapped = gitlab.parse(delivery("Pipeline Hook", body_of("pipeline.json")), {})
    assert mapped.ignored is not None
    assert mapped.events == []


def test_revert_in_a_push_becomes_code_reverted_with_the_merge_request() -> None:
    event = only_event(gitlab.parse(delivery("Push Hook", body_of("push.revert.json")), {}))
    assert event["type"] == "code.reverted"
    assert event["refs"] == {
        "commit": ["da1560886d4f094c3e6c9ef40349f7d38b5d27d7"],
        "pr": ["mike/diaspora!7"],
    }
    assert event["occurred_at"] == "2012-01-04T08:02:11Z"


def test_push_without_reverts_is_ignored() -> None:
    assert gitlab.parse(delivery("Push Hook", body_of("push.json")), {}).ignored is not None


def test_unknown_event_kind_is_ignored() -> None:
    assert gitlab.parse(delivery("Wiki Page Hook", b"{}"), {}).ignored is not None


def test_redelivery_yields_identical_ids() -> None:
    body = body_of("merge_request.merge.json")
    first = gitlab.parse(delivery("Merge Request Hook", body), {})
    again = gitlab.parse(delivery("Merge Request Hook", body), {})
    assert first == again


def test_event_uuid_is_the_key_when_no_idempotency_key_is_sent() -> None:
    body = body_of("deployment.success.json")
    headers = {"X-Gitlab-Event": "Deployment Hook", "X-Gitlab-Event-UUID": EVENT_UUID}
    event = only_event(gitlab.parse(Delivery(body=body, headers=headers), {}))
    assert event["id"] == EVENT_UUID


def test_delivery_without_any_id_header_is_a_mapping_error() -> None:
    body = body_of("deployment.success.json")
    with pytest.raises(MappingError, match="Idempotency-Key"):
        gitlab.parse(Delivery(body=body, headers={"X-Gitlab-Event": "Deployment Hook"}), {})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2013-12-03T17:23:34Z", "2013-12-03T17:23:34Z"),
        ("2021-04-28 21:50:00 +0200", "2021-04-28T19:50:00Z"),
        ("2016-08-12 15:23:28 UTC", "2016-08-12T15:23:28Z"),
    ],
)
def test_each_gitlab_timestamp_form_is_normalised_to_utc(raw: str, expected: str) -> None:
    assert gitlab.utc_timestamp(raw, field="t") == expected


JSON_VALUES = json_values()
FIXTURE_EVENTS = [
    ("Merge Request Hook", "merge_request.merge.json"),
    ("Push Hook", "push.revert.json"),
    ("Deployment Hook", "deployment.success.json"),
]
FIELDS = [
    "object_attributes",
    "project",
    "user",
    "labels",
    "commits",
    "status",
    "status_changed_at",
    "commit_url",
    "deployment_id",
]


@settings(max_examples=200, deadline=None)
@given(choice=st.sampled_from(FIXTURE_EVENTS), field=st.sampled_from(FIELDS), value=JSON_VALUES)
def test_mutated_payloads_map_or_raise_mapping_error_only(
    choice: tuple[str, str], field: str, value: Any
) -> None:
    event, name = choice
    payload = json.loads(body_of(name))
    payload[field] = value
    maps_or_refuses(lambda: gitlab.parse(delivery(event, json.dumps(payload).encode()), {}))
