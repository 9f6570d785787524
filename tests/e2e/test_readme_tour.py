"""README.md's "A 60-second tour", run as written against the real stack.

Every ```bash block of the section runs in bash (``set -euo pipefail``) with only
its ``KEY=`` and ``API=`` lines replaced by this stack's values. ``curl`` is
wrapped so each call's status and body are recorded; a ``# -> 201 {...}``
comment is checked against the call before it, and a ``# (same command) -> ...``
comment runs that call again first, as the reader would. Then the promises of
the prose: the signed contract becomes a completed AWU within seconds, the
token usage is priced from the price book, the tour's own listings show the
tour's event, usage and unit, and the efficiency report counts the AWU and the
spend and answers AWUs per dollar for the spend. If the README's tour stops
working, this test fails.

The reader runs the tour after ``./run up`` seeded the demo company, so the tour
runs on a ledger that already holds more signed contracts, and units made of
them, than a page of a listing shows. They are stored and scored here, through
the ingest path and the worker's code, which is much cheaper than the whole demo.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
import pytest

from awu.scoring import services
from awu.scoring.models import WorkUnit
from ledger import auth, clock
from ledger.ingest import events_ingest, usage_ingest
from ledger.models import Identity, Membership, Person, Team
from ledger.pricing.book import install_published_prices
from ledger.query import DEFAULT_LIMIT
from tests.e2e.conftest import Stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## A 60-second tour"
ASSIGNMENT = re.compile(r"^\s*(KEY|API)=")
PROMISE = re.compile(r"^\s*#.*->\s*(\d{3})\b(.*)$")
SAME_COMMAND = "(same command)"
# The README says "within a second"; the margin absorbs a loaded CI machine.
SCORED_WITHIN = 10.0
# More than a page of each listing, all stored before the tour.
OLDER_RECORDS = DEFAULT_LIMIT + 20

# Defined before the README's lines: records every call, prints what the reader sees.
PRELUDE = r"""
set -euo pipefail
__n=0
curl() {
  __last=("$@")
  __n=$((__n + 1))
  printf '%s\n' "$*" > "$TOUR_CALLS/$__n.args"
  command curl --show-error -o "$TOUR_CALLS/$__n.body" -w '%{http_code}' "$@" \
    > "$TOUR_CALLS/$__n.status"
  cat "$TOUR_CALLS/$__n.body"
  echo
}
__promise() { echo "$__n" > "$TOUR_CALLS/promise-$1"; }
"""


def tour_blocks(text: str) -> list[str]:
    """Every ```bash block of the tour section, in order."""
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    return re.findall(r"^```bash\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Promise:
    line: str
    status: int
    results: list[str]  # the per-item statuses named in the comment, in order
    again: bool  # "(same command)": the reader runs the previous call again


def tour_script(blocks: list[str], *, key: str, api: str) -> tuple[str, list[Promise]]:
    """The blocks as one bash script with KEY/API substituted and promise markers."""
    lines: list[str] = []
    promises: list[Promise] = []
    assigned: set[str] = set()
    in_quote = continued = False
    for block in blocks:
        for line in block.splitlines():
            is_comment = line.lstrip().startswith("#") and not in_quote and not continued
            if is_comment:
                match = PROMISE.match(line)
                if match:
                    promise = Promise(
                        line=line.strip(),
                        status=int(match.group(1)),
                        results=re.findall(r'"status"\s*:\s*"(\w+)"', match.group(2)),
                        again=SAME_COMMAND in line,
                    )
                    if promise.again:
                        lines.append('curl "${__last[@]}"')
                    lines.append(f"__promise {len(promises)}")
                    promises.append(promise)
                lines.append(line)
                continue
            assignment = ASSIGNMENT.match(line) if not in_quote and not continued else None
            if assignment:
                name = assignment.group(1)
                assigned.add(name)
                lines.append(f"{name}={shlex.quote(key if name == 'KEY' else api)}")
                continue
            lines.append(line)
            in_quote ^= line.count("'") % 2 == 1
            continued = line.rstrip().endswith("\\")
    assert assigned == {"KEY", "API"}, f"the tour no longer sets KEY= and API= ({assigned})"
    return PRELUDE + "\n".join(lines) + "\n", promises


