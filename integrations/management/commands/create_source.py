from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any, TextIO

import orjson
from django.core.management.base import CommandError, CommandParser
from django.utils.text import slugify

from integrations.webhooks.base import Vendor
from integrations.webhooks.registry import load_vendors
from ledger import access, audit, secrets
from ledger.models import Source


class Command(audit.OperatorCommand):
    operator_roles = (access.ADMIN,)
    stealth_options = ("stdin",)
    help = (
        "Register a webhook source (KIND is the vendor, e.g. github) and set its signing "
        "secret. Running it again for the same source rotates the secret."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", help="Vendor slug: github, gitlab, pagerduty, ...")
        parser.add_argument("slug", help="This instance's name, used in the webhook URL.")
        given = parser.add_mutually_exclusive_group()
        given.add_argument(
            "--secret",
            help=(
                "The signing secret configured at the vendor. Write --secret=VALUE when "
                "it starts with '-'; prefer --secret-stdin on shared machines."
            ),
        )
        given.add_argument(
            "--secret-stdin",
            action="store_true",
            help=(
                "Read the signing secret from the first line of standard input, so it "
                "stays out of shell history and the process list."
            ),
        )
        parser.add_argument(
            "--config",
            help=(
                "Per-source vendor settings as a JSON object, merged into the source's "
                "config (keys given replace those keys), e.g. "
                '\'{"stages": ["appointmentscheduled", "closedwon"]}\'. '
                "Each vendor accepts its own keys; an unknown key is refused with the list."
            ),
        )
        parser.add_argument(
            "--keep-previous-hours",
            type=float,
            default=0,
            help="When rotating, keep the old secret valid this many hours.",
        )

    def handle(self, *args: Any, kind: str, slug: str, **options: Any) -> None:
        vendors = load_vendors()
        vendor = vendors.get(kind)
        if vendor is None:
            raise CommandError(f"unknown vendor {kind!r}; known: {', '.join(sorted(vendors))}")
        if slug != slugify(slug):
            raise CommandError(f"use a slug (lower-case letters, digits, -): {slugify(slug)!r}")
        config = _parse_config(options["config"], vendor) if options["config"] else None
        stdin: TextIO = options.get("stdin") or sys.stdin
        secret = _read_secret(stdin) if options["secret_stdin"] else options["secret"]
        source, created = Source.objects.get_or_create(
            kind=kind, slug=slug, defaults={"name": slug}
        )
        if config:
            source.config = {**(source.config or {}), **config}
            source.save(update_fields=["config"])
        if secret:
            keep = options["keep_previous_hours"]
            secrets.source_set_secret(
                source=source,
                secret=secret,
                keep_previous_for=timedelta(hours=keep) if keep else None,
            )
        elif created:
            self.stderr.write("No --secret given: deliveries will be refused until one is set.")
        if config:
            self.stdout.write(f"Config keys set: {', '.join(sorted(config))}")
        self.stdout.write(
            f"{'Created' if created else 'Updated'} source {source}: "
            f"POST /api/v1/hooks/{kind}/{slug}"
        )


def _read_secret(stream: TextIO) -> str:
    """The first line of ``stream``, without its line break; CommandError when empty."""
    secret = stream.readline().rstrip("\r\n")
    if not secret:
        raise CommandError("--secret-stdin: standard input held no secret")
    return secret


def _parse_config(raw: str, vendor: Vendor) -> dict[str, Any]:
    """--config as a dict; CommandError naming the problem when it is not usable."""
    try:
        config = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CommandError(f"--config is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise CommandError("--config must be a JSON object, e.g. '{\"stages\": [...]}'")
    known = vendor.config_keys
    for key, value in config.items():
        if key not in known:
            takes = (
                "takes: " + ", ".join(f"{name} ({spec.meaning})" for name, spec in known.items())
                if known
                else "takes no config keys"
            )
            raise CommandError(
                f"--config {key!r} is not a {vendor.slug} setting; {vendor.slug} {takes}"
            )
        problem = known[key].problem(value)
        if problem:
            raise CommandError(f"--config {key} {problem}")
    return config
