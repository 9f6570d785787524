"""The POST an admin change form would send as rendered (for tests that then alter it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _value(field: Any) -> Any:
    value = field.value()
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return "on" if value else ""
    return value


def _put(data: dict[str, Any], bound: Any) -> None:
    value = _value(bound)
    if isinstance(value, datetime):  # the admin's split date and time inputs
        data[f"{bound.html_name}_0"] = f"{value:%Y-%m-%d}"
        data[f"{bound.html_name}_1"] = f"{value:%H:%M:%S}"
    elif value != "":
        data[bound.html_name] = value


def form_data(response: Any) -> dict[str, Any]:
    """The data of the page's model form and of every inline formset, as a browser
    would post them unchanged."""
    data: dict[str, Any] = {}
    context = response.context
    form = context["adminform"].form
    for bound in form:
        _put(data, bound)
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        for bound in formset.management_form:
            data[bound.html_name] = _value(bound)
        for sub in formset.forms:
            for bound in sub:
                _put(data, bound)
    return data


def add_inline_row(data: dict[str, Any], prefix: str, **fields: Any) -> None:
    """One more row in the inline formset ``prefix`` (e.g. ``memberships``)."""
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    for name, value in fields.items():
        data[f"{prefix}-{index}-{name}"] = value
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
