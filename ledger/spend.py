"""Which token usage counts as spend, and how usage is tied to the work it made.

Some emitters report the same requests twice: once per request and once summed
(Claude Code sends ``claude_code.api_request`` log events and token/cost metrics).
Both are stored, append-only; each record says at ingest which it is (its
``grain``: ``request`` or ``summary``), and this module holds the one rule that
keeps spend from being counted twice:

* a ``request`` record always counts;
* a ``summary`` record with ``refs.session`` counts only while no ``request``
  record from the same source shares one of its sessions;
* a ``summary`` record without a session cannot be matched, so it counts only
  while its source has no ``request`` records at all.

The rule is applied when reading, so the answer does not depend on which of the
two arrived first. Sessions tie spend to work through ``x.session.commit``
events (a session made a commit), which carry the session and the commit as refs;
the session links (``ledger.models.SessionLink``, written with each such event)
are where the lookups below find them.
"""

from __future__ import annotations

from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

from ledger.models import TokenUsage


def spend_counted_condition(alias: str = "ledger_tokenusage") -> str:
    """SQL boolean: the ``ledger_tokenusage`` row named ``alias`` counts as spend.

    The session match goes through the ``ref_keys`` GIN index. ``alias`` must be a
    plain SQL identifier (a table name or alias in the caller's query).
    """
    if not alias.replace("_", "").isalnum():
        raise ValueError(f"not an SQL identifier: {alias!r}")
    t = alias
    return f"""NOT (
        {t}.grain = 'summary'
        AND EXISTS (
            SELECT 1 FROM ledger_tokenusage per_request
            WHERE per_request.source_id = {t}.source_id
              AND per_request.grain = 'request'
              AND CASE
                  WHEN jsonb_typeof({t}.refs->'session') = 'array'
                       AND jsonb_array_length({t}.refs->'session') > 0
                  THEN per_request.ref_keys && ARRAY(
                      SELECT 'session:' || s FROM jsonb_array_elements_text({t}.refs->'session') s
                  )::varchar[]
                  ELSE TRUE
              END
        )
    )"""  # noqa: S608 - alias is checked above; no user input reaches the text


def spend_counted_usage(
    queryset: QuerySet[TokenUsage] | None = None,
) -> QuerySet[TokenUsage]:
    """``queryset`` (default: all token usage) without the rows that do not count as spend.

    Chain filters and aggregates on the result as on any TokenUsage queryset; the
    condition refers to the table by its name, so use ``spend_counted_condition(alias)``
    in hand-written SQL that aliases it.
    """
    base = TokenUsage.objects.all() if queryset is None else queryset
    condition = RawSQL(spend_counted_condition(), [], output_field=BooleanField())  # noqa: S611 - constant SQL
    return base.filter(condition)


def sessions_reaching_sql(keys: str) -> str:
    """SQL subquery: the ``session:<id>`` ref keys (column ``s``) of the sessions that
    made a commit among ``keys`` (an SQL varchar[] expression of the caller's, never
    input). Read from the session links (``ledger.models.SessionLink``), one index
    probe per key."""
    return (
        "SELECT DISTINCT session_link.session_key AS s FROM ledger_sessionlink session_link"  # noqa: S608 - caller's fixed SQL
        f" WHERE session_link.commit_key = ANY({keys})"
    )


def usage_reach_keys_sql(alias: str, *, as_of: bool = False) -> str:
    """SQL varchar[]: the ref keys the usage row ``alias`` reaches: its own refs, plus
    the commits its sessions made (the session links, one index probe per session).
    With ``as_of``, only links received by ``%(as_of)s`` count."""
    link_seen = "AND sl.received_at <= %(as_of)s" if as_of else ""
    return f"""({alias}.ref_keys || ARRAY(
        SELECT sl.commit_key FROM ledger_sessionlink sl
        WHERE sl.session_key = ANY(ARRAY(
            SELECT k FROM unnest({alias}.ref_keys) k WHERE k LIKE 'session:%%'
        )::text[]) {link_seen}
    )::varchar[])"""  # noqa: S608 - fixed SQL
