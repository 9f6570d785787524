"""Real network peers for the delivery tests: an SMTP server (aiosmtpd) and an HTTP receiver."""

from __future__ import annotations

import email
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


class Smtp:
    """A real SMTP server on loopback; ``stop`` and ``start`` take it down and up on one port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = _Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[Message]:
        return self.inbox.messages


@dataclass
class Receiver:
    """A webhook receiver: records each request; the next ``fail`` calls answer 500,
    the next ``stall`` calls sleep ``stall_seconds`` before answering."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    fail: int = 0
    stall: int = 0
    stall_seconds: float = 2.0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                record = {"headers": dict(self.headers), "body": body, "status": None}
                receiver.requests.append(record)
                if receiver.stall > 0:
                    receiver.stall -= 1
                    record["status"] = "stalled"
                    time.sleep(receiver.stall_seconds)
                    return  # the sender gave up: no answer
                if receiver.fail > 0:
                    receiver.fail -= 1
                    record["status"] = 500
                    self.send_response(500)
                else:
                    record["status"] = 200
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


# Fixtures for the test modules that import them (the in-process delivery tests and
# the end-to-end ones): each test gets its own server on a free port.


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()
