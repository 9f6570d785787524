"""A real OpenID Connect provider on loopback, started by the tests: panva's
oidc-provider (npm, locked in provider/package-lock.json) run with the machine's
node, and a man-in-the-middle for the back channel that can alter what the
provider's token endpoint answers.

Where node or the installed package is missing the tests skip, naming what is
missing; under CI=true they fail instead (.ci/run installs the package with
``npm ci``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent / "provider"
SCRIPT = HERE / "provider.mjs"
START_SECONDS = 20


def require_node() -> str:
    """The node binary, or skip (fail under CI=true) saying what is missing."""
    node = shutil.which("node")
    if node is None:
        reason = "node is not installed: the OIDC sign-in tests run a real provider with it"
    elif not (HERE / "node_modules" / "oidc-provider").is_dir():
        reason = f"the test provider is not installed: npm ci --prefix {HERE}"
    else:
        return node
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen[str]

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


@contextmanager
def running_provider(
    *, clients: list[dict[str, Any]], accounts: dict[str, dict[str, Any]], clock_skew: int = 0
) -> Iterator[Provider]:
    node = require_node()
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "CLIENTS": json.dumps(clients),
        "ACCOUNTS": json.dumps(accounts),
        "CLOCK_SKEW": str(clock_skew),
        "NODE_ENV": "test",
    }
    process = subprocess.Popen(
        [node, str(SCRIPT)],
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = _read_line(process, START_SECONDS)
        if not line.startswith("ready "):
            err = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"the OIDC provider did not start: {line!r} {err[-2000:]}")
        yield Provider(issuer=line.split(" ", 1)[1].strip(), process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return found[0] if found else ""


Tamper = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class BackChannel:
    """A loopback proxy for the provider's discovery document and token endpoint.

    Point the client's metadata URL here: the discovery document is the
    provider's, with ``token_endpoint`` turned to this proxy, so the code
    exchange passes through ``tamper`` (which sees and returns the token
    response). Every response the provider gave is kept in ``seen``.
    """

    provider: Provider
    url: str = ""
    tamper: Tamper = field(default=lambda body: body)
    seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"


@contextmanager
def back_channel(provider: Provider) -> Iterator[BackChannel]:
    channel = BackChannel(provider=provider)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with urllib.request.urlopen(provider.metadata_url, timeout=10) as answer:  # noqa: S310
                metadata = json.loads(answer.read())
            metadata["token_endpoint"] = f"{channel.url}/token"
            self._send(200, json.dumps(metadata).encode())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = urllib.request.Request(  # noqa: S310
                f"{provider.issuer}/token",
                data=self.rfile.read(length),
                headers={
                    "Content-Type": self.headers.get("Content-Type", ""),
                    "Authorization": self.headers.get("Authorization", ""),
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                    status, body = answer.status, json.loads(answer.read())
            except urllib.error.HTTPError as error:
                self._send(error.code, error.read())
                return
            channel.seen.append(dict(body))
            self._send(status, json.dumps(channel.tamper(body)).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    channel.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield channel
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def wait_until(check: Callable[[], bool], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
