"""ledger.errors through ledger.http.exception_handler: each domain error in the one shape."""

from __future__ import annotations

import pytest

from ledger.errors import DomainError, InvalidInput, NotFound
from ledger.http import exception_handler
from ledger.query import PeriodError


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (
            InvalidInput("A query parameter is not valid.", {"limit": ["between 1 and 500"]}),
            400,
            {
                "type": "validation_error",
                "detail": "A query parameter is not valid.",
                "errors": {"limit": ["between 1 and 500"]},
            },
        ),
        (
            PeriodError("to", "must be after from"),
            400,
            {
                "type": "validation_error",
                "detail": "A query parameter is not valid.",
                "errors": {"to": ["must be after from"]},
            },
        ),
        (
            NotFound("No such work unit."),
            404,
            {"type": "not_found", "detail": "No such work unit."},
        ),
    ],
    ids=["invalid-input", "period", "not-found"],
)
def test_the_handler_answers_each_domain_error_in_the_one_shape(
    error: DomainError, status: int, body: dict[str, object]
) -> None:
    response = exception_handler(error, {})

    assert response is not None
    assert response.status_code == status
    assert response.data == body


def test_a_domain_error_the_api_does_not_know_is_left_to_the_server_error() -> None:
    class Unmapped(DomainError):
        pass

    assert exception_handler(Unmapped("no answer for this"), {}) is None
