"""Sending the demo company through the product's own front door.

People, teams, memberships and identities are the company's directory, seeded
with the ledger's models as known since everyone joined. Everything else goes
over HTTP, in process, through Django's test ``Client`` (URL routing, middleware,
authentication and the real views, no server): work events and token usage in
batches to ``POST /api/v1/events`` and ``POST /api/v1/token-usage`` with a demo
API key, Claude Code's log exports to ``POST /v1/logs`` (OTLP/HTTP, protobuf) with
a key of its own, and vendor deliveries to ``POST /api/v1/hooks/<vendor>/<source>``
signed as each vendor signs them. A second run is answered ``duplicate`` throughout
(an OTLP export answers only what it rejected: a retried export rejects nothing).
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
from django.conf import settings
from django.db import connections, transaction
from django.test import Client
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from tqdm import tqdm

from awu.demo import payloads
from awu.demo.company import Company, Hook, anchor_for
from integrations.otlp.ingest import OTLP_KIND, otlp_source_for_key
from integrations.webhooks.registry import load_vendors
from ledger import auth, clock
from ledger import secrets as source_secrets
from ledger.models import ApiKey, Identity, Membership, Person, Source, Team

SOURCE_SLUG = "acme"
WEBHOOK_VENDORS = ("github", "pagerduty", "docusign", "hubspot", "zendesk")
# The GitHub demo source remembers when the demo history ends, so a re-run on a
# later day regenerates the same records (and is answered duplicate), and which
# source holds the demo's Claude Code exports.
ANCHOR_KEY = "demo_anchor"
CLAUDE_CODE_SOURCE_KEY = "demo_claude_code_source"
CLAUDE_CODE_KEY_NAME = "demo claude code"
# Log records per export: OpenTelemetry's default batch for log exporters.
EXPORT_BATCH = 512


@dataclass
class Tally:
    """What the ingest answered, per record kind and status."""

    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def count(self, kind: str, status: str, n: int = 1) -> None:
        self.statuses[f"{kind} {status}"] += n


def demo_anchor(*, now: datetime) -> datetime:
    """Where the demo history ends: remembered from a previous run, else today 00:00 UTC."""
    source = Source.objects.filter(kind="github", slug=SOURCE_SLUG).first()
    stored = (source.config or {}).get(ANCHOR_KEY) if source is not None else None
    if isinstance(stored, str):
        return datetime.fromisoformat(stored.replace("Z", "+00:00")).astimezone(UTC)
    return anchor_for(now)


@transaction.atomic
def organisation_install(*, company: Company) -> dict[str, int]:
    """Teams, people, memberships and identity aliases. Idempotent: returns what was new."""
    made: Counter[str] = Counter()
    teams = {}
    for team_spec in company.teams:
        team, created = Team.objects.get_or_create(
            slug=team_spec.slug, defaults={"name": team_spec.name, "domain": team_spec.domain}
        )
        teams[team_spec.slug] = team
        made["teams"] += created
    # Everyone joined before the history starts, so every record has a team.
    joined = company.start - timedelta(days=30)
    for spec in company.people:
        person, created = Person.objects.get_or_create(
            email=spec.email, defaults={"name": spec.name}
        )
        made["people"] += created
        # The company's directory, as known since everyone joined.
        seed = {"recorded_at": joined, "origin": Membership.Origin.SYSTEM}
        if not Membership.objects.filter(person=person, team=teams[spec.team]).exists():
            Membership.objects.create(
                person=person, team=teams[spec.team], valid_from=joined, **seed
            )
            made["memberships"] += 1
        for alias in spec.aliases():
            if not Identity.objects.filter(value=alias).exists():
                Identity.objects.create(value=alias, person=person, **seed)
                made["identities"] += 1
    return dict(made)


def webhook_sources_install(*, anchor: datetime) -> dict[str, str]:
    """The demo's vendor sources, each with a signing secret; vendor -> live secret.

    An existing source keeps its secret (the demo signs with it) so a re-run
    rotates nothing.
    """
    now = clock.now()
    live: dict[str, str] = {}
    for vendor in WEBHOOK_VENDORS:
        source, _ = Source.objects.get_or_create(
            kind=vendor, slug=SOURCE_SLUG, defaults={"name": f"Acme {vendor} (demo)"}
        )
        try:
            found = source_secrets.live_secrets(source, now=now)
        except source_secrets.UnreadableSecret:
            found = []  # set under another key: the demo's own source takes a new one
        if not found:
            source_secrets.source_set_secret(source=source, secret=secrets.token_urlsafe(32))
            found = source_secrets.live_secrets(source, now=now)
        live[vendor] = found[0]
        if vendor == "github" and ANCHOR_KEY not in (source.config or {}):
            source.config = {**(source.config or {}), ANCHOR_KEY: anchor.isoformat()}
            source.save(update_fields=["config"])
    return live


def claude_code_key_install() -> tuple[ApiKey, str]:
    """A ``usage:write`` key for the demo's Claude Code fleet, and the key itself.

    The ledger keeps each key's OTLP exports under a source of the key's own (slug
    ``otlp-key-<key id>``, docs/integrations/claude-code.md). Each run makes a new key
    and revokes it after, so the fleet's source from an earlier run is moved to the
    new key, as an operator does when rotating a fleet's key: a re-run's exports then
    land where the first run's did and are retries. Needs ``webhook_sources_install``
    first (the GitHub source remembers the fleet's source).
    """
    row, key = auth.api_key_create(name=CLAUDE_CODE_KEY_NAME, scopes=[ApiKey.Scope.USAGE_WRITE])
    github = Source.objects.get(kind="github", slug=SOURCE_SLUG)
    remembered = (github.config or {}).get(CLAUDE_CODE_SOURCE_KEY)
    source = Source.objects.filter(pk=remembered, kind=OTLP_KIND).first() if remembered else None
    if source is None:
        source = otlp_source_for_key(key_id=row.pk, key_name=row.name)
        github.config = {**(github.config or {}), CLAUDE_CODE_SOURCE_KEY: source.pk}
        github.save(update_fields=["config"])
    else:
        source.slug = f"otlp-key-{row.pk}"
        source.save(update_fields=["slug"])
    return row, key


class _Sender:
    """Posts over Django's in-process client, as a tool on localhost would."""

    def __init__(self, key: str, secrets_by_vendor: dict[str, str]) -> None:
        self.host = next(
            (h for h in settings.ALLOWED_HOSTS if h and "*" not in h and not h.startswith(".")),
            "localhost",
        )
        self.secure = bool(settings.SECURE_SSL_REDIRECT)
        self.key = key
        self.secrets = secrets_by_vendor
        self._local = threading.local()

    def _post(
        self,
        path: str,
        body: bytes,
        headers: dict[str, str],
        content_type: str = "application/json",
    ) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = Client(HTTP_HOST=self.host)
        return client.post(
            path, data=body, content_type=content_type, secure=self.secure, headers=headers
        )

    def batch(self, path: str, items: Sequence[dict[str, Any]], kind: str, tally: Tally) -> None:
        response = self._post(
            path, orjson.dumps(list(items)), {"Authorization": f"Bearer {self.key}"}
        )
        tally.requests += 1
        if response.status_code not in (200, 201):
            tally.count(kind, "refused", len(items))
            tally.problems.append(f"{path}: {response.status_code} {response.content[:300]!r}")
            return
        answer = orjson.loads(response.content)
        for status, n in answer["counts"].items():
            tally.count(kind, status, n)
        for result in answer["results"]:
            if result["status"] in ("invalid", "conflict") and len(tally.problems) < 20:
                tally.problems.append(f"{kind} {items[result['index']]['id']}: {result}")

    def logs(self, key: str, records: Sequence[dict[str, Any]], tally: Tally) -> None:
        """One OTLP log export, as Claude Code's exporter posts it."""
        response = self._post(
            "/v1/logs",
            payloads.claude_code_logs_export(records),
            {"Authorization": f"Bearer {key}"},
            content_type="application/x-protobuf",
        )
        tally.requests += 1
        if response.status_code != 200:
            tally.count("log record", "refused", len(records))
            tally.problems.append(f"/v1/logs: {response.status_code} {response.content[:300]!r}")
            return
        answer = logs_service_pb2.ExportLogsServiceResponse.FromString(response.content)
        rejected = answer.partial_success.rejected_log_records
        tally.count("log record", "accepted", len(records) - rejected)
        if rejected:
            tally.count("log record", "rejected", rejected)
            tally.problems.append(f"/v1/logs: {answer.partial_success.error_message}")

    def hook(self, hook: Hook, tally: Tally) -> None:
        body = orjson.dumps(hook.body)
        path = f"/api/v1/hooks/{hook.vendor}/{SOURCE_SLUG}"
        url = f"{'https' if self.secure else 'http'}://{self.host}{path}"
        signed = load_vendors()[hook.vendor].sign(
            body, self.secrets[hook.vendor], now=clock.now(), url=url
        )
        headers = dict(signed.headers)
        if signed.query:
            path = f"{path}?{signed.query}"
        if hook.kind:
            headers["X-GitHub-Event"] = hook.kind
            headers["X-GitHub-Delivery"] = hook.delivery_id
        response = self._post(path, body, headers)
        tally.requests += 1
        answer = orjson.loads(response.content) if response.content else {}
        if response.status_code != 200 or answer.get("status") == "dead_letter":
            tally.count("delivery", "refused")
            tally.problems.append(f"{path}: {response.status_code} {response.content[:300]!r}")
            return
        if answer.get("status") == "ignored":
            tally.count("delivery", "ignored")
            return
        for result in answer.get("events", []):
            tally.count("event", result["status"])


def _chunks(items: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _exports(records: Sequence[dict[str, Any]]) -> list[Sequence[dict[str, Any]]]:
    """Each person's records in exports of up to EXPORT_BATCH, as their Claude Code
    batches them (``records`` are in actor order)."""
    out: list[Sequence[dict[str, Any]]] = []
    for _, group in itertools.groupby(records, key=lambda record: record["actor"]):
        out.extend(_chunks(list(group), EXPORT_BATCH))
    return out


def _requests_send(
    requests: Sequence[Callable[[Tally], None]], tally: Tally, bar: Any, workers: int
) -> None:
    """Make ``requests`` (each posts one delivery or export and counts its answer)
    from ``workers`` threads, each with its own database connection: a request waits
    mostly on the database, so a few in flight at once keep the first run short.
    Arrival order does not change the scores."""
    if workers <= 1:
        for request in requests:
            request(tally)
            bar.update()
        return
    lock = threading.Lock()

    def send(part: Sequence[Callable[[Tally], None]]) -> None:
        try:
            for request in part:
                own = Tally()
                request(own)
                with lock:
                    tally.requests += own.requests
                    tally.statuses.update(own.statuses)
                    tally.problems.extend(own.problems)
                    bar.update()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in [pool.submit(send, requests[n::workers]) for n in range(workers)]:
            done.result()


def company_deliver(*, company: Company, progress: bool = True, workers: int = 1) -> Tally:
    """Send the company's events, usage, Claude Code telemetry and vendor deliveries;
    returns the answers.

    Two demo API keys are made for the run (``demo seed`` with events:write and
    usage:write; ``demo claude code`` with usage:write, for the OTLP exports) and
    revoked at its end, so no live credential is left behind. ``workers`` > 1 sends
    the deliveries from that many threads, which needs the organisation and sources
    committed first (not inside a caller's transaction).
    """
    batch_size = min(1000, int(settings.AWU_MAX_BATCH_ITEMS))
    live = webhook_sources_install(anchor=company.anchor)
    row, key = auth.api_key_create(
        name="demo seed", scopes=[ApiKey.Scope.EVENTS_WRITE, ApiKey.Scope.USAGE_WRITE]
    )
    fleet_row, fleet_key = claude_code_key_install()
    sender = _Sender(key, live)
    tally = Tally()
    event_batches = list(_chunks(company.events, batch_size))
    usage_batches = list(_chunks(company.usage, batch_size))
    exports = _exports(company.telemetry)
    total = len(event_batches) + len(usage_batches) + len(exports) + len(company.hooks)
    try:
        with tqdm(total=total, desc="Seeding the demo", unit="req", disable=not progress) as bar:
            for items in event_batches:
                sender.batch("/api/v1/events", items, "event", tally)
                bar.update()
            for items in usage_batches:
                sender.batch("/api/v1/token-usage", items, "usage", tally)
                bar.update()
            requests = [partial(sender.logs, fleet_key, records) for records in exports]
            requests += [partial(sender.hook, hook) for hook in company.hooks]
            _requests_send(requests, tally, bar, workers)
    finally:
        auth.api_key_revoke(key_id=row.pk)
        auth.api_key_revoke(key_id=fleet_row.pk)
    return tally
