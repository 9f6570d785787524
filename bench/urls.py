"""The product's URLs plus the baselines benchmarks compare against (bench only)."""

from datetime import UTC, datetime

import orjson
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def baseline_insert(request: HttpRequest) -> HttpResponse:
    """A bare Django view: parse the body, one INSERT of the same row into a table of
    the same shape and indexes as the ledger's (bench_baseline), answer. No
    authentication, validation, idempotency or outbox."""
    event = orjson.loads(request.body)
    refs = event.get("refs", {})
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_baseline (source_id, external_id, type, occurred_at, received_at,"
            " actor, team, subject, refs, ref_keys, ai, attributes)"
            " VALUES (1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            [
                event["id"], event["type"], event["occurred_at"], datetime.now(UTC),
                event.get("actor"), event.get("team"), event.get("subject"),
                orjson.dumps(refs).decode(), [f"{k}:{v}" for k, vs in refs.items() for v in vs],
                orjson.dumps(event.get("ai")).decode(), orjson.dumps(event.get("attributes", {})).decode(),
            ],
        )  # fmt: skip
        (row_id,) = cursor.fetchone()
    return HttpResponse(f'{{"id": {row_id}}}', status=201, content_type="application/json")


urlpatterns = [
    path("bench/baseline-insert", baseline_insert),
    path("", include("awu.urls")),
]
