"""/scim/v2 routes. Identity providers append these paths to the base URL."""

from django.urls import path

from integrations.scim import views

urlpatterns = [
    path("scim/v2/.search", views.RootSearchView.as_view(), name="scim-search"),
    path("scim/v2/Users", views.UsersView.as_view(), name="scim-users"),
    path("scim/v2/Users/.search", views.UsersSearchView.as_view(), name="scim-users-search"),
    path("scim/v2/Users/<str:resource_id>", views.UserView.as_view(), name="scim-user"),
    path("scim/v2/Groups", views.GroupsView.as_view(), name="scim-groups"),
    path("scim/v2/Groups/.search", views.GroupsSearchView.as_view(), name="scim-groups-search"),
    path("scim/v2/Groups/<str:resource_id>", views.GroupView.as_view(), name="scim-group"),
    path(
        "scim/v2/ServiceProviderConfig",
        views.ServiceProviderConfigView.as_view(),
        name="scim-service-provider-config",
    ),
    path("scim/v2/ResourceTypes", views.ResourceTypesView.as_view(), name="scim-resource-types"),
    path("scim/v2/ResourceTypes/<str:name>", views.ResourceTypesView.as_view()),
    path("scim/v2/Schemas", views.SchemasView.as_view(), name="scim-schemas"),
    path("scim/v2/Schemas/<str:name>", views.SchemasView.as_view()),
    path("scim/v2/<path:unknown>", views.NotFoundView.as_view()),
]
