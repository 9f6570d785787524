"""The audit trail: who changed what the numbers mean, when, from what to what, and why.

Every package records through one function, in the same transaction as the
change it describes (so a change that rolls back leaves no row, and a row never
describes a change that did not happen)::

    from ledger import audit

    audit.record(
        "membership.started",            # action: "<object type>.<verb>"
        obj=membership,                  # a model instance: type, id and label from it
        after={"team": "payments", "valid_from": "2026-11-01T00:00:00Z"},
        reason="SCIM PATCH /Groups/42",  # optional
    )

``obj`` may be replaced by ``object_type=``, ``object_id=`` and ``label=`` when
there is no instance. ``before`` and ``after`` are JSON-able dicts (dates,
decimals and model instances are turned into strings). ``actor`` is optional:
without it the row names whoever :func:`acting_as` set for this request or
command (the signed-in user, the API key, the operator named with ``--as``),
and failing that the operating-system user the process runs as. Without a
``reason``, the command's ``--reason`` is used, if any.

The table is append-only: a database trigger refuses UPDATE and DELETE to every
role, the table's owner included (migration 0010, docs/security.md).
"""

from __future__ import annotations

import contextlib
import contextvars
import getpass
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import models
from django.http import HttpRequest, HttpResponse

from ledger.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts: ``kind`` is user, api_key, operator or system; ``ident`` an id if any."""

    kind: str
    name: str
    ident: str = ""

    @classmethod
    def operator(cls, name: str | None = None) -> Actor:
        """An operator at a command line: the name given with ``--as``, else the OS user."""
        return cls(AuditEvent.ActorKind.OPERATOR, (name or "").strip() or _os_user())


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        return "unknown"


# The actor of the current request or command: an Actor, or a callable that
# gives one when a row is written (a request's user is known only after its
# authentication ran, which for the API happens inside the view).
_current: contextvars.ContextVar[Actor | Callable[[], Actor] | None] = contextvars.ContextVar(
    "awu_audit_actor", default=None
)
# The reason an operator gave for a whole command (``--reason``).
_reason: contextvars.ContextVar[str] = contextvars.ContextVar("awu_audit_reason", default="")
# The operator named with ``--as`` (ledger.operators checks their role).
_named: contextvars.ContextVar[str | None] = contextvars.ContextVar("awu_operator", default=None)


@contextlib.contextmanager
def acting_as(actor: Actor | Callable[[], Actor]) -> Iterator[None]:
    """Every row recorded inside names ``actor`` (unless a call names its own)."""
    token = _current.set(actor)
    try:
        yield
    finally:
        _current.reset(token)


@contextlib.contextmanager
def operator_named(name: str | None, reason: str | None = None) -> Iterator[None]:
    """For a command's ``--as NAME`` and ``--reason TEXT``: that operator and that
    reason inside; what is not given stays as it was (a caller's actor, else the
    OS user)."""
    token = _reason.set(reason) if reason else None
    named = _named.set(name.strip()) if name and name.strip() else None
    try:
        if name:
            with acting_as(Actor.operator(name)):
                yield
        else:
            yield
    finally:
        if named is not None:
            _named.reset(named)
        if token is not None:
            _reason.reset(token)


def named_operator() -> str | None:
    """The name given with ``--as`` to the command running, if any."""
    return _named.get()


def add_actor_arguments(parser: Any) -> None:
    """A command's ``--as NAME`` and ``--reason TEXT`` (argparse), read back by
    :func:`operator_named`."""
    parser.add_argument(
        "--as",
        dest="acting_as",
        metavar="NAME",
        help="Who runs this, for the audit trail (default: the operating-system user).",
    )
    parser.add_argument(
        "--reason",
        dest="audit_reason",
        metavar="TEXT",
        help="Why, for the audit trail (a ticket, a request).",
    )


class OperatorCommand(BaseCommand):
    """A management command that changes audited things: it takes ``--as NAME`` and
    ``--reason TEXT``, and the rows it records name that operator (else the
    caller's actor, else the OS user) and that reason (unless a row has its own).

    ``operator_roles`` names the roles that may run it (an admin always may):
    when ``--as`` names a user, that user must hold one, and with
    ``AWU_CLI_REQUIRE_USER`` ``--as`` must name such a user (ledger.operators).
    ``None`` checks nothing (deploy steps such as ``prepare``)."""

    operator_roles: tuple[str, ...] | None = None

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        add_actor_arguments(parser)
        return parser

    def execute(self, *args: Any, **options: Any) -> Any:
        with operator_named(options.get("acting_as"), options.get("audit_reason")):
            if self.operator_roles is not None:
                from ledger.operators import operator_require  # it reads ledger.access

                operator_require(type(self).__module__.rsplit(".", 1)[-1], *self.operator_roles)
            return super().execute(*args, **options)


def current_actor() -> Actor:
    found = _current.get()
    if found is None:
        return Actor.operator()
    return found() if callable(found) else found


def request_actor(request: HttpRequest) -> Actor:
    """The actor of a request: its API key (the API) or its signed-in user."""
    from ledger.auth import Principal  # ledger.auth records through this module

    user = getattr(request, "user", None)
    if isinstance(user, Principal):
        return Actor(AuditEvent.ActorKind.API_KEY, user.name, str(user.key_id))
    if user is not None and user.is_authenticated:
        return Actor(AuditEvent.ActorKind.USER, user.get_username(), str(user.pk))
    return Actor(AuditEvent.ActorKind.SYSTEM, "anonymous request")


class AuditActorMiddleware:
    """Names the request's user or API key as the actor of what it records."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with acting_as(lambda: request_actor(request)):
            return self.get_response(request)


def jsonable(value: Any) -> Any:
    """``value`` with dates, decimals and model instances as strings, for a JSON column."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def record(
    action: str,
    *,
    obj: models.Model | None = None,
    object_type: str | None = None,
    object_id: object = "",
    label: str | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str = "",
    actor: Actor | None = None,
) -> AuditEvent:
    """Append one audit row and return it. Call it inside the change's transaction.

    ``object_type`` defaults to the part of ``action`` before the first dot.
    """
    if obj is not None:
        object_id = object_id or obj.pk
        label = str(obj) if label is None else label
    who = actor or current_actor()
    return AuditEvent.objects.create(
        action=action,
        object_type=object_type or action.partition(".")[0],
        object_id=str(object_id if object_id is not None else ""),
        object_label=(label or "")[:300],
        actor_kind=who.kind,
        actor=who.name[:254],
        actor_id=who.ident[:64],
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
        reason=(reason or _reason.get())[:1000],
    )


def field_values(obj: models.Model, names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``{name: value}`` of some fields of ``obj`` (foreign keys as their label), for before/after."""
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        out[name] = jsonable(value)
    return out
