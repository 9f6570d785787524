"""Imports point one way: integrations -> ledger <- awu, and inside awu
scoring -> definitions -> rules.

Every import statement counts, including one inside a function: a cycle dodged
at run time is still a cycle. The same check by hand:
``grep -rnE "(from|import) (awu|integrations)" ledger`` prints nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package folder -> module prefixes none of its files may import (migrations too)
FORBIDDEN = {
    "ledger": ("awu", "integrations"),
    "integrations": ("awu",),
    "awu/reports": ("integrations",),
    "awu/definitions": ("awu.scoring", "awu.reports", "integrations"),
    "awu/rules": (
        "awu.definitions",
        "awu.scoring",
        "awu.reports",
        "django",
        "ledger",
        "integrations",
    ),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # "from awu import scoring" names the package in the alias
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downstream(package: str) -> None:
    forbidden = FORBIDDEN[package]
    wrong: dict[str, str] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in imported_modules(path):
            if any(module == p or module.startswith(p + ".") for p in forbidden):
                wrong.setdefault(f"{path.relative_to(ROOT)}:{line}", module)
    assert not wrong, "\n".join(f"{where}: {module}" for where, module in wrong.items())


def test_a_wrong_import_inside_a_function_is_found(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from awu import scoring\n")
    assert (2, "awu.scoring") in imported_modules(module)


# package folder -> table-name prefixes its SQL may not name: a table read by name
# is an import by another name.
TABLES = {
    "ledger": ("definitions_", "scoring_", "reports_", "signin_", "alerts_", "integrations_"),
    "integrations": ("definitions_", "scoring_", "reports_", "signin_", "alerts_"),
}


@pytest.mark.parametrize("package", sorted(TABLES))
def test_package_sql_names_only_downstream_tables(package: str) -> None:
    pattern = re.compile(r"\b(?:" + "|".join(TABLES[package]) + r")[a-z_]+\b")
    wrong: dict[str, str] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found = pattern.search(node.value)
                if found:
                    wrong.setdefault(f"{path.relative_to(ROOT)}:{node.lineno}", found.group())
    assert not wrong, "\n".join(f"{where}: {table}" for where, table in wrong.items())
