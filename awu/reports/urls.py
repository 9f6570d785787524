"""Routes of the reports API (included by awu.urls)."""

from __future__ import annotations

from django.urls import path

from awu.reports import apis
from ledger.replica import replica_view

urlpatterns = [
    path(
        "api/v1/reports/efficiency",
        replica_view(apis.EfficiencyView.as_view()),
        name="reports-efficiency",
    ),
    path(
        "api/v1/reports/spend-deciles",
        replica_view(apis.SpendDecilesView.as_view()),
        name="reports-spend-deciles",
    ),
    path("api/v1/reports/trend", replica_view(apis.TrendView.as_view()), name="reports-trend"),
    path(
        "api/v1/reports/incidents",
        replica_view(apis.IncidentsByMethodView.as_view()),
        name="reports-incidents",
    ),
    path("api/v1/work-units", replica_view(apis.WorkUnitsView.as_view()), name="work-units"),
    path(
        "api/v1/work-units/<int:unit_id>",
        replica_view(apis.WorkUnitDetailView.as_view()),
        name="work-unit-detail",
    ),
    path("api/v1/definitions", apis.DefinitionsView.as_view(), name="definitions"),
    path(
        "api/v1/definitions/<int:definition_id>",
        apis.DefinitionDetailView.as_view(),
        name="definition-detail",
    ),
    path(
        "api/v1/definitions/<int:definition_id>/preview",
        apis.DefinitionPreviewView.as_view(),
        name="definition-preview",
    ),
]
