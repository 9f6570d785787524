"""Audit the locked dependencies for known vulnerabilities with pip-audit.

    .venv/bin/python .ci/audit_dependencies.py [requirements/dev.lock]

pip-audit asks an advisory database about every pinned version: PyPI's JSON API
(its ``vulnerabilities`` field, the default) or OSV. Where neither answers,
pip-audit would mark every package "could not be audited" and still report "No
known vulnerabilities found"; so this script first asks each source about one
locked package, audits against the first that answers (``--strict``: a package
it cannot look up fails the audit), and otherwise says plainly that the audit
was skipped and why. Exit status: pip-audit's (1 on a finding), 0 when skipped.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPI = "https://pypi.org/pypi/{name}/{version}/json"
OSV = "https://api.osv.dev/v1/query"
# Advisories that do not apply, each with why (the code path is never called...);
# remove an entry when its package is upgraded past the fix.
IGNORED: dict[str, str] = {}
Fetch = Callable[[str, bytes | None], dict[str, object]]


def fetch(url: str, body: bytes | None = None) -> dict[str, object]:
    """GET (or POST ``body``) a JSON document; raises on any failure."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310 - fixed https URLs
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
        answer = json.loads(response.read())
    if not isinstance(answer, dict):
        raise ValueError("not a JSON object")
    return answer


def first_pin(lock: Path) -> tuple[str, str]:
    found = re.search(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", lock.read_text(), re.MULTILINE)
    if not found:
        raise SystemExit(f"{lock}: no pinned package")
    return found.group(1), found.group(2)


def advisory_source(
    name: str, version: str, get: Fetch | None = None
) -> tuple[str | None, list[str]]:
    """The first advisory service that answers about ``name==version`` (``pypi``
    or ``osv``), or None; and why each one tried before it did not."""
    get = get or fetch
    problems: list[str] = []
    try:
        if "vulnerabilities" in get(PYPI.format(name=name, version=version), None):
            return "pypi", problems
        problems.append(
            f"PyPI's JSON API ({PYPI.format(name=name, version=version)}): no vulnerability data"
        )
    except Exception as exc:
        problems.append(f"PyPI's JSON API ({PYPI.format(name=name, version=version)}): {exc}")
    query = {"package": {"name": name, "ecosystem": "PyPI"}, "version": version}
    try:
        get(OSV, json.dumps(query).encode())
        return "osv", problems
    except Exception as exc:
        problems.append(f"OSV ({OSV}): {exc}")
    return None, problems


def main() -> int:
    lock = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "requirements" / "dev.lock"
    service, problems = advisory_source(*first_pin(lock))
    if service is None:
        print(
            f"Dependency audit SKIPPED: no vulnerability database is reachable from here ({lock.name} was not audited)."
        )
        for problem in problems:
            print(f"  {problem}")
        return 0
    print(f"Auditing {lock.name} against the {service} vulnerability service.")
    command = [
        sys.executable, "-m", "pip_audit", "--requirement", str(lock), "--disable-pip",
        "--strict", "--vulnerability-service", service, "--progress-spinner", "off", "--desc", "on",
    ]  # fmt: skip
    for advisory in IGNORED:
        command += ["--ignore-vuln", advisory]
    return subprocess.run(command, cwd=ROOT, check=False).returncode  # noqa: S603 - our own argv


if __name__ == "__main__":
    sys.exit(main())
