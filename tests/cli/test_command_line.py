"""The ``awu`` command itself: help, usage errors and failures as a process sees them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from awu.cli import main
from tests.cli.conftest import Ran, assert_one_line_error

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = ROOT / ".venv" / "bin" / "awu"


def test_help_needs_no_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("up", "keys", "definitions", "rescore", "import-usage", "report"):
        assert command in out


def test_an_unknown_command_is_one_line_and_a_usage_error(awu: Callable[..., Ran]) -> None:
    ran = awu("launch")
    assert_one_line_error(ran, 2, "invalid choice: 'launch'")


def test_a_missing_action_is_one_line_and_a_usage_error(awu: Callable[..., Ran]) -> None:
    ran = awu("keys")
    assert_one_line_error(ran, 2, "awu keys", "ACTION")


def _environment(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(overrides)
    return env


def test_an_unreachable_database_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "awu.cli", "keys", "list"],
        cwd=ROOT,
        env=_environment(
            AWU_ENV="test",
            AWU_DATA_DIR=str(tmp_path),
            DATABASE_URL="postgres://postgres@127.0.0.1:1/nothing",
            DB_CONNECT_TIMEOUT="2",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("awu keys list: database:")


def test_missing_production_settings_are_one_line(tmp_path: Path) -> None:
    env = _environment(AWU_ENV="production", AWU_DATA_DIR=str(tmp_path))
    env.pop("SECRET_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "awu.cli", "keys", "list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "SECRET_KEY" in line


def test_the_installed_script_runs() -> None:
    if not INSTALLED.exists():
        reason = f"{INSTALLED} is not installed (./run installs it with the project)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    done = subprocess.run(
        [str(INSTALLED), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: awu")
    assert "import-usage" in done.stdout
