"""Routes of the directory API (included by awu.urls)."""

from __future__ import annotations

from django.urls import path

from ledger import directory_apis as apis
from ledger import directory_history_apis as history_apis

urlpatterns = [
    path("api/v1/people", apis.PeopleView.as_view(), name="people"),
    path("api/v1/people/<int:person_id>", apis.PersonDetailView.as_view(), name="person-detail"),
    path("api/v1/teams", apis.TeamsView.as_view(), name="teams"),
    path("api/v1/teams/<int:team_id>", apis.TeamDetailView.as_view(), name="team-detail"),
    path("api/v1/memberships", history_apis.MembershipsView.as_view(), name="memberships"),
    path(
        "api/v1/memberships/<int:membership_id>/end",
        history_apis.MembershipEndView.as_view(),
        name="membership-end",
    ),
    path("api/v1/identities", history_apis.IdentitiesView.as_view(), name="identities"),
    path(
        "api/v1/identities/<int:identity_id>",
        history_apis.IdentityDetailView.as_view(),
        name="identity-detail",
    ),
]
