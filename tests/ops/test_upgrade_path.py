"""The upgrade path: a database made by the previous release migrates forward with
``migrate`` and answers last quarter's questions as it did.

The fixture (tests/fixtures/upgrade/, refreshed by ``python -m
tests.ops.upgrade_fixture``, docs/operations.md) is a ``pg_dump`` of the drill
ledger built by the previous release, with the answers that release gave. The
test restores it into an empty database, migrates it to the latest migrations
of this checkout, starts the web server on it and asks the same questions.

A release may add fields to a report; it may not change one. So every row keeps
its place and every field the previous release answered keeps its value; fields
it did not have are not compared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.conf import settings

from tests.e2e.conftest import _database_url
from tests.ops import drill_ledger, pgtools
from tests.ops.pgtools import rows, triggers
from tests.ops.service import pg_tool, stack_on

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "upgrade"


# Fields this release answers under another name, documented in docs/api.md: a work
# unit's ``reason`` is now words built from its evidence; the engine's own text,
# which the previous release answered as ``reason``, is ``reason_code``.
MOVED = {"reason": "reason_code"}


def kept(before: Any, after: Any) -> Any:
    """``after`` cut down to the shape of ``before``: dict keys ``before`` did not
    have are dropped (a key in ``MOVED`` is read under its new name), lists and
    values compared as they are."""
    if isinstance(before, dict) and isinstance(after, dict):
        return {
            k: kept(v, after[MOVED.get(k, k) if MOVED.get(k) in after else k])
            if k in after
            else "<missing>"
            for k, v in before.items()
        }
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [kept(b, a) for b, a in zip(before, after, strict=True)]
    return after


def test_kept_drops_only_fields_the_previous_release_did_not_answer() -> None:
    before = {"results": [{"team": "a", "units": "1"}], "next_cursor": None}
    after = {"results": [{"team": "a", "units": "1", "new": 2}], "next_cursor": None}
    assert kept(before, after) == before
    moved = {"reason": "words", "reason_code": "survival window open"}
    assert kept({"reason": "survival window open"}, moved) == {"reason": "survival window open"}
    assert kept(before, {**after, "results": [{"team": "a", "units": "2"}]}) != before
    assert kept(before, {"results": []}) != before


@pytest.mark.django_db
def test_the_previous_release_database_migrates_and_answers_the_same(tmp_path: Path) -> None:
    expected = json.loads((FIXTURE / "previous-release.json").read_text())
    assert sorted(expected["answers"]) == sorted(drill_ledger.QUESTIONS), (
        "the questions changed: refresh the fixture (python -m tests.ops.upgrade_fixture)"
    )
    test_db = _database_url()
    name = f"{test_db.rsplit('/', 1)[1].split('?')[0]}_upgrade"
    url = pgtools.database_recreate(test_db, name)
    try:
        pgtools.run(pg_tool(url, "pg_restore"), "--no-owner", "--exit-on-error",
                    "--dbname", url, FIXTURE / "previous-release.dump")  # fmt: skip
        before_triggers = {(table, name) for table, name, *_ in triggers(url)}
        env = drill_ledger.command_environment(url, tmp_path / "data", settings.SECRET_KEY)
        plan = drill_ledger.manage(env, "migrate", "--plan")
        print(f"\nmigrations from {expected['release'][:10]}:\n{plan}")
        drill_ledger.manage(env, "migrate")
        assert not rows(url, "SELECT 1 FROM ledger_eventoutbox LIMIT 1")
        # The stored session commits have their links (ledger 0020): one per session
        # and commit of each, which the tie answers below read.
        links = rows(url, "SELECT count(*) FROM ledger_sessionlink")
        named = rows(
            url,
            "SELECT count(*) FROM ledger_workevent e, unnest(e.ref_keys) s(k),"
            " jsonb_array_elements_text(CASE WHEN jsonb_typeof(e.refs->'commit') = 'array'"
            " THEN e.refs->'commit' ELSE '[]' END) c"
            " WHERE e.type = 'x.session.commit' AND s.k LIKE 'session:%'",
        )
        assert links == named
        assert links[0][0] > 0
        # No trigger of the previous release was lost on the way (a migration may
        # replace one under the same name; partitioning may move it to a parent).
        after_triggers = {(table, name) for table, name, *_ in triggers(url)}
        lost = {n for _, n in before_triggers} - {n for _, n in after_triggers}
        assert not lost, f"triggers lost in the upgrade: {sorted(lost)}"
        key = drill_ledger.reader_key(env)
        running = stack_on(url, env, tmp_path / "logs", worker=False)
        try:
            answers = drill_ledger.answers(running.base_url, key)
        finally:
            running.stop()
        for question, body in expected["answers"].items():
            before = orjson.loads(body)
            assert kept(before, orjson.loads(answers[question])) == before, question
    finally:
        pgtools.database_drop(test_db, name)
