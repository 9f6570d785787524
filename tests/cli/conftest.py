"""Running ``awu`` in-process: main(argv) against the test database, output captured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from awu.cli import main


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    @property
    def last_line(self) -> str:
        return self.out.rstrip("\n").splitlines()[-1]


@pytest.fixture
def awu(db: None, capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """awu("keys", "list") -> the exit code and what it printed."""

    def run(*argv: str) -> Ran:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


@pytest.fixture(autouse=True)
def _no_wakeups(settings: Any) -> None:
    # Ingest in these tests must not try to reach a broker.
    settings.AWU_OUTBOX_WAKE_TASK = ""


def assert_one_line_error(ran: Ran, code: int, *needles: str) -> None:
    """A failure: nothing on stdout, exactly one line on stderr holding every needle."""
    assert ran.code == code, ran
    lines = ran.err.strip("\n").splitlines()
    assert len(lines) == 1, ran.err
    assert "Traceback" not in ran.err
    for needle in needles:
        assert needle in lines[0], lines[0]
