"""Imports every vendor module once, so each registers itself in base.REGISTRY."""

from __future__ import annotations

import importlib

from integrations.webhooks.base import REGISTRY, Vendor

VENDOR_MODULES = (
    "github",
    "gitlab",
    "pagerduty",
    "jira",
    "linear",
    "docusign",
    "hubspot",
    "salesforce",
    "zendesk",
    "generic",
)

_loaded = False


def load_vendors() -> dict[str, Vendor]:
    global _loaded
    if not _loaded:
        for name in VENDOR_MODULES:
            importlib.import_module(f"integrations.webhooks.{name}")
        _loaded = True
    return REGISTRY