@dataclass(frozen=True)
class Call:
    number: int
    args: str
    status: int
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


def recorded_calls(folder: Path) -> list[Call]:
    calls = []
    number = 1
    while (folder / f"{number}.status").exists():
        calls.append(
            Call(
                number=number,
                args=(folder / f"{number}.args").read_text().strip(),
                status=int((folder / f"{number}.status").read_text() or 0),
                body=(folder / f"{number}.body").read_bytes(),
            )
        )
        number += 1
    return calls


def run_tour(stack: Stack, tmp_path: Path) -> tuple[list[Call], list[Promise], dict[int, Call]]:
    _, key = auth.api_key_create(name="the admin API key", scopes=["admin"])
    script, promises = tour_script(tour_blocks(README.read_text()), key=key, api=stack.base_url)
    calls_dir = tmp_path / "tour-calls"
    calls_dir.mkdir()
    done = subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "TOUR_CALLS": str(calls_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    calls = recorded_calls(calls_dir)
    assert done.returncode == 0, (
        f"a tour command failed ({done.returncode}):\n{done.stderr}\n{done.stdout}\n{stack.tail()}"
    )
    checked: dict[int, Call] = {}
    for index, promise in enumerate(promises):
        number = int((calls_dir / f"promise-{index}").read_text())
        assert number > 0, f"{promise.line!r} follows no command"
        checked[index] = calls[number - 1]
    return calls, promises, checked


def curl_available() -> None:
    if shutil.which("curl") is None or shutil.which("bash") is None:
        reason = "the README tour needs curl and bash"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def older_ledger(count: int = OLDER_RECORDS) -> None:
    """Signed contracts of a legal team, their units and some token usage, stored
    and scored before the tour as the demo company's are."""
    legal = Team.objects.create(slug="legal", name="Legal", domain="legal")
    counsel = Person.objects.create(name="Counsel", email="counsel@example.com")
    Identity.objects.create(value="counsel@example.com", person=counsel)
    Membership.objects.create(
        person=counsel, team=legal, valid_from=datetime(2020, 1, 1, tzinfo=UTC)
    )
    start = datetime(2026, 10, 1, tzinfo=UTC)
    at = [(start + timedelta(minutes=10 * i)).isoformat() for i in range(count)]
    stored = events_ingest(
        items=[
            {
                "source": "docusign-older",
                "id": f"envelope-older-{i}",
                "type": "contract.signed",
                "occurred_at": at[i],
                "actor": "counsel@example.com",
                "refs": {"envelope": [f"older-{i}"]},
            }
            for i in range(count)
        ],
        now=clock.now(),
    )
    spent = usage_ingest(
        items=[
            {
                "source": "gateway-older",
                "id": f"req-older-{i}",
                "occurred_at": at[i],
                "actor": "counsel@example.com",
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "input_tokens": 1000,
                "output_tokens": 100,
            }
            for i in range(count)
        ],
        now=clock.now(),
    )
    assert {r.status for r in [*stored, *spent]} == {"created"}
    services.outbox_drain(clock=clock.now)
    assert WorkUnit.objects.filter(state="completed").count() == count


def get(stack: Stack, key: str, path: str, **params: str) -> Any:
    response = httpx.get(
        f"{stack.base_url}{path}",
        params=params,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("broker", ["filesystem"], indirect=True)
def test_the_readme_tour_works_as_written(stack: Stack, tmp_path: Path, settings: Any) -> None:
    curl_available()
    # What `./run up` installs before the reader starts the tour.
    install_published_prices()
    # This process scores the older records itself; the stack's worker needs no wake-up.
    settings.AWU_OUTBOX_WAKE_TASK = ""
    older_ledger()

    calls, promises, checked = run_tour(stack, tmp_path)

    failed = [f"{c.args} -> {c.status} {c.body[:300]!r}" for c in calls if c.status >= 400]
    assert not failed, "tour commands answered an error:\n" + "\n".join(failed)
    assert promises, "the tour promises no answer any more"
    for index, promise in enumerate(promises):
        call = checked[index]
        assert call.status == promise.status, (promise.line, call.status, call.body)
        if promise.results:
            statuses = [r["status"] for r in call.json()["results"]]
            assert statuses == promise.results, (promise.line, call.body)

    reader_key = auth.api_key_create(name="test reader", scopes=["reports:read"])[1]
    contract = [c for c in calls if '"type": "contract.signed"' in c.args]
    assert contract, "the tour no longer posts a signed contract"
    event_id = contract[0].json()["results"][0]["id"]
    # A duplicate answers with the id the first post stored.
    repeated = [c for c in contract[1:] if c.args == contract[0].args]
    assert all(c.json()["results"][0]["id"] == event_id for c in repeated)

    # The tour's listing of events shows the tour's event, among the older contracts.
    listings = [c for c in calls if "/api/v1/events?" in c.args]
    assert listings, "the tour no longer lists its events"
    assert event_id in [row["sequence"] for row in listings[0].json()["results"]], (
        f"the tour's event is not on the page its listing shows ({listings[0].args})"
    )

    def completed_unit() -> Any:
        return WorkUnit.objects.filter(trigger_event_id=event_id, state="completed").first()

    made = wait_for(completed_unit, timeout=SCORED_WITHIN, what="the signed contract's AWU")
    # The tour's listing of units (run again now that the unit exists, as a reader
    # would who asked a moment too early) shows it.
    unit_calls = [c for c in calls if "/api/v1/work-units" in c.args]
    assert unit_calls, "the tour no longer lists work units"
    tour_units = next(arg for arg in unit_calls[0].args.split() if "/api/v1/work-units" in arg)
    path = urlsplit(tour_units)
    listed = get(stack, reader_key, path.path, **dict(parse_qsl(path.query)))["results"]
    unit = next((u for u in listed if u["id"] == made.pk), None)
    assert unit is not None, f"the tour's unit is not on the page {tour_units} shows"
    assert unit["definition"] == "contract-signed"
    assert unit["units"] == "1.000000"

    usage = [c for c in calls if "/api/v1/token-usage?" in c.args]
    assert usage, "the tour no longer lists token usage"
    [record] = [r for r in usage[0].json()["results"] if r["source"] == "tour"]
    assert record["cost_source"] == "computed", record
    assert record["cost_usd"] is not None

    report_calls = [c for c in calls if "/api/v1/reports/efficiency" in c.args]
    assert report_calls, "the tour no longer asks for the efficiency report"
    tour_report = report_calls[-1]
    assert all("awus_per_dollar" in row for row in tour_report.json()["results"])
    # Asked again now that the unit is scored (the tour may have asked a moment before).
    url = next(arg for arg in tour_report.args.split() if "/reports/efficiency" in arg)
    query = urlsplit(url).query
    params = dict(parse_qsl(query))
    rows = get(stack, reader_key, "/api/v1/reports/efficiency", **params)["results"]
    # The AWU is counted, the spend is counted, and where there is spend there is a rate.
    assert any(Decimal(row["awus_completed"] or 0) >= 1 for row in rows), rows
    spent = [row for row in rows if Decimal(row["token_cost_usd"] or 0) > 0]
    assert sum(Decimal(row["token_cost_usd"]) for row in spent) >= Decimal(record["cost_usd"])
    assert all(isinstance(row["awus_per_dollar"], float) for row in spent), (
        f"the tour's report (efficiency?{query}) gives no AWUs per dollar for its spend: {rows}"
    )

    csv = httpx.get(
        f"{stack.base_url}/api/v1/reports/efficiency",
        params={**params, "format": "csv"},
        headers={"Authorization": f"Bearer {reader_key}"},
        timeout=30,
    )
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert "awus_per_dollar" in csv.text.splitlines()[0]
