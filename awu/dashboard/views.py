"""The leadership dashboard: one read-only page over the report selectors, and a
work unit's evidence. Any active, logged-in user may read them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from awu.dashboard import assets
from awu.dashboard.page import PERIOD_DAYS, dashboard_read, period_for
from awu.reports.selectors import work_unit_detail
from ledger import clock
from ledger.errors import NotFound


@require_safe
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    period = period_for(request.GET.get("days"), today=clock.now().date())
    context = {
        **dashboard_read(period=period),
        "period": period,
        "period_choices": PERIOD_DAYS,
        # Without the vendored library the page still shows every number.
        "charts_available": assets.chart_available(),
    }
    return render(request, "dashboard/dashboard.html", context)


@require_safe
@login_required
def work_unit(request: HttpRequest, unit_id: int) -> HttpResponse:
    try:
        row: dict[str, Any] | None = work_unit_detail(unit_id=unit_id)
    except NotFound:
        row = None
    # A page, not the API's JSON 404: a person followed a link here.
    return render(
        request,
        "dashboard/work_unit.html",
        {"unit": row, "unit_id": unit_id},
        status=200 if row is not None else 404,
    )
