"""Routes of OIDC sign-in (included by awu.urls)."""

from __future__ import annotations

from django.urls import path

from awu.signin import views

urlpatterns = [
    path("oidc/login/", views.oidc_login, name="oidc-login"),
    path("oidc/callback/", views.oidc_callback, name="oidc-callback"),
]
