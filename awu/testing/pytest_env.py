"""A pytest plugin loaded before pytest-django configures Django (``-p`` in pyproject).

It sets the test environment's defaults, so ``pytest`` works bare: AWU_ENV=test
(a generated SECRET_KEY) and a data directory of its own for the embedded server.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("AWU_ENV", "test")
os.environ.setdefault("AWU_DATA_DIR", str(Path(__file__).resolve().parents[2] / "var" / "test"))
