"""python -m awu.dashboard.assets: locked tarballs, verified, only the page's files kept.

A registry of our own on loopback serves tarballs built here; the shipped lock
file is checked as it is (no download).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from awu.dashboard import assets

UMD = b"/*! Chart.js stand-in */ window.Chart = function () {};"


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


class _Quiet(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        _Quiet.requests.append(self.path)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A static npm-style registry on 127.0.0.1 serving tmp_path/registry."""
    root = tmp_path / "registry"
    root.mkdir()
    _Quiet.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _publish(tmp_path: Path, registry: str, chart: bytes | None = None) -> Path:
    """Put the two locked packages in the registry; returns a lock naming them."""
    chart = chart or _tarball(
        {
            "package/dist/chart.umd.min.js": UMD,
            "package/dist/chart.js": b"export default {}",
            "package/LICENSE.md": b"MIT chart.js",
        }
    )
    color = _tarball({"package/LICENSE.md": b"MIT color", "package/dist/color.min.js": b""})
    root = tmp_path / "registry"
    (root / "chart.js" / "-").mkdir(parents=True, exist_ok=True)
    (root / "@kurkle" / "color" / "-").mkdir(parents=True, exist_ok=True)
    (root / "chart.js" / "-" / "chart.js-4.6.1.tgz").write_bytes(chart)
    (root / "@kurkle" / "color" / "-" / "color-0.3.4.tgz").write_bytes(color)
    lock = {
        "name": "x",
        "lockfileVersion": 3,
        "packages": {
            "": {"dependencies": {"chart.js": "4.6.1"}},
            "node_modules/@kurkle/color": {
                "version": "0.3.4",
                "resolved": "https://registry.npmjs.org/@kurkle/color/-/color-0.3.4.tgz",
                "integrity": _integrity(color),
            },
            "node_modules/chart.js": {
                "version": "4.6.1",
                "resolved": "https://registry.npmjs.org/chart.js/-/chart.js-4.6.1.tgz",
                "integrity": _integrity(chart),
            },
        },
    }
    path = tmp_path / "package-lock.json"
    path.write_text(json.dumps(lock))
    return path


def test_the_locked_files_are_verified_and_only_the_page_files_are_kept(
    tmp_path: Path, registry: str
) -> None:
    lock = _publish(tmp_path, registry)
    vendor = tmp_path / "vendor"
    written = assets.assets_install(lock_path=lock, vendor_dir=vendor, registry=registry)
    assert sorted(written) == [
        "chart.js.LICENSE.md",
        assets.CHART_JS,
        "kurkle-color.LICENSE.md",
    ]
    assert (vendor / assets.CHART_JS).read_bytes() == UMD
    assert sorted(p.name for p in vendor.iterdir()) == sorted([*written, assets.MANIFEST])
    assert assets.chart_available(vendor)


def test_a_second_run_with_the_files_intact_downloads_nothing(
    tmp_path: Path, registry: str
) -> None:
    lock = _publish(tmp_path, registry)
    vendor = tmp_path / "vendor"
    assets.assets_install(lock_path=lock, vendor_dir=vendor, registry=registry)
    fetched = len(_Quiet.requests)
    assert assets.assets_install(lock_path=lock, vendor_dir=vendor, registry=registry) == []
    assert len(_Quiet.requests) == fetched


def test_a_changed_file_is_fetched_again(tmp_path: Path, registry: str) -> None:
    lock = _publish(tmp_path, registry)
    vendor = tmp_path / "vendor"
    assets.assets_install(lock_path=lock, vendor_dir=vendor, registry=registry)
    (vendor / assets.CHART_JS).write_bytes(b"tampered")
    written = assets.assets_install(lock_path=lock, vendor_dir=vendor, registry=registry)
    assert assets.CHART_JS in written
    assert (vendor / assets.CHART_JS).read_bytes() == UMD


def test_a_tarball_that_does_not_match_the_lock_is_refused_and_nothing_is_written(
    tmp_path: Path, registry: str
) -> None:
    lock = _publish(tmp_path, registry)
    tarball = tmp_path / "registry" / "chart.js" / "-" / "chart.js-4.6.1.tgz"
    tarball.write_bytes(
        _tarball({"package/dist/chart.umd.min.js": b"evil", "package/LICENSE.md": b""})
    )
    vendor = tmp_path / "vendor"
    with pytest.raises(assets.AssetError, match=r"chart\.js@4\.6\.1: integrity mismatch"):
        assets.assets_install(lock_path=lock, vendor_dir=vendor, registry=registry)
    assert not (vendor / assets.CHART_JS).exists()


def test_a_failure_is_one_line_and_exit_status_1(
    tmp_path: Path,
    registry: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(assets, "LOCK", _publish(tmp_path, registry))
    monkeypatch.setattr(assets, "VENDOR_DIR", tmp_path / "vendor")
    # Nothing is published under /missing: every tarball answers 404.
    monkeypatch.setenv("npm_config_registry", f"{registry}/missing")
    assert assets.main() == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("dashboard assets: cannot download")
    assert not (tmp_path / "vendor").exists()


def test_the_command_runs_as_a_module() -> None:
    # The shipped lock against the installed files: nothing to fetch, exit 0.
    if not assets.chart_available():
        problem = "the assets are not installed here (python -m awu.dashboard.assets)"
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    result = subprocess.run(
        [sys.executable, "-m", "awu.dashboard.assets"],
        cwd=assets.HERE.parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_shipped_lock_pins_an_exact_chart_js_4_with_its_sha512() -> None:
    [chart] = [p for p in assets.locked_packages() if p.name == "chart.js"]
    assert re.fullmatch(r"4\.\d+\.\d+", chart.version)
    assert chart.resolved == f"https://registry.npmjs.org/chart.js/-/chart.js-{chart.version}.tgz"
    assert chart.integrity.startswith("sha512-")
    manifest = json.loads((assets.HERE / "package.json").read_text())
    assert manifest["dependencies"]["chart.js"] == chart.version
    assert {p.name for p in assets.locked_packages()} >= set(assets.WANTED)


def test_the_shipped_lock_pins_axe_core_as_a_dev_package_with_its_sha512() -> None:
    [axe] = [p for p in assets.locked_packages() if p.name == "axe-core"]
    assert re.fullmatch(r"4\.\d+\.\d+", axe.version)
    assert axe.integrity.startswith("sha512-")
    lock = json.loads(assets.LOCK.read_text())
    assert lock["packages"]["node_modules/axe-core"]["dev"] is True
    # The page never serves it: the dev tools go outside the static files.
    assert set(assets.DEV_WANTED) == {"axe-core"}
    assert not str(assets.DEV_VENDOR_DIR).startswith(str(assets.VENDOR_DIR.parent))


def test_dev_packages_install_apart_from_the_page_files(tmp_path: Path, registry: str) -> None:
    lock = _publish(tmp_path, registry)
    with pytest.raises(assets.AssetError, match="does not pin axe-core"):
        assets.assets_install(
            lock_path=lock, vendor_dir=tmp_path / "dev", registry=registry, dev=True
        )
