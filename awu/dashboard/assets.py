"""Fetch the dashboard's browser libraries from the npm registry, by the lock file.

``python -m awu.dashboard.assets`` reads ``package-lock.json`` beside this file
(``--dev``: its test tools, into ``dev-vendor/``, never served),
downloads each locked tarball, checks it against the lock's ``integrity``
(sha512) and extracts only the files the page serves into
``static/dashboard/vendor/``. No Node is needed. A ``manifest.json`` there
records what was extracted (the tarball's integrity and each file's sha256), so
a second run with the files intact downloads nothing.

The registry is ``$npm_config_registry`` (as npm reads it), else
https://registry.npmjs.org. Any failure prints one line and exits 1.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCK = HERE / "package-lock.json"
VENDOR_DIR = HERE / "static" / "dashboard" / "vendor"
MANIFEST = "manifest.json"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
# The page loads this file; its presence decides whether charts are offered.
CHART_JS = "chart.umd.min.js"

# Per locked package: the member of its tarball -> the name it gets in VENDOR_DIR.
# @kurkle/color is bundled inside chart.js's UMD build: only its licence ships.
WANTED: dict[str, dict[str, str]] = {
    "chart.js": {
        "package/dist/chart.umd.min.js": CHART_JS,
        "package/LICENSE.md": "chart.js.LICENSE.md",
    },
    "@kurkle/color": {"package/LICENSE.md": "kurkle-color.LICENSE.md"},
}
# Test tools (the lock's dev packages): never served. ``--dev`` installs them into
# DEV_VENDOR_DIR, outside the static files, for the browser tests (axe-core checks
# keyboard access and contrast there).
DEV_VENDOR_DIR = HERE / "dev-vendor"
AXE_JS = "axe.min.js"
DEV_WANTED: dict[str, dict[str, str]] = {
    "axe-core": {"package/axe.min.js": AXE_JS, "package/LICENSE": "axe-core.LICENSE"},
}
TIMEOUT_SECONDS = 60
MAX_TARBALL_BYTES = 20 * 1024 * 1024


class AssetError(Exception):
    """Why the assets could not be installed (one line)."""


@dataclass(frozen=True)
class Locked:
    name: str
    version: str
    resolved: str
    integrity: str


def chart_available(vendor_dir: Path | None = None) -> bool:
    """True when the charting library has been installed for the page to load."""
    return ((vendor_dir or VENDOR_DIR) / CHART_JS).is_file()


def locked_packages(lock_path: Path | None = None) -> list[Locked]:
    """Every package the lock pins (lockfileVersion 2 or 3), with its tarball and integrity."""
    lock_path = lock_path or LOCK
    try:
        lock = json.loads(lock_path.read_text())
    except (OSError, ValueError) as exc:
        raise AssetError(f"cannot read {lock_path}: {exc}") from exc
    out = []
    for key, entry in sorted((lock.get("packages") or {}).items()):
        if not key.startswith("node_modules/"):
            continue  # "" is the project itself
        name = key.rsplit("node_modules/", 1)[1]
        resolved, integrity = entry.get("resolved"), entry.get("integrity")
        if not resolved or not integrity:
            raise AssetError(f"{lock_path.name}: {name} has no resolved URL or integrity")
        out.append(Locked(name, entry.get("version", "?"), resolved, integrity))
    if not out:
        raise AssetError(f"{lock_path.name} pins no packages")
    return out


def tarball_url(resolved: str, registry: str) -> str:
    """The lock's URL, moved to ``registry`` when it names the public one (a mirror)."""
    registry = registry.rstrip("/")
    if resolved.startswith(DEFAULT_REGISTRY + "/") and registry != DEFAULT_REGISTRY:
        return registry + resolved[len(DEFAULT_REGISTRY) :]
    return resolved


def integrity_check(data: bytes, integrity: str) -> None:
    """Raise unless ``data`` matches one sha512 entry of an SRI ``integrity`` string."""
    wanted = [i.split("-", 1)[1] for i in integrity.split() if i.startswith("sha512-")]
    if not wanted:
        raise AssetError(f"integrity {integrity[:20]}... has no sha512 digest")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual not in wanted:
        raise AssetError(f"integrity mismatch: expected sha512-{wanted[0]}, got sha512-{actual}")


