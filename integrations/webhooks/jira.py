"""Jira Cloud admin webhooks: issues resolved and reopened.

What becomes what (only ``jira:issue_updated`` is read; every other event is ignored):

* an update whose changelog moves the issue into done -> ``ticket.resolved``;
* an update whose changelog moves it out of done -> ``ticket.reopened``;
* any other update (summary, assignee, a move between two open or two done
  statuses) is ignored.

"Done" is read in this order: the issue's current ``status.statusCategory.key``
(``done`` is Jira's fixed key for the green category) or, without it, a set
``resolution``. "Was done" comes from the changelog: a ``resolution`` item that
cleared or set a value, else a ``status`` item whose ``fromString`` is one of the
source's ``done_statuses`` (default Done, Closed, Resolved), because Jira's changelog
names the previous status but not its category.

Refs ``ticket`` = the issue key; attributes project, issue_type, priority, status,
resolution and ``domain`` (``support`` for a project in config ``support_projects``,
``engineering`` for one in ``engineering_projects``, else config ``default_domain``).

Authentication: admin webhooks saved with a secret send
``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>``. Jira signs no
timestamp. ``X-Atlassian-Webhook-Identifier`` (unchanged across retries) is the
idempotency key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from integrations.webhooks.base import (
    ConfigKey,
    Delivery,
    Mapped,
    MappingError,
    Record,
    Signed,
    Vendor,
    hmac_hex,
    load_json,
    register,
)
from integrations.webhooks.payload import (
    check_hex_hmac_header,
    config_strings,
    dig,
    epoch_ms_timestamp,
    opt_str,
    req_str,
    without_nulls,
)

SIGNATURE_HEADER = "X-Hub-Signature"
DELIVERY_HEADER = "X-Atlassian-Webhook-Identifier"
DONE_CATEGORY = "done"
DEFAULT_DONE_STATUSES: tuple[str, ...] = ("Done", "Closed", "Resolved")


def _name(value: Any) -> str | None:
    """A field Jira sends either as an object with ``name`` or as a bare string."""
    if isinstance(value, str) and value:
        return value
    return opt_str(value, "name")


def verify(delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
    """Pass when ``X-Hub-Signature`` is the HMAC-SHA256 of the body under a live secret."""
    check_hex_hmac_header(
        delivery.body, delivery.headers, secrets, header=SIGNATURE_HEADER, prefix="sha256="
    )


def sign(body: bytes, secret: str, *, now: datetime, url: str = "") -> Signed:
    """The signature header Jira sends with ``body``."""
    return Signed({SIGNATURE_HEADER: "sha256=" + hmac_hex(secret, body)})


def parse(delivery: Delivery, config: Mapping[str, Any]) -> Mapped:
    """Map one Jira Cloud delivery to canonical records (see the module docstring)."""
    payload = load_json(delivery.body)
    if not isinstance(payload, dict):
        raise MappingError("body is not a JSON object")
    kind = req_str(payload, "webhookEvent")
    if kind != "jira:issue_updated":
        return Mapped.ignore(f"event {kind} not used")
    delivery_id = delivery.headers.get(DELIVERY_HEADER)
    if not delivery_id:
        raise MappingError(f"{DELIVERY_HEADER} header missing")

    fields = dig(payload, "issue", "fields")
    if not isinstance(fields, Mapping):
        raise MappingError("issue.fields missing")
    items = dig(payload, "changelog", "items")
    if not isinstance(items, list):
        return Mapped.ignore("issue update without changelog")
    status_item = _item(items, "status")
    resolution_item = _item(items, "resolution")
    if status_item is None and resolution_item is None:
        return Mapped.ignore("issue update changes neither status nor resolution")

    category = opt_str(fields, "status", "statusCategory", "key")
    resolution = _name(dig(fields, "resolution"))
    is_done = category == DONE_CATEGORY if category else resolution is not None
    if resolution_item is not None:
        was_done = bool(opt_str(resolution_item, "from") or opt_str(resolution_item, "fromString"))
    else:
        done_statuses = {
            s.lower() for s in config_strings(config, "done_statuses", DEFAULT_DONE_STATUSES)
        }
        was_done = (opt_str(status_item, "fromString") or "").lower() in done_statuses
    if is_done == was_done:
        return Mapped.ignore("status change does not enter or leave done")

    key = req_str(payload, "issue", "key")
    project = opt_str(fields, "project", "key") or key.rsplit("-", 1)[0]
    event: Record = {
        "id": str(delivery_id),
        "type": "ticket.resolved" if is_done else "ticket.reopened",
        "occurred_at": epoch_ms_timestamp(
            dig(payload, "timestamp"), field="timestamp", timespec="milliseconds"
        ),
        "subject": f"jira:{key}",
        "refs": {"ticket": [key]},
        "attributes": {
            "project": project,
            "issue_type": _name(dig(fields, "issuetype")),
            "priority": _name(dig(fields, "priority")),
            "status": _name(dig(fields, "status")) or opt_str(status_item, "toString"),
            "from_status": opt_str(status_item, "fromString"),
            "resolution": resolution,
            "summary": opt_str(fields, "summary"),
            "domain": _domain(project, config),
        },
    }
    actor = opt_str(payload, "user", "emailAddress")
    if actor is None and (account := opt_str(payload, "user", "accountId")):
        actor = f"jira:{account}"
    if actor:
        event["actor"] = actor
    return without_nulls(Mapped(events=[event]))


def _item(items: list[Any], field: str) -> Mapping[str, Any] | None:
    for item in items:
        if isinstance(item, Mapping) and (
            item.get("fieldId") == field or item.get("field") == field
        ):
            return item
    return None


def _domain(project: str, config: Mapping[str, Any]) -> str | None:
    if project in config_strings(config, "support_projects"):
        return "support"
    if project in config_strings(config, "engineering_projects"):
        return "engineering"
    default = config.get("default_domain")
    return default if isinstance(default, str) else None


VENDOR = register(
    Vendor(
        slug="jira",
        title="Jira Cloud",
        verify=verify,
        parse=parse,
        sign=sign,
        config_keys={
            "support_projects": ConfigKey("strings", "project keys in the support domain"),
            "engineering_projects": ConfigKey("strings", "project keys in the engineering domain"),
            "default_domain": ConfigKey("string", "domain of any other project"),
            "done_statuses": ConfigKey("strings", "status names counted as done"),
        },
    )
)
