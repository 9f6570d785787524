"""Liveness and readiness probes. They answer without a key and reveal no data."""

from __future__ import annotations

from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving. Checks nothing else, on purpose: a load balancer
    must not restart every web process because the database blinked."""
    return JsonResponse({"status": "ok"})


def _database_ok() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means not ready
        return exc.__class__.__name__
    return None


def _broker_ok() -> str | None:
    try:
        # The project's app (Celery's default, so in any thread): the same URL,
        # transport options and timeouts as the wake-ups.
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # any failure means not ready
        return exc.__class__.__name__
    return None


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to take traffic: the database and the broker both answer (503 otherwise).

    Ingest keeps working while the broker is down (scoring catches up from the
    outbox), so a deployment may choose to route on the database check alone; the
    body says which part failed.
    """
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    ready = all(v is None for v in checks.values())
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": {
            name: ("ok" if err is None else f"failed: {err}") for name, err in checks.items()
        },
    }
    if settings.DEBUG:
        body["database_vendor"] = connection.vendor
    response = JsonResponse(body, status=200 if ready else 503)
    if not ready:
        response["Retry-After"] = "5"
    return response
