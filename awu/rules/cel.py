"""CEL for AWU definitions: compile once, check at save time, build the variables.

Conditions see two variables, ``event`` (the candidate) and ``trigger`` (the
unit's trigger event), both maps with the keys ``id``, ``type``, ``occurred_at``
(a timestamp), ``refs`` (kind -> list of values), ``attributes``, ``actor``,
``subject`` and ``ai`` (always a map, empty when the tool said nothing, so
``has(event.ai.assisted)`` works). Unit and total expressions see the same.

The ``cel`` package parses at compile time but does not type-check, so
:func:`check_condition` and :func:`check_number` also look up every function the
expression calls and run it against sample events of the expected type (from
:mod:`awu.rules.catalog`): a wrong type or an unknown function is rejected
when the definition is saved, not found at scoring time. A missing attribute
is not an error there, because every attribute is optional on the wire.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cel

from awu.rules.catalog import EVENT_TYPES, sample_event
from awu.rules.spec import Event

VARIABLES = frozenset({"event", "trigger"})

# The functions this CEL implementation provides (the CEL standard definitions
# plus the macros). Anything else fails at run time with "Undefined variable or
# function", so it is refused at save time instead.
FUNCTIONS = frozenset(
    {
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "dyn",
        "type",
        "duration",
        "timestamp",
        "getFullYear",
        "getMonth",
        "getDayOfYear",
        "getDayOfMonth",
        "getDate",
        "getDayOfWeek",
        "getHours",
        "getMinutes",
        "getSeconds",
        "getMilliseconds",
        "has",
        "all",
        "exists",
        "exists_one",
        "map",
        "filter",
    }
)

# Type names parse as identifiers (``type(x) == int``).
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "string", "bytes", "bool", "list", "map", "null_type", "type"}
)
_ERROR_AT = re.compile(r"ERROR: <input>:(\d+):(\d+): ([^\n]*)")
_MACRO_BINDING = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


@dataclass(frozen=True, slots=True)
class CelProblem:
    """What is wrong with an expression; ``line`` and ``column`` are 1-based, or
    ``None`` when the problem is not at one place (a type error found by running it)."""

    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"{self.line}:{self.column}: {self.message}"


class CelError(ValueError):
    """An expression that does not compile; ``problems`` says where."""

    def __init__(self, expression: str, problems: list[CelProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.expression = expression
        self.problems = problems


def _syntax_problems(text: str) -> list[CelProblem]:
    found = [
        CelProblem(message=m.group(3).strip(), line=int(m.group(1)), column=int(m.group(2)))
        for m in _ERROR_AT.finditer(text)
    ]
    return found or [CelProblem(message=text.strip() or "invalid expression")]


@lru_cache(maxsize=2048)
def program_for(expression: str) -> cel.Program:
    """The compiled program for ``expression``, cached.

    Raises :class:`CelError` (a ``ValueError``) with positions when it does not parse.
    """
    if not expression.strip():
        raise CelError(expression, [CelProblem("expression is empty", 1, 1)])
    try:
        return cel.compile(expression)
    except ValueError as exc:
        raise CelError(expression, _syntax_problems(str(exc))) from None


def uses_trigger(program: cel.Program) -> bool:
    """Whether the expression reads ``trigger`` (else its value depends on ``event`` alone)."""
    return "trigger" in program.variables()


def event_map(event: Event) -> dict[str, Any]:
    """The CEL value of ``event``: the map conditions see as ``event`` or ``trigger``."""
    return {
        "id": event.id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "refs": event.refs,
        "attributes": event.attributes,
        "actor": event.actor,
        "subject": event.subject,
        "ai": event.ai if event.ai is not None else {},
    }


def _position(expression: str, offset: int) -> tuple[int, int]:
    line = expression.count("\n", 0, offset) + 1
    column = offset - (expression.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _static_problems(expression: str, program: cel.Program) -> list[CelProblem]:
    problems: list[CelProblem] = []
    for name in program.functions():
        if not name.isidentifier() or name in FUNCTIONS:
            continue  # operators are spelled like _+_ or @in
        call = re.search(rf"\b{re.escape(name)}\s*\(", expression)
        line, column = _position(expression, call.start()) if call else (None, None)
        problems.append(CelProblem(f"unknown function '{name}'", line, column))
    bound = set(_MACRO_BINDING.findall(expression))
    for name in program.variables():
        if name in VARIABLES or name in bound or name in _TYPE_NAMES:
            continue
        use = re.search(rf"\b{re.escape(name)}\b", expression)
        line, column = _position(expression, use.start()) if use else (None, None)
        problems.append(
            CelProblem(f"unknown variable '{name}' (use event or trigger)", line, column)
        )
    return problems


def _samples(event_type: str | None) -> list[Event]:
    types: Iterable[str] = [event_type] if event_type else sorted(EVENT_TYPES)
    return [sample_event(t) for t in types]


def _run_on_samples(
    program: cel.Program,
    *,
    event_type: str | None,
    trigger_type: str | None,
    expect: str,
) -> list[CelProblem]:
    problems: list[CelProblem] = []
    for sample in _samples(event_type):
        trigger = sample_event(trigger_type, event_id=2) if trigger_type else sample
        try:
            value = program.execute({"event": event_map(sample), "trigger": event_map(trigger)})
        except (KeyError, ZeroDivisionError):
            continue  # depends on the data: attributes are optional, values vary
        except (TypeError, RuntimeError, ValueError) as exc:
            problems.append(CelProblem(f"on a {sample.type} event: {_first_sentence(exc)}"))
            continue
        if expect == "bool" and not isinstance(value, bool):
            problems.append(
                CelProblem(
                    f"a condition must be true or false, but on a {sample.type} event "
                    f"it gives {_cel_type(value)}"
                )
            )
        elif expect == "number" and (
            isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value)
        ):
            problems.append(
                CelProblem(
                    f"must give a number, but on a {sample.type} event it gives {_cel_type(value)}"
                )
            )
    return list(dict.fromkeys(problems))


def _first_sentence(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.split(". ", 1)[0].rstrip(".")


def _cel_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "an int"
    if isinstance(value, float):
        return "a double"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return f"a {type(value).__name__}"


def _check(
    expression: str, *, event_type: str | None, trigger_type: str | None, expect: str
) -> list[CelProblem]:
    try:
        program = program_for(expression)
    except CelError as exc:
        return exc.problems
    static = _static_problems(expression, program)
    if static:
        return static
    return _run_on_samples(program, event_type=event_type, trigger_type=trigger_type, expect=expect)


def check_condition(
    expression: str, *, event_type: str | None = None, trigger_type: str | None = None
) -> list[CelProblem]:
    """Problems with a condition; an empty list means it may be saved.

    ``event_type`` is the type of the events it filters and ``trigger_type`` the
    definition's trigger type; when omitted, every canonical type is tried.
    Reports syntax errors with positions, unknown functions and variables, type
    errors, and a result that is not a bool.
    """
    return _check(expression, event_type=event_type, trigger_type=trigger_type, expect="bool")


def check_number(expression: str, *, event_type: str | None = None) -> list[CelProblem]:
    """Problems with a number expression (``units``, an aggregate ``total``).

    As :func:`check_condition`, but the result must be an int or a double.
    """
    return _check(expression, event_type=event_type, trigger_type=None, expect="number")
