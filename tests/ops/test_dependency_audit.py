"""The CI's dependency audit (.ci/audit_dependencies.py): it audits against the
first advisory database that answers, and says why when none does."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit", ROOT / ".ci" / "audit_dependencies.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def answering(*working: str) -> Any:
    def get(url: str, body: bytes | None) -> dict[str, object]:
        if "pypi" in url and "pypi" in working:
            return {"info": {}, "vulnerabilities": []}
        if "osv" in url and "osv" in working:
            return {}
        raise OSError(f"unreachable: {url}")

    return get


@pytest.mark.parametrize(
    ("working", "chosen"),
    [(("pypi", "osv"), "pypi"), (("osv",), "osv"), ((), None)],
)
def test_the_first_database_that_answers_is_used(
    audit: ModuleType, working: tuple[str, ...], chosen: str | None
) -> None:
    service, problems = audit.advisory_source("django", "5.2.19", answering(*working))
    assert service == chosen
    # Every source passed over is named with the reason.
    assert len(problems) == {"pypi": 0, "osv": 1, None: 2}[chosen]


def test_a_pypi_answer_without_vulnerability_data_is_not_taken_for_a_clean_audit(
    audit: ModuleType,
) -> None:
    def get(url: str, body: bytes | None) -> dict[str, object]:
        if "osv" in url:
            raise OSError("unreachable")
        return {"info": {}}  # a mirror that serves package data without advisories

    service, problems = audit.advisory_source("django", "5.2.19", get)
    assert service is None
    assert "no vulnerability data" in problems[0]


def test_an_unreachable_database_skips_with_the_reasons_printed(
    audit: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(audit, "fetch", answering())
    monkeypatch.setattr(audit.sys, "argv", ["audit", str(ROOT / "requirements" / "dev.lock")])
    assert audit.main() == 0
    out = capsys.readouterr().out
    assert "Dependency audit SKIPPED" in out
    assert "PyPI's JSON API" in out
    assert "OSV" in out


def test_the_locks_first_pin_is_what_is_asked_about(audit: ModuleType) -> None:
    name, version = audit.first_pin(ROOT / "requirements" / "dev.lock")
    assert name
    assert version[0].isdigit()
