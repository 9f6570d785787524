from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.text import slugify

from ledger import secrets
from ledger.models import Source


class Command(BaseCommand):
    help = (
        "Register a webhook source (KIND is the vendor, e.g. github) and set its signing "
        "secret. Running it again for the same source rotates the secret."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", help="Vendor slug: github, gitlab, pagerduty, ...")
        parser.add_argument("slug", help="This instance's name, used in the webhook URL.")
        parser.add_argument("--secret", help="The signing secret configured at the vendor.")
        parser.add_argument(
            "--keep-previous-hours",
            type=float,
            default=0,
            help="When rotating, keep the old secret valid this many hours.",
        )

    def handle(self, *args: Any, kind: str, slug: str, **options: Any) -> None:
        from integrations.base import REGISTRY
        from integrations.registry import load_vendors

        load_vendors()
        if kind not in REGISTRY:
            raise CommandError(f"unknown vendor {kind!r}; known: {', '.join(sorted(REGISTRY))}")
        if slug != slugify(slug):
            raise CommandError(f"use a slug (lower-case letters, digits, -): {slugify(slug)!r}")
        source, created = Source.objects.get_or_create(kind=kind, slug=slug, defaults={"name": slug})
        if options["secret"]:
            keep = options["keep_previous_hours"]
            secrets.source_set_secret(
                source=source,
                secret=options["secret"],
                keep_previous_for=timedelta(hours=keep) if keep else None,
            )
        elif created:
            self.stderr.write("No --secret given: deliveries will be refused until one is set.")
        self.stdout.write(
            f"{'Created' if created else 'Updated'} source {source}: "
            f"POST /api/v1/hooks/{kind}/{slug}"
        )
