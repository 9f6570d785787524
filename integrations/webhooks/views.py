"""``POST /api/v1/hooks/<vendor>/<source>``: vendor webhooks.

The order matters: find the source, cap and read the raw body, verify the
vendor's signature on those exact bytes (constant time, every live secret), and
only then parse. A bad or missing signature is a 401 with nothing stored.
"""

from __future__ import annotations

import logging
from typing import cast

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from integrations.services import delivery_store
from integrations.webhooks.base import Delivery, Headers, Mapped, SignatureError
from integrations.webhooks.registry import load_vendors
from ledger import audit, clock, secrets
from ledger.http import RETRY_AFTER_SECONDS, ApiError, problem, read_body
from ledger.openapi import errors
from ledger.sources import source_for_hook

logger = logging.getLogger(__name__)


class HookView(APIView):
    """Vendor webhooks: authenticated by the vendor's own signature, not an API key."""

    authentication_classes = []
    permission_classes = []

    @extend_schema(
        operation_id="hook_deliver",
        summary="Receive a vendor webhook delivery",
        description=(
            "Authenticated by the vendor's own scheme with the source's secret (see "
            "docs/integrations.md): GitHub X-Hub-Signature-256, GitLab X-Gitlab-Token, "
            "PagerDuty X-PagerDuty-Signature, Linear Linear-Signature, Jira X-Hub-Signature, "
            "DocuSign X-DocuSign-Signature-1, HubSpot X-HubSpot-Signature-v3, Zendesk "
            "X-Zendesk-Webhook-Signature, generic X-AWU-Signature. Answers 200 with the "
            "stored records' results, 200 `ignored` for event kinds the ledger does not "
            "use, 202 `dead_letter` when the delivery could not be mapped (kept for replay)."
        ),
        parameters=[
            OpenApiParameter(
                "vendor", str, OpenApiParameter.PATH, description="github, gitlab, ..."
            ),
            OpenApiParameter(
                "source", str, OpenApiParameter.PATH, description="The source's slug."
            ),
        ],
        request={"application/json": OpenApiTypes.OBJECT, "text/xml": OpenApiTypes.STR},
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Stored (or ignored)."),
            202: OpenApiResponse(OpenApiTypes.OBJECT, description="Kept as a dead letter."),
            **errors(401, 404, 413, 503),
        },
        tags=["integrations"],
    )
    def post(self, request: Request, vendor: str, source: str) -> HttpResponse:
        return hook(request._request, vendor, source)


def hook(request: HttpRequest, vendor: str, source: str) -> HttpResponse:
    integration = load_vendors().get(vendor)
    if integration is None:
        return problem(404, "not_found", f"No integration named {vendor!r}.")
    try:
        row = source_for_hook(kind=vendor, slug=source)
        if row is None or not row.enabled:
            return problem(
                404,
                "not_found",
                f"No enabled {vendor} source {source!r}: create it with "
                f"`manage.py create_source {vendor} {source} --secret ...`.",
            )
        try:
            body = read_body(request)
        except ApiError as exc:
            return problem(exc.status_code, exc.error_type, str(exc.detail))
        now = clock.now()
        delivery = Delivery(
            body=body,
            headers=cast(Headers, request.headers),
            url=request.build_absolute_uri(),
            method=request.method or "POST",
        )
        try:
            live = secrets.live_secrets(row, now=now)
        except secrets.UnreadableSecret:
            # The operator's key changed, not the sender's fault: the same status as
            # a missing secret, but saying what to fix (the log names the source).
            return problem(
                401,
                "not_authenticated",
                "This source's stored signing secret cannot be decrypted with the "
                "server's current key; it must be set again.",
            )
        if not live:
            return problem(
                401, "not_authenticated", "This source has no signing secret configured."
            )
        try:
            integration.verify(delivery, live, now)
        except SignatureError as exc:
            return problem(401, "not_authenticated", f"Signature check failed: {exc}")
        except Exception:
            # A verifier bug on odd input must not become a 500 (vendors retry those)
            # nor let the delivery through: it is refused like a bad signature.
            logger.exception("vendor %s failed to verify a delivery", vendor)
            return problem(401, "not_authenticated", "Signature check failed.")
        # What a verified delivery changes (a team it names for the first time) is
        # recorded as done by its source, which the signature has just proved.
        sender = audit.Actor(
            audit.AuditEvent.ActorKind.SYSTEM, f"{vendor} webhook, source {source}", str(row.pk)
        )
        with audit.acting_as(sender):
            outcome = delivery_store(vendor=integration, source=row, delivery=delivery, now=now)
    except (OperationalError, InterfaceError):
        logger.warning("database unavailable during a %s delivery", vendor)
        return problem(
            503,
            "service_unavailable",
            "The database is unavailable; the delivery was not stored. Retry.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    # A dead letter is acknowledged too: the vendor would only retry the same
    # payload (and make another dead letter each time), and it is kept here for
    # replay once the mapping is fixed.
    if integration.acknowledge is not None:
        answer = integration.acknowledge(outcome.mapped or Mapped.ignore("kept as a dead letter"))
        return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    status = 202 if outcome.dead_letter is not None else 200
    return JsonResponse(outcome.as_dict(), status=status)
