"""CSV for the reports and listings: ``?format=csv`` or ``Accept: text/csv``.

One line per result row; nested objects become ``parent_child`` columns
(``tokens_input_tokens``, ``denominators_people``); lists are JSON. An error
answer is one row of ``type`` and ``detail``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework.renderers import BaseRenderer


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}_"))
        elif isinstance(value, list | tuple):
            out[name] = orjson.dumps(value, default=str).decode()
        elif value is None:
            out[name] = ""
        elif hasattr(value, "isoformat"):
            out[name] = value.isoformat()
        else:
            out[name] = value
    return out


class CsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        rows = data.get("results") if isinstance(data, Mapping) else data
        if not isinstance(rows, list):
            rows = (
                [{k: data.get(k) for k in ("type", "detail")}] if isinstance(data, Mapping) else []
            )
        flat = [flatten(r) for r in rows if isinstance(r, Mapping)]
        columns: list[str] = []
        for row in flat:
            columns.extend(c for c in row if c not in columns)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
        return buffer.getvalue().encode()
