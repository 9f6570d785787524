"""The engineering story told only through signed vendor webhooks, scored by real workers.

Two pull requests (A and B) are merged into the default branch of a GitHub
repository and deployed to production; later a PagerDuty incident is blamed on B.
Everything reaches the ledger through ``POST /api/v1/hooks/<vendor>/<source>`` on a
real gunicorn, signed as GitHub and PagerDuty sign (HMAC-SHA256 of the exact body
bytes, computed here with the standard library, not with the product's helpers), and
is scored by a real Celery worker over the broker under test.

Payloads are the published examples in tests/fixtures/github and
tests/fixtures/pagerduty with only what the story needs changed: PR numbers, merge and
head commit SHAs, times, deployment ids, and the incident's title, which names PR B by
the attribution convention of docs/integrations/pagerduty.md (``pr: owner/repo#N``).
A GitHub deployment carries exactly one SHA (``deployment.sha``), so each PR's merge
commit is deployed by a deployment of its own.

How "30 days pass": by placing the story in the past on the wall clock, as
test_scoring_pipeline.py does, not by pinning ``AWU_NOW``. The harness deliberately
strips AWU_NOW from the web and worker environments, and a pinned clock would have to
agree across three processes and the in-test sweep; the real clock needs no such
agreement. The PRs merge about 60 days ago and deploy a day later, so their 30-day
survival windows closed about 29 days ago and the worker completes both units as soon
as it scores the deploys. The incident occurred 10 days after B's deploy (inside B's
window) but is delivered only after both units have completed, so the order is fixed
and the test proves that a late disqualifier reverses a completion (+1 then -1).
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from awu.scoring import services
from awu.scoring.models import AwuEntry, WorkUnit
from integrations.webhooks.registry import load_vendors
from ledger import auth
from ledger.models import EventOutbox, WorkEvent
from tests.e2e.checks import assert_matches_engine
from tests.e2e.conftest import ROOT, Stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GITHUB_SECRET = "gh-webhook-secret-acme"
PAGERDUTY_SECRET = "pd-signing-secret-ops"
REPO = "Codertocat/Hello-World"  # the repository of GitHub's published examples


def _fixture(vendor: str, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / vendor / name).read_text())
    return loaded


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _sha(name: str) -> str:
    """A full 40-hex commit SHA (refs link by exact value)."""
    return hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()


def _signature(vendor: str, secret: str, body: bytes) -> dict[str, str]:
    """The headers the vendor signs ``body`` with (its registry entry's ``sign``)."""
    return load_vendors()[vendor].sign(body, secret, now=datetime.now(UTC)).headers


def create_sources(stack: Stack, sources: list[tuple[str, str, str]]) -> None:
    """``manage.py create_source KIND SLUG --secret S`` for each (kind, slug, secret),
    run as an operator runs it, in the web's environment (concurrently, to save time).

    Not call_command: secrets are encrypted under a key derived from SECRET_KEY, and
    the test process's generated key differs from the one the stack's processes
    generate in their own data directory, so only a secret set under the stack's
    environment can be read back by the web when it verifies a delivery.
    """
    running = [
        (
            f"POST /api/v1/hooks/{kind}/{slug}",
            subprocess.Popen(
                [sys.executable, "manage.py", "create_source", kind, slug, f"--secret={secret}"],
                env=stack.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True,
            ),
        )
        for kind, slug, secret in sources
    ]  # fmt: skip
    for expected, proc in running:
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, output
        assert expected in output, output


# Delivering, as each vendor does it.


def _post(stack: Stack, vendor: str, slug: str, body: bytes, headers: dict[str, str]) -> Any:
    response = httpx.post(
        f"{stack.base_url}/api/v1/hooks/{vendor}/{slug}",
        content=body,
        headers={"Content-Type": "application/json", "User-Agent": f"{vendor}-e2e", **headers},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def deliver_github(stack: Stack, event: str, payload: dict[str, Any]) -> list[str]:
    """One GitHub delivery: event name, delivery GUID, ``sha256=`` HMAC of the raw body."""
    body = json.dumps(payload).encode()
    answer = _post(
        stack,
        "github",
        "acme",
        body,
        {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            **_signature("github", GITHUB_SECRET, body),
        },
    )
    return [item["status"] for item in answer.get("events", [])]


def deliver_pagerduty(stack: Stack, payload: dict[str, Any]) -> list[str]:
    """One PagerDuty V3 delivery: ``X-PagerDuty-Signature: v1=<HMAC of the raw body>``."""
    body = json.dumps(payload).encode()
    answer = _post(
        stack,
        "pagerduty",
        "ops",
        body,
        _signature("pagerduty", PAGERDUTY_SECRET, body),
    )
    return [item["status"] for item in answer.get("events", [])]


# The story's payloads, from the published examples.


def merged_pull_request(number: int, merge_sha: str, head_sha: str, at: datetime) -> dict[str, Any]:
    payload = copy.deepcopy(_fixture("github", "pull_request.merged.json"))
    pr = payload["pull_request"]
    payload["number"] = number
    pr["number"] = number
    pr["title"] = f"Change {number}"
    pr["merge_commit_sha"] = merge_sha
    pr["head"]["sha"] = head_sha
    pr["head"]["ref"] = f"change-{number}"
    pr["created_at"] = _rfc3339(at - timedelta(days=1))
    pr["updated_at"] = pr["closed_at"] = pr["merged_at"] = _rfc3339(at)
    assert payload["action"] == "closed"
    assert pr["merged"] is True
    assert pr["base"]["ref"] == payload["repository"]["default_branch"]
    return payload


def successful_deployment(deploy_id: int, sha: str, at: datetime) -> dict[str, Any]:
    payload = copy.deepcopy(_fixture("github", "deployment_status.success.json"))
    deployment, status = payload["deployment"], payload["deployment_status"]
    deployment["id"] = deploy_id
    deployment["sha"] = sha
    deployment["created_at"] = _rfc3339(at - timedelta(minutes=5))
    deployment["updated_at"] = _rfc3339(at)
    status["id"] = deploy_id * 10
    status["created_at"] = status["updated_at"] = _rfc3339(at)
    assert status["state"] == "success"
    assert status["environment"] == "production"
    return payload


def incident_triggered(incident_id: str, title: str, at: datetime) -> dict[str, Any]:
    payload = copy.deepcopy(_fixture("pagerduty", "incident.triggered.json"))
    event = payload["event"]
    event["id"] = f"01STORY{uuid.uuid4().hex[:19].upper()}"
    event["occurred_at"] = _rfc3339(at)
    event["data"]["id"] = incident_id
    event["data"]["title"] = title
    event["data"]["created_at"] = _rfc3339(at)
    assert event["event_type"] == "incident.triggered"
    return payload


# Reading the ledger back.


def durable_unit(pr_key: str) -> WorkUnit | None:
    trigger = WorkEvent.objects.filter(
        source__kind="github",
        source__slug="acme",
        type="code.pr.merged",
        refs__pr__contains=[pr_key],
    ).first()
    if trigger is None:
        return None
    return WorkUnit.objects.filter(
        trigger_event_id=trigger.pk,
        superseded_at__isnull=True,
        version__definition__key="durable-change",
    ).first()


def in_state(pr_key: str, state: str) -> WorkUnit | None:
    unit = durable_unit(pr_key)
    return unit if unit is not None and unit.state == state else None


def entries(unit: WorkUnit) -> list[Decimal]:
    return list(AwuEntry.objects.filter(unit=unit).order_by("id").values_list("delta", flat=True))


def work_units_report(stack: Stack) -> dict[str, dict[str, Any]]:
    """``GET /api/v1/work-units`` rows of the durable-change definition, by subject."""
    _, key = auth.api_key_create(name="story-reader", scopes=["reports:read"])
    response = httpx.get(
        f"{stack.base_url}/api/v1/work-units",
        params={"limit": 500},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return {
        row["subject"]: row
        for row in response.json()["results"]
        if row["definition"] == "durable-change"
    }


@pytest.mark.parametrize("broker", ["filesystem", "redis"], indirect=True)
def test_late_incident_naming_one_pr_voids_only_that_change(stack: Stack) -> None:
    create_sources(
        stack, [("github", "acme", GITHUB_SECRET), ("pagerduty", "ops", PAGERDUTY_SECRET)]
    )
    now = datetime.now(UTC).replace(microsecond=0)  # vendors send whole seconds
    merged_a = now - timedelta(days=60)
    merged_b = merged_a + timedelta(hours=2)
    pr_a, pr_b = f"{REPO}#101", f"{REPO}#102"
    merge_a, merge_b = _sha("merge of 101"), _sha("merge of 102")
    deployed_b = merged_b + timedelta(days=1)

    assert deliver_github(
        stack, "pull_request", merged_pull_request(101, merge_a, _sha("head of 101"), merged_a)
    ) == ["created"]
    assert deliver_github(
        stack, "pull_request", merged_pull_request(102, merge_b, _sha("head of 102"), merged_b)
    ) == ["created"]
    assert deliver_github(
        stack,
        "deployment_status",
        successful_deployment(5101, merge_a, merged_a + timedelta(days=1)),
    ) == ["created"]
    assert deliver_github(
        stack, "deployment_status", successful_deployment(5102, merge_b, deployed_b)
    ) == ["created"]

    # Both survival windows closed ~29 days ago: the worker completes both units.
    unit_a = wait_for(lambda: in_state(pr_a, "completed"), what="PR A's unit to complete")
    unit_b = wait_for(lambda: in_state(pr_b, "completed"), what="PR B's unit to complete")
    assert unit_b.completed_at == deployed_b + timedelta(days=30)
    assert entries(unit_a) == [Decimal(1)]
    assert entries(unit_b) == [Decimal(1)]

    # The incident happened 10 days into B's window; PagerDuty reports it only now.
    incident_at = deployed_b + timedelta(days=10)
    assert deliver_pagerduty(
        stack,
        incident_triggered("PSTORYB", f"Checkout 5xx after release pr: {pr_b}", incident_at),
    ) == ["created", "created"]  # incident.opened and incident.attributed

    voided = wait_for(lambda: in_state(pr_b, "voided"), what="the late incident to void PR B")
    wait_for(lambda: not EventOutbox.objects.exists(), what="the outbox to drain")
    attributed = WorkEvent.objects.get(source__slug="ops", type="incident.attributed")
    assert attributed.refs == {"incident": ["PSTORYB"], "pr": [pr_b]}
    assert attributed.occurred_at == incident_at
    assert attributed.pk in voided.evidence
    assert voided.reason is not None
    assert "incident.attributed" in voided.reason
    assert str(attributed.pk) in voided.reason
    assert entries(voided) == [Decimal(1), Decimal(-1)]
    assert sum(entries(voided)) == 0

    still = durable_unit(pr_a)
    assert still is not None
    assert still.state == "completed"
    assert entries(still) == [Decimal(1)]

    # The reports API tells the same story.
    rows = work_units_report(stack)
    row_a, row_b = rows[f"github:{pr_a}"], rows[f"github:{pr_b}"]
    assert row_a["state"] == "completed"
    assert [Decimal(e["delta"]) for e in row_a["entries"]] == [Decimal(1)]
    assert row_b["state"] == "voided"
    assert row_b["reason"] == voided.reason
    assert [Decimal(e["delta"]) for e in row_b["entries"]] == [Decimal(1), Decimal(-1)]
    assert {"id": attributed.pk, "type": "incident.attributed"} in row_b["evidence"]

    # And the ledger equals the pure engine over every stored event.
    settled = datetime.now(UTC)
    services.sweep(now=settled)
    assert_matches_engine(settled)


def map_service(stack: Stack, external_name: str, service: str) -> None:
    """``POST /api/v1/service-names`` as an operator does it, with an admin key."""
    _, key = auth.api_key_create(name="story-admin", scopes=["admin"])
    response = httpx.post(
        f"{stack.base_url}/api/v1/service-names",
        json={"source": "pagerduty:ops", "external_name": external_name, "service": service},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("broker", ["filesystem"], indirect=True)
def test_incident_on_the_deployed_service_blames_the_latest_deploy_by_window(
    stack: Stack,
) -> None:
    """Deploy-window attribution from published payloads: GitHub names the service
    by its repository, PagerDuty by its service id; one mapping links the two. The
    incident names no change, opens 3 hours after B's deploy (6 hours after A's),
    and arrives after both units completed: B, the latest deploy's only change, is
    voided by deploy window; A keeps its credit."""
    create_sources(
        stack, [("github", "acme", GITHUB_SECRET), ("pagerduty", "ops", PAGERDUTY_SECRET)]
    )
    map_service(stack, "PF9KMXH", REPO)  # the fixture's PagerDuty service id
    now = datetime.now(UTC).replace(microsecond=0)
    merged = now - timedelta(days=60)
    pr_a, pr_b = f"{REPO}#201", f"{REPO}#202"
    merge_a, merge_b = _sha("merge of 201"), _sha("merge of 202")
    deployed_a = merged + timedelta(days=1)
    deployed_b = deployed_a + timedelta(hours=3)
    for number, sha in ((201, merge_a), (202, merge_b)):
        payload = merged_pull_request(number, sha, _sha(f"head of {number}"), merged)
        assert deliver_github(stack, "pull_request", payload) == ["created"]
    for deploy_id, sha, at in ((5201, merge_a, deployed_a), (5202, merge_b, deployed_b)):
        payload = successful_deployment(deploy_id, sha, at)
        assert deliver_github(stack, "deployment_status", payload) == ["created"]
    wait_for(lambda: in_state(pr_a, "completed"), what="PR A's unit to complete")
    unit_b = wait_for(lambda: in_state(pr_b, "completed"), what="PR B's unit to complete")

    opened_at = deployed_b + timedelta(hours=3)
    assert deliver_pagerduty(stack, incident_triggered("PWINDOW", "Checkout 5xx", opened_at)) == [
        "created"
    ]  # incident.opened only: the title names no change

    voided = wait_for(lambda: in_state(pr_b, "voided"), what="the incident to void PR B")
    wait_for(lambda: not EventOutbox.objects.exists(), what="the outbox to drain")
    incident = WorkEvent.objects.get(source__slug="ops", type="incident.opened")
    assert incident.attributes["service_id"] == "PF9KMXH"
    assert voided.reason == f"voided by incident.opened (event {incident.pk}) via deploy-window"
    [attribution] = voided.attributions
    assert (attribution["method"], attribution["shared"]) == ("deploy-window", False)
    assert attribution["event"] == incident.pk
    assert entries(voided) == [Decimal(1), Decimal(-1)]
    assert voided.pk == unit_b.pk
    still = durable_unit(pr_a)
    assert still is not None
    assert (still.state, still.attributions) == ("completed", [])

    rows = work_units_report(stack)
    assert rows[f"github:{pr_b}"]["attributions"][0]["method"] == "deploy-window"

    settled = datetime.now(UTC)
    services.sweep(now=settled)
    assert_matches_engine(settled)
