"""Reading the dashboard's numbers back out of its HTML: every figure sits in a
cell with ``data-field`` and the API's exact value in ``data-value``."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

# The attribute that names a row within each table (data-report).
ROW_KEYS = {
    "teams": "data-team",
    "deciles": "data-decile",
    "trend": "data-period",
    "durability": "data-ai",
    "voided": "data-reason",
    "quality": "data-measure",
}


class _Numbers(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.reports: dict[str, dict[str, dict[str, str]]] = {}
        self.links: list[str] = []
        self._report: str | None = None
        self._row: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if "data-report" in a:
            self._report = a["data-report"]
            self.reports.setdefault(self._report, {})
            if self._report == "total":
                self._row = ""
                self.reports["total"][""] = {}
        if self._report and tag == "tr":
            key = ROW_KEYS.get(self._report)
            if key and key in a:
                self._row = a[key]
                self.reports[self._report][self._row] = {}
        if self._report is not None and self._row is not None and "data-field" in a:
            self.reports[self._report][self._row][a["data-field"]] = a.get("data-value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("table", "section") and self._report is not None:
            self._report, self._row = None, None


def page_numbers(html: str) -> tuple[dict[str, dict[str, dict[str, str]]], list[str]]:
    """({report: {row key: {field: data-value}}}, every link on the page)."""
    parser = _Numbers()
    parser.feed(html)
    return parser.reports, parser.links


def as_text(value: Any) -> str:
    """An API value as the page writes it in data-value ("" for null)."""
    return "" if value is None else str(value)
