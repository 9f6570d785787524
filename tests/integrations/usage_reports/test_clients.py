"""Anthropic and OpenAI usage/cost clients against a real local HTTP server.

The server replays recorded vendor responses (tests/fixtures/{anthropic,openai}):
two pages each, and a 429 with ``retry-after`` where a test asks for one. The
clients use a real ``httpx.Client``; only ``sleep`` is replaced, to record waits.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from integrations.usage_reports.anthropic import AnthropicUsageClient
from integrations.usage_reports.client import UsageApiError
from integrations.usage_reports.openai import OpenAIUsageClient

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ANTHROPIC_USAGE = "/v1/organizations/usage_report/messages"
ANTHROPIC_COST = "/v1/organizations/cost_report"
OPENAI_USAGE = "/v1/organization/usage/completions"
OPENAI_COSTS = "/v1/organization/costs"
ANTHROPIC_PAGE_2 = "page_MjAyNS0wOC0wMlQwMDowMDowMFo="
OPENAI_PAGE_2 = "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA="
START = datetime(2025, 8, 1, tzinfo=UTC)
END = datetime(2025, 8, 3, tzinfo=UTC)
SONNET = "claude-sonnet-4-20250514"
WORKSPACE = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]


class FakeVendorApi:
    """Serves queued replies per (path, page token); the last reply of a queue repeats."""

    def __init__(self) -> None:
        self.replies: dict[tuple[str, str | None], list[Reply]] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qsl(parts.query, keep_blank_values=True)
                reply = api.take(parts.path, dict(query).get("page"))
                with api._lock:
                    api.seen.append(
                        Seen(parts.path, query, {k.lower(): v for k, v in self.headers.items()})
                    )
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval keeps shutdown (once per test) fast.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve(self, path: str, page: str | None, *replies: Reply) -> None:
        self.replies[(path, page)] = list(replies)

    def take(self, path: str, page: str | None) -> Reply:
        with self._lock:
            queue = self.replies.get((path, page))
            if not queue:
                return Reply(404, b'{"error": {"message": "no such page"}}')
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def requests_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == path]


def recorded(vendor: str, name: str, status: int = 200, **headers: str) -> Reply:
    return Reply(status, (FIXTURES / vendor / name).read_bytes(), headers)


@pytest.fixture
def api() -> Iterator[FakeVendorApi]:
    server = FakeVendorApi()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def anthropic_api(api: FakeVendorApi) -> FakeVendorApi:
    api.serve(ANTHROPIC_USAGE, None, recorded("anthropic", "usage_report_messages_page1.json"))
    api.serve(
        ANTHROPIC_USAGE, ANTHROPIC_PAGE_2, recorded("anthropic", "usage_report_messages_page2.json")
    )
    api.serve(ANTHROPIC_COST, None, recorded("anthropic", "cost_report_page1.json"))
    api.serve(ANTHROPIC_COST, ANTHROPIC_PAGE_2, recorded("anthropic", "cost_report_page2.json"))
    return api


@pytest.fixture
def openai_api(api: FakeVendorApi) -> FakeVendorApi:
    api.serve(OPENAI_USAGE, None, recorded("openai", "usage_completions_page1.json"))
    api.serve(OPENAI_USAGE, OPENAI_PAGE_2, recorded("openai", "usage_completions_page2.json"))
    api.serve(OPENAI_COSTS, None, recorded("openai", "costs.json"))
    return api


def anthropic_client(
    api: FakeVendorApi, waits: list[float] | None = None, **options: object
) -> AnthropicUsageClient:
    return AnthropicUsageClient(
        "sk-ant-admin01-test",
        base_url=api.base_url,
        sleep=(waits if waits is not None else []).append,
        **options,  # type: ignore[arg-type]
    )


def openai_client(api: FakeVendorApi, waits: list[float] | None = None) -> OpenAIUsageClient:
    return OpenAIUsageClient(
        "sk-admin-test",
        base_url=api.base_url,
        sleep=(waits if waits is not None else []).append,
    )


# --- Anthropic ---------------------------------------------------------------------


def test_anthropic_fetch_follows_next_page_until_has_more_is_false(
    anthropic_api: FakeVendorApi,
) -> None:
    with anthropic_client(anthropic_api) as client:
        records = client.fetch(START, END)

    assert [(r["period_start"], r["model"]) for r in records] == [
        ("2025-08-01T00:00:00Z", SONNET),
        ("2025-08-01T00:00:00Z", "claude-3-5-haiku-20241022"),
        ("2025-08-02T00:00:00Z", SONNET),
    ]
    pages = [dict(seen.query).get("page") for seen in anthropic_api.requests_to(ANTHROPIC_USAGE)]
    assert pages == [None, ANTHROPIC_PAGE_2]


def test_anthropic_requests_carry_the_admin_key_and_api_version(
    anthropic_api: FakeVendorApi,
) -> None:
    with anthropic_client(anthropic_api) as client:
        client.fetch(START, END)

    headers = anthropic_api.requests_to(ANTHROPIC_USAGE)[0].headers
    assert headers["x-api-key"] == "sk-ant-admin01-test"
    assert headers["anthropic-version"] == "2023-06-01"


def test_anthropic_usage_is_asked_by_window_bucket_and_grouping(
    anthropic_api: FakeVendorApi,
) -> None:
    with anthropic_client(anthropic_api) as client:
        client.fetch(START, END)

    query = anthropic_api.requests_to(ANTHROPIC_USAGE)[0].query
    assert ("starting_at", "2025-08-01T00:00:00Z") in query
    assert ("ending_at", "2025-08-03T00:00:00Z") in query
    assert ("bucket_width", "1d") in query
    assert [value for key, value in query if key == "group_by[]"] == ["model", "workspace_id"]


def test_anthropic_tokens_map_to_the_ledger_token_kinds(anthropic_api: FakeVendorApi) -> None:
    with anthropic_client(anthropic_api) as client:
        first = client.fetch(START, END)[0]

    assert (
        first["input_tokens"],
        first["output_tokens"],
        first["cache_creation_input_tokens"],
        first["cache_read_input_tokens"],
    ) == (1500, 500, 1500, 200)
    assert first["cache_creation_1h_input_tokens"] == 1000
    assert first["attributes"]["web_search_requests"] == 10


def test_anthropic_token_cost_in_cents_becomes_dollars(anthropic_api: FakeVendorApi) -> None:
    with anthropic_client(anthropic_api) as client:
        records = client.fetch(START, END)

    # (123.78912 + 750) cents on day one, 80.5 cents on day two; web search is not a token cost
    assert [r["cost_usd"] for r in records if r["model"] == SONNET] == ["8.7378912", "0.805"]


def test_anthropic_usage_without_a_cost_row_has_null_cost(anthropic_api: FakeVendorApi) -> None:
    with anthropic_client(anthropic_api) as client:
        records = client.fetch(START, END)

    haiku = next(r for r in records if r["model"] == "claude-3-5-haiku-20241022")
    assert haiku["cost_usd"] is None


def test_anthropic_grouping_by_api_key_leaves_cost_to_the_price_book(
    anthropic_api: FakeVendorApi,
) -> None:
    with anthropic_client(anthropic_api, group_by_api_key=True) as client:
        records = client.fetch(START, END)

    assert {r["cost_usd"] for r in records} == {None}
    assert anthropic_api.requests_to(ANTHROPIC_COST) == []


def test_anthropic_excluded_workspace_is_left_out(anthropic_api: FakeVendorApi) -> None:
    with anthropic_client(anthropic_api, exclude_workspace_ids=[WORKSPACE]) as client:
        records = client.fetch(START, END)

    assert [r["model"] for r in records] == ["claude-3-5-haiku-20241022"]


def test_anthropic_repull_gives_the_same_ids(anthropic_api: FakeVendorApi) -> None:
    with anthropic_client(anthropic_api) as client:
        first = [r["id"] for r in client.fetch(START, END)]
        again = [r["id"] for r in client.fetch(START, END)]

    assert first == again
    assert len(set(first)) == 3


def test_anthropic_429_waits_what_retry_after_says(anthropic_api: FakeVendorApi) -> None:
    anthropic_api.serve(
        ANTHROPIC_USAGE,
        None,
        recorded("anthropic", "error_rate_limit.json", 429, **{"retry-after": "2"}),
        recorded("anthropic", "usage_report_messages_page1.json"),
    )
    waits: list[float] = []

    with anthropic_client(anthropic_api, waits) as client:
        records = client.fetch(START, END)

    assert waits == [2.0]
    assert len(records) == 3


def test_anthropic_persistent_overload_gives_up_after_bounded_attempts(
    anthropic_api: FakeVendorApi,
) -> None:
    anthropic_api.serve(ANTHROPIC_USAGE, None, Reply(529, b'{"type": "error"}'))
    waits: list[float] = []

    with (
        anthropic_client(anthropic_api, waits, max_attempts=3) as client,
        pytest.raises(UsageApiError) as caught,
    ):
        client.fetch(START, END)

    assert caught.value.status == 529
    assert len(anthropic_api.requests_to(ANTHROPIC_USAGE)) == 3
    assert waits == [1.0, 2.0]  # exponential backoff without retry-after


def test_anthropic_client_error_is_not_retried(anthropic_api: FakeVendorApi) -> None:
    anthropic_api.serve(
        ANTHROPIC_USAGE,
        None,
        Reply(
            401,
            b'{"type": "error", "error": {"type": "authentication_error", '
            b'"message": "invalid x-api-key"}}',
        ),
    )

    with anthropic_client(anthropic_api) as client, pytest.raises(UsageApiError) as caught:
        client.fetch(START, END)

    assert caught.value.status == 401
    assert "invalid x-api-key" in str(caught.value)
    assert len(anthropic_api.requests_to(ANTHROPIC_USAGE)) == 1


def test_anthropic_fetch_refuses_naive_datetimes(anthropic_api: FakeVendorApi) -> None:
    with anthropic_client(anthropic_api) as client, pytest.raises(ValueError, match="aware"):
        client.fetch(datetime(2025, 8, 1), datetime(2025, 8, 3))


# --- OpenAI -----------------------------------------------------------------------


def test_openai_fetch_follows_next_page_until_has_more_is_false(
    openai_api: FakeVendorApi,
) -> None:
    with openai_client(openai_api) as client:
        records = client.fetch(START, END)

    assert [(r["period_start"], r["model"]) for r in records] == [
        ("2024-11-01T00:00:00Z", "gpt-4o-mini-2024-07-18"),
        ("2024-11-01T00:00:00Z", "gpt-4o-2024-08-06"),
        ("2024-11-02T00:00:00Z", "gpt-4o-mini-2024-07-18"),
    ]
    pages = [dict(seen.query).get("page") for seen in openai_api.requests_to(OPENAI_USAGE)]
    assert pages == [None, OPENAI_PAGE_2]


def test_openai_requests_carry_the_bearer_key_and_unix_window(openai_api: FakeVendorApi) -> None:
    with openai_client(openai_api) as client:
        client.fetch(START, END)

    seen = openai_api.requests_to(OPENAI_USAGE)[0]
    assert seen.headers["authorization"] == "Bearer sk-admin-test"
    assert ("start_time", "1754006400") in seen.query
    assert ("end_time", "1754179200") in seen.query
    assert [value for key, value in seen.query if key == "group_by"] == [
        "model",
        "project_id",
        "api_key_id",
    ]


def test_openai_cached_input_is_counted_apart_from_uncached_input(
    openai_api: FakeVendorApi,
) -> None:
    with openai_client(openai_api) as client:
        first = client.fetch(START, END)[0]

    assert (first["input_tokens"], first["cache_read_input_tokens"], first["output_tokens"]) == (
        1000,
        4000,
        1000,
    )
    assert first["attributes"]["num_model_requests"] == 5


def test_openai_usage_is_left_for_the_price_book_to_cost(openai_api: FakeVendorApi) -> None:
    with openai_client(openai_api) as client:
        records = client.fetch(START, END)

    assert {r["cost_usd"] for r in records} == {None}
    assert {r["provider"] for r in records} == {"openai"}


def test_openai_ids_differ_per_api_key_and_repeat_on_repull(openai_api: FakeVendorApi) -> None:
    with openai_client(openai_api) as client:
        first = [r["id"] for r in client.fetch(START, END)]
        again = [r["id"] for r in client.fetch(START, END)]

    assert first == again
    assert len(set(first)) == 3


def test_openai_429_waits_what_retry_after_says(openai_api: FakeVendorApi) -> None:
    openai_api.serve(
        OPENAI_USAGE,
        OPENAI_PAGE_2,
        recorded("openai", "error_rate_limit.json", 429, **{"retry-after": "1"}),
        recorded("openai", "usage_completions_page2.json"),
    )
    waits: list[float] = []

    with openai_client(openai_api, waits) as client:
        records = client.fetch(START, END)

    assert waits == [1.0]
    assert len(records) == 3


def test_openai_costs_keep_every_digit(openai_api: FakeVendorApi) -> None:
    with openai_client(openai_api) as client:
        lines = client.fetch_costs(START, END)

    assert [line.amount_usd for line in lines] == [
        Decimal("0.06"),
        Decimal("1.234567890123"),
    ]
    assert lines[1].project_id == "proj_abc"
