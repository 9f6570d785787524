"""Routes of the dashboard (included by awu.urls): the page, a unit's evidence, log in/out."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from awu.dashboard import views
from ledger.replica import replica_view

urlpatterns = [
    path("", replica_view(views.dashboard), name="dashboard"),
    path("teams/<str:slug>/", replica_view(views.team), name="dashboard-team"),
    path("people/<int:person_id>/", replica_view(views.person), name="dashboard-person"),
    path("units/<int:unit_id>/", replica_view(views.work_unit), name="dashboard-unit"),
    path("alerts/", views.alerts, name="dashboard-alerts"),
    path(
        "alerts/<int:alert_id>/acknowledge",
        views.alert_acknowledge,
        name="dashboard-alert-acknowledge",
    ),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="dashboard/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
]
