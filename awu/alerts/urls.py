"""Routes of the alerts API (included by awu.urls)."""

from __future__ import annotations

from django.urls import path

from awu.alerts import apis

urlpatterns = [
    path("api/v1/alerts", apis.AlertsView.as_view(), name="alerts"),
    path(
        "api/v1/alerts/<int:alert_id>/acknowledge",
        apis.AlertAcknowledgeView.as_view(),
        name="alert-acknowledge",
    ),
]
