"""The product's URLs plus the baselines benchmarks compare against (bench only)."""

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def baseline_insert(request: HttpRequest) -> HttpResponse:
    """A bare Django view: read the body, one INSERT, answer. No auth, no validation."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_baseline (body) VALUES (%s::jsonb) RETURNING id",
            [request.body.decode()],
        )
        (row_id,) = cursor.fetchone()
    return HttpResponse(f'{{"id": {row_id}}}', status=201, content_type="application/json")


urlpatterns = [
    path("bench/baseline-insert", baseline_insert),
    path("", include("awu.urls")),
]
