from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from awu.alerts import urls as alerts_urls
from awu.dashboard import urls as dashboard_urls
from awu.ops.metrics import MetricsView
from awu.reports import urls as reports_urls
from awu.signin import urls as signin_urls
from integrations import apis as integration_apis
from integrations.otlp import views as otlp_views
from integrations.scim import urls as scim_urls
from integrations.webhooks import views as integration_views
from ledger import apis as ledger_apis
from ledger import audit_api, directory_urls, health
from ledger.replica import replica_view
from ledger.service_name_apis import ServiceNamesView

handler400 = "ledger.http.handler400"
handler403 = "ledger.http.handler403"
handler404 = "ledger.http.handler404"
handler500 = "ledger.http.handler500"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", replica_view(MetricsView.as_view()), name="metrics"),
    path("api/v1/events", replica_view(ledger_apis.EventsView.as_view()), name="events"),
    path(
        "api/v1/token-usage",
        replica_view(ledger_apis.TokenUsageView.as_view()),
        name="token-usage",
    ),
    path(
        "api/v1/audit-events",
        replica_view(audit_api.AuditEventsView.as_view()),
        name="audit-events",
    ),
    path("api/v1/service-names", ServiceNamesView.as_view(), name="service-names"),
    path(
        "api/v1/hooks/<slug:vendor>/<slug:source>",
        integration_views.HookView.as_view(),
        name="hook",
    ),
    path(
        "api/v1/unmapped-actors",
        integration_apis.UnmappedActorsView.as_view(),
        name="unmapped-actors",
    ),
    path(
        "api/v1/unmapped-actors/map",
        integration_apis.UnmappedActorMapView.as_view(),
        name="unmapped-actors-map",
    ),
    # OTLP/HTTP: exporters append these fixed paths to OTEL_EXPORTER_OTLP_ENDPOINT.
    path("v1/logs", otlp_views.OtlpLogsView.as_view(), name="otlp-logs"),
    path("v1/metrics", otlp_views.OtlpMetricsView.as_view(), name="otlp-metrics"),
    *reports_urls.urlpatterns,
    *alerts_urls.urlpatterns,
    *directory_urls.urlpatterns,
    # SCIM 2.0 provisioning (docs/directory.md); not in the OpenAPI schema.
    *scim_urls.urlpatterns,
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("admin/", admin.site.urls),
    *signin_urls.urlpatterns,
    # The leadership dashboard at /, with /login/ and /logout/.
    *dashboard_urls.urlpatterns,
]
