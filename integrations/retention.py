"""Retention of what the webhook endpoint keeps besides the ledger.

Dead letters hold raw vendor bodies (names, emails, logins) and are kept only so
they can be replayed after a fix; ignored-delivery records are counters (source,
reason, count, last seen) and hold no body. Neither is part of the ledger, so
both may be deleted outright.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from integrations.models import DeadLetter, IgnoredDeliveries


@dataclass(frozen=True)
class PurgeReport:
    cutoff: datetime
    dead_letters: int
    ignored_deliveries: int
    dry_run: bool = False


def dead_letters_purge(
    *, older_than: timedelta, now: datetime, dry_run: bool = False
) -> PurgeReport:
    """Delete dead letters received, and ignored-delivery counters last seen,
    before ``now - older_than``. Replayed or not: a letter that old is not going
    to be replayed. With ``dry_run`` only count them."""
    if older_than < timedelta(0):
        raise ValueError("older_than must not be negative")
    cutoff = now - older_than
    letters = DeadLetter.objects.filter(received_at__lt=cutoff)
    ignored = IgnoredDeliveries.objects.filter(last_seen_at__lt=cutoff)
    if dry_run:
        return PurgeReport(cutoff, letters.count(), ignored.count(), dry_run=True)
    with transaction.atomic():
        # _raw_delete: one DELETE statement, no per-row collection (nothing
        # refers to these rows).
        deleted_letters = letters._raw_delete(letters.db)
        deleted_ignored = ignored._raw_delete(ignored.db)
    return PurgeReport(cutoff, deleted_letters, deleted_ignored)
