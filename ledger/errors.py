"""The domain's errors: what a service, selector or query parser refuses, told
without HTTP. ``ledger.http.exception_handler`` maps each to the API's one error
shape (invalid input: 400 ``validation_error``; not found: 404 ``not_found``;
forbidden: 403 ``permission_denied``).

The rule: a domain error is about the values asked for; ``ledger.http.ApiError`` is
for what only the HTTP layer sees (the body's bytes, size, content type and JSON
shape, a ``?format=``), so the ingest API's own 400s on a batch stay ApiErrors.
"""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the caller can act on; ``detail`` is one sentence for people."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(DomainError, ValueError):
    """Input that is not valid; ``errors`` names each bad field: ``{field: [reasons]}``."""

    def __init__(self, detail: str, errors: dict[str, list[str]]) -> None:
        super().__init__(detail)
        self.errors = errors


class NotFound(DomainError):
    """The thing asked for does not exist."""


class Forbidden(DomainError):
    """The caller may not read what it asked for (a team outside its limits)."""


class Conflict(DomainError):
    """The request clashes with what exists (a duplicate email, an alias mapped to
    someone else); ``errors`` names the field, ``existing`` the id of what is there."""

    def __init__(self, detail: str, errors: dict[str, list[str]], existing: int | None) -> None:
        super().__init__(detail)
        self.errors = errors
        self.existing = existing
