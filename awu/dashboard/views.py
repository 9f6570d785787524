"""The leadership workspace: the page over the report selectors, a team's people,
a person's units, a work unit's evidence. An active, logged-in user with a role
(ledger.access) reads them, limited to the teams the role covers: another team's
page, or a person or unit outside them, is a 404 (as a missing one); a user with
no role gets a 403 page asking for one.

A bad period or filter is refused on the page (status 400) with the field named,
as the API refuses it; the page then shows the default period.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from awu.alerts import selectors as alert_selectors
from awu.alerts import services as alert_services
from awu.dashboard import assets
from awu.dashboard.page import View, dashboard_read, person_read, team_read
from awu.dashboard.periods import PERIOD_DAYS, PRESETS, Period, period_for
from awu.reports.selectors import work_unit_detail
from ledger import access, clock
from ledger.errors import InvalidInput, NotFound
from ledger.models import Person, Team

AI_CHOICES = (("", "All work"), ("assisted", "AI-assisted"), ("not", "Not AI-assisted"))


class NoRole(Exception):
    """The signed-in user holds no role: they read nothing."""


def _teams(request: HttpRequest) -> frozenset[int] | None:
    """The teams the signed-in user reads; raises ``NoRole`` when they have no role."""
    if not access.has_any_role(request.user):
        raise NoRole
    return access.visible_team_ids(request.user)


def _no_role(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/no_role.html", {}, status=403)


def _context(request: HttpRequest) -> tuple[Period, View, dict[str, Any]]:
    """The period, the view and the page's shared context; errors in ``errors``."""
    teams = _teams(request)
    period, errors = period_for(request.GET, today=clock.now().date())
    view = View(
        domain=request.GET.get("domain") or None,
        ai=request.GET.get("ai") or None,
        settled_only=request.GET.get("settled") == "only",
        teams=teams,
    )
    visible = Team.objects.all() if teams is None else Team.objects.filter(pk__in=sorted(teams))
    context = {
        "active_alerts": _active_alerts(teams, None),
        "period": period,
        "view": view,
        "errors": errors,
        "period_choices": PERIOD_DAYS,
        "presets": PRESETS,
        "ai_choices": AI_CHOICES,
        "domains": sorted({d for d in visible.values_list("domain", flat=True) if d}),
        "charts_available": assets.chart_available(),
    }
    return period, view, context


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], read: Any
) -> HttpResponse:
    """Render ``template`` with what ``read()`` returns; a bad filter is a 400 page
    naming it, over the default view."""
    try:
        context.update(read(context["view"]))
    except InvalidInput as refused:
        context["errors"] = {**context["errors"], **refused.errors}
        context["view"] = View(teams=context["view"].teams)
        context.update(read(context["view"]))
    context["links"] = context["view"].links(context["period"])
    return render(request, template, context, status=400 if context["errors"] else 200)


def _needs_role(page: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page a user reads only with a role: without one, the 403 page."""

    @functools.wraps(page)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return page(request, *args, **kwargs)
        except NoRole:
            return _no_role(request)

    return wrapped


@require_safe
@login_required
@_needs_role
def dashboard(request: HttpRequest) -> HttpResponse:
    period, _, context = _context(request)
    return _render(
        request,
        "dashboard/dashboard.html",
        context,
        lambda view: dashboard_read(period=period, view=view),
    )


@require_safe
@login_required
@_needs_role
def team(request: HttpRequest, slug: str) -> HttpResponse:
    found = Team.objects.filter(slug=slug).only("pk").first()
    if found is None or not access.may_read_team(_teams(request), found.pk):
        raise Http404("No such team.")
    period, _, context = _context(request)
    context["team"] = slug
    context["active_alerts"] = _active_alerts(context["view"].teams, slug)
    context["budget"] = alert_selectors.team_budget_status(slug=slug, now=clock.now())
    return _render(
        request,
        "dashboard/team.html",
        context,
        lambda view: team_read(period=period, view=view, team=slug),
    )


def _person_visible(person_id: int, teams: frozenset[int] | None) -> Person | None:
    """The person, when a caller limited to ``teams`` may see them: they were ever a
    member of one of those teams (their numbers are still only those teams')."""
    people = Person.objects.filter(pk=person_id)
    if teams is not None:
        people = people.filter(memberships__team_id__in=sorted(teams)).distinct()
    return people.first()


@require_safe
@login_required
@_needs_role
def person(request: HttpRequest, person_id: int) -> HttpResponse:
    who = _person_visible(person_id, _teams(request))
    if who is None:
        raise Http404("No such person.")
    period, _, context = _context(request)
    context["person"] = who
    context["team"] = request.GET.get("team") or None
    return _render(
        request,
        "dashboard/person.html",
        context,
        lambda view: person_read(period=period, view=view, person=who),
    )


@require_safe
@login_required
@_needs_role
def work_unit(request: HttpRequest, unit_id: int) -> HttpResponse:
    try:
        # Another team's unit is "not found", as a missing one.
        row: dict[str, Any] | None = work_unit_detail(unit_id=unit_id, teams=_teams(request))
    except NotFound:
        row = None
    # A page, not the API's JSON 404: a person followed a link here.
    return render(
        request,
        "dashboard/work_unit.html",
        {"unit": row, "unit_id": unit_id},
        status=200 if row is not None else 404,
    )


def _active_alerts(teams: frozenset[int] | None, team: str | None) -> list[dict[str, Any]]:
    rows, _ = alert_selectors.alerts_list(team_ids=teams, state="active", team=team, limit=20)
    return rows


@require_safe
@login_required
@_needs_role
def alerts(request: HttpRequest) -> HttpResponse:
    rows, _ = alert_selectors.alerts_list(team_ids=_teams(request), state="active", limit=200)
    message = {"acknowledged": "Alert acknowledged.", "resolved": "That alert had resolved."}.get(
        request.GET.get("done", "")
    )
    return render(request, "dashboard/alerts.html", {"alerts": rows, "message": message})


@require_POST
@login_required
@_needs_role
def alert_acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    """A signed-in user with a role acknowledges the alerts of the teams they read
    (CSRF checked by the middleware); another team's alert is a 404."""
    try:
        alert_services.alert_acknowledge(
            alert_id=alert_id, actor=request.user.get_username(), teams=_teams(request)
        )
        done = "acknowledged"
    except alert_services.AlertResolved:
        done = "resolved"
    except NotFound as missing:
        raise Http404("No such alert.") from missing
    return HttpResponseRedirect(f"{reverse('dashboard-alerts')}?done={done}#alert-{alert_id}")
