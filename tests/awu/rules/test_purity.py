"""awu.rules stays plain Python: every module imports with Django not configured.

Each module is imported in a fresh interpreter without DJANGO_SETTINGS_MODULE.
The project package ``awu`` (its Celery app) is imported first and is not under
test; what the rules module adds must bring in no Django, no other app of ours,
and must not load the settings.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "awu" / "rules"
MODULES = ["awu.rules", *(f"awu.rules.{m.name}" for m in pkgutil.iter_modules([str(RULES)]))]

PROBE = """
import importlib, sys
import awu
before = set(sys.modules)
importlib.import_module(sys.argv[1])
added = set(sys.modules) - before
foreign = sorted(
    m for m in added
    if m.split(".")[0] in {"django", "ledger", "integrations", "rest_framework"}
    or (m.startswith("awu.") and m != "awu.rules" and not m.startswith("awu.rules."))
)
assert not foreign, f"imports {foreign}"
from django.conf import settings
assert not settings.configured, "loads the Django settings"
print(awu.__file__)
"""


def test_every_rules_module_is_probed() -> None:
    assert {"awu.rules.spec", "awu.rules.catalog", "awu.rules.cel", "awu.rules.engine"} <= set(
        MODULES
    )


@pytest.mark.parametrize("module", MODULES)
def test_rules_module_imports_without_django(module: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    # This checkout, not an installed copy of the package.
    env["PYTHONPATH"] = str(ROOT)
    ran = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == str(ROOT / "awu" / "__init__.py")