def _download(url: str) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise AssetError(f"refusing to fetch {url!r}: not an http(s) URL")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - scheme checked above
            data: bytes = response.read(MAX_TARBALL_BYTES + 1)
    except OSError as exc:
        raise AssetError(f"cannot download {url}: {exc}") from exc
    if len(data) > MAX_TARBALL_BYTES:
        raise AssetError(f"{url} is larger than {MAX_TARBALL_BYTES} bytes")
    return data


def _extract(data: bytes, members: dict[str, str], label: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member, target in members.items():
                info = tar.getmember(member)
                handle = tar.extractfile(info) if info.isfile() else None
                if handle is None:
                    raise AssetError(f"{label}: {member} is not a regular file")
                out[target] = handle.read()
    except KeyError as exc:
        raise AssetError(f"{label}: the tarball has no {exc.args[0]}") from exc
    except tarfile.TarError as exc:
        raise AssetError(f"{label}: not a readable tarball ({exc})") from exc
    return out


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _up_to_date(
    package: Locked,
    manifest: dict[str, dict[str, object]],
    vendor: Path,
    wanted: dict[str, dict[str, str]],
) -> bool:
    recorded = manifest.get(package.name)
    if not recorded or recorded.get("integrity") != package.integrity:
        return False
    files = recorded.get("files")
    if not isinstance(files, dict) or set(files) != set(wanted.get(package.name, {}).values()):
        return False
    return all(_sha256(vendor / name) == digest for name, digest in files.items())


def assets_install(
    *,
    lock_path: Path | None = None,
    vendor_dir: Path | None = None,
    registry: str | None = None,
    dev: bool = False,
) -> list[str]:
    """Install the locked files (default: LOCK) into ``vendor_dir`` (default:
    VENDOR_DIR; with ``dev``, the test tools into DEV_VENDOR_DIR); returns the
    names written, empty when everything was already present with the recorded
    digests. Raises AssetError on any failure; a file is replaced only after its
    tarball verified."""
    lock_path = lock_path or LOCK
    wanted = DEV_WANTED if dev else WANTED
    vendor_dir = vendor_dir or (DEV_VENDOR_DIR if dev else VENDOR_DIR)
    registry = (
        registry
        # npm's own spelling; the upper-case one is what ruff would prefer, npm reads both.
        or os.environ.get("npm_config_registry")  # noqa: SIM112
        or os.environ.get("NPM_CONFIG_REGISTRY")
        or DEFAULT_REGISTRY
    )
    packages = locked_packages(lock_path)
    missing = set(wanted) - {p.name for p in packages}
    if missing:
        raise AssetError(f"{lock_path.name} does not pin {', '.join(sorted(missing))}")
    manifest_path = vendor_dir / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    written: list[str] = []
    for package in packages:
        members = wanted.get(package.name)
        if not members or _up_to_date(package, manifest, vendor_dir, wanted):
            continue
        label = f"{package.name}@{package.version}"
        data = _download(tarball_url(package.resolved, registry))
        try:
            integrity_check(data, package.integrity)
        except AssetError as exc:
            raise AssetError(f"{label}: {exc}") from exc
        files = _extract(data, members, label)
        vendor_dir.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            # Write beside, then rename: a reader never sees half a file.
            partial = vendor_dir / f".{name}.partial"
            partial.write_bytes(content)
            partial.replace(vendor_dir / name)
            written.append(name)
        manifest[package.name] = {
            "version": package.version,
            "integrity": package.integrity,
            "files": {name: hashlib.sha256(content).hexdigest() for name, content in files.items()},
        }
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return written


def main(argv: list[str] | None = None) -> int:
    args = argv or []
    if args not in ([], ["--dev"]):
        print("usage: python -m awu.dashboard.assets [--dev]", file=sys.stderr)
        return 2
    try:
        written = assets_install(dev=args == ["--dev"])
    except AssetError as exc:
        print(f"dashboard assets: {exc}", file=sys.stderr)
        return 1
    if written:
        print(f"dashboard assets: installed {', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
