"""/scim/v2: Users, Groups and the discovery endpoints (RFC 7644).

Authenticated by the API's bearer keys (ledger.auth): ``directory:read`` for GET,
``directory:write`` for writes; ``admin`` holds both. Answers are
``application/scim+json``; every error is a SCIM Error body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError
from scim2_models import Context, ResponseParameters, SCIMException

from integrations.scim import groups, users
from integrations.scim.common import validation_error
from integrations.scim.errors import ScimError, error_response, scim_response
from integrations.scim.filter import groups_filter, users_filter
from integrations.scim.resources import (
    MAX_RESULTS,
    GroupResource,
    UserResource,
    resource_types,
    schemas,
    service_provider_config,
)
from ledger.auth import KEY_PREFIX, bearer_key, principal_for_key
from ledger.models import ApiKey

LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
MAX_BODY = 1_000_000
MAX_INDEX = 2**31 - 1


def _authorize(request: HttpRequest, *, write: bool) -> None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    key = bearer_key(header) if header else None
    if key is None or not key.startswith(KEY_PREFIX) or len(key) > 100:
        raise ScimError(401, "Use Authorization: Bearer <API key>.")
    principal = principal_for_key(key)
    if principal is None:
        raise ScimError(401, "The API key is unknown or has been revoked.")
    needed = [ApiKey.Scope.DIRECTORY_WRITE]
    if not write:
        needed.insert(0, ApiKey.Scope.DIRECTORY_READ)
    if not any(principal.has_scope(scope) for scope in needed):
        raise ScimError(403, f"This API key lacks the scope {' or '.join(needed)}.")
    if principal.teams is not None:
        # As the directory API (ledger.auth.HasScope): the directory spans every team.
        raise ScimError(
            403,
            "This API key is limited to teams, and the directory cannot be limited to "
            "teams (it spans every team): use a key for every team.",
        )


def _body(request: HttpRequest) -> Any:
    raw = request.body
    if len(raw) > MAX_BODY:
        raise ScimError(413, f"the body is larger than {MAX_BODY} bytes", "tooLarge")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ScimError(400, f"the body is not JSON: {exc}", "invalidSyntax") from exc
    if b"\\u0000" in raw:
        raise ScimError(400, "a value holds a NUL character", "invalidValue")
    return payload


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/scim/v2").rstrip("/")


@method_decorator(csrf_exempt, name="dispatch")
class ScimView(View):
    """Runs a handler and turns every ScimError into a SCIM Error body."""

    http_method_names = ["get", "post", "put", "patch", "delete"]
    reading_methods = frozenset({"GET", "HEAD"})

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            query = request.META.get("QUERY_STRING", "")
            if "\x00" in query or "%00" in query:  # PostgreSQL text cannot hold NUL
                raise ScimError(400, "a parameter holds a NUL character", "invalidValue")
            _authorize(request, write=request.method not in self.reading_methods)
            return super().dispatch(request, *args, **kwargs)
        except ScimError as error:
            return error_response(error)

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        raise ScimError(405, f"{request.method} is not supported here")


@dataclass(frozen=True)
class Kind:
    """What the endpoints of one resource type call."""

    name: str
    model: Any
    get: Callable[[str], Any]
    body: Callable[[Any, str], dict[str, Any]]
    create: Callable[[Any, str], Any]
    replace: Callable[[Any, Any, str], Any]
    patch: Callable[[Any, Any, str], Any]
    delete: Callable[[Any], None]
    condition: Callable[[str], Q]
    matching: Callable[[Q], Any]


USERS = Kind(
    name="User",
    model=UserResource,
    get=users.user_get,
    body=users.user_body,
    create=users.user_create,
    replace=users.user_replace,
    patch=users.user_patch,
    delete=users.user_delete,
    condition=users_filter,
    matching=users.users_matching,
)
GROUPS = Kind(
    name="Group",
    model=GroupResource,
    get=groups.group_get,
    body=groups.group_body,
    create=groups.group_create,
    replace=groups.group_replace,
    patch=groups.group_patch,
    delete=groups.group_delete,
    condition=groups_filter,
    matching=groups.groups_matching,
)


@dataclass(frozen=True)
class Query:
    """A listing's parameters, from a GET's query string or a POST .search body."""

    filter: str | None = None
    start: int = 1
    count: int = MAX_RESULTS
    attributes: str | None = None
    excluded: str | None = None


def _int(name: str, raw: Any, default: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise ScimError(400, f"{name} must be an integer", "invalidValue")
    try:
        # Clamped: past the last row is simply an empty page.
        return max(min(int(raw), MAX_INDEX), -MAX_INDEX)
    except (TypeError, ValueError) as exc:
        raise ScimError(
            400, f"{name} must be an integer, not {str(raw)[:40]!r}", "invalidValue"
        ) from exc


def _text_param(name: str, raw: Any) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw or None
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return ",".join(raw) or None
    raise ScimError(400, f"{name} must be a string", "invalidValue")


def _query(params: Any) -> Query:
    return Query(
        filter=_text_param("filter", params.get("filter")),
        start=max(_int("startIndex", params.get("startIndex"), 1), 1),
        count=min(max(_int("count", params.get("count"), MAX_RESULTS), 0), MAX_RESULTS),
        attributes=_text_param("attributes", params.get("attributes")),
        excluded=_text_param("excludedAttributes", params.get("excludedAttributes")),
    )


def _shaped(kind: Kind, body: dict[str, Any], query: Query) -> dict[str, Any]:
    """Apply ``attributes`` / ``excludedAttributes`` (RFC 7644 3.9)."""
    if not query.attributes and not query.excluded:
        return body
    try:
        params = ResponseParameters[kind.model].model_validate(  # type: ignore[name-defined]
            {"attributes": query.attributes, "excludedAttributes": query.excluded}
        )
        resource = kind.model.model_validate(body, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        shaped: dict[str, Any] = resource.model_dump(
            scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params
        )
    except ValidationError as exc:
        raise validation_error(exc) from exc
    except (SCIMException, ValueError) as exc:
        raise ScimError(400, str(exc), "invalidValue") from exc
    return shaped


def _search(kinds: list[Kind], query: Query, base: str) -> HttpResponse:
    """One ListResponse over ``kinds``. At the root a filter naming an attribute one
    type lacks matches none of that type (RFC 7644 3.4.2.1)."""
    selections: list[tuple[Kind, Any]] = []
    errors: list[ScimError] = []
    for kind in kinds:
        try:
            condition = kind.condition(query.filter) if query.filter else Q()
        except ScimError as error:
            errors.append(error)
            continue
        selections.append((kind, kind.matching(condition)))
    if not selections:
        raise errors[0]
    total = 0
    resources: list[dict[str, Any]] = []
    offset, room = query.start - 1, query.count
    for kind, rows in selections:
        try:
            count = rows.count()
        except (ValidationError, DjangoValidationError, DataError) as exc:
            # A value the column cannot hold; the filter's checks should catch it first.
            raise ScimError(
                400, f"the filter compares with an impossible value: {exc}", "invalidFilter"
            ) from exc
        total += count
        if room and offset < count:
            page = list(rows[offset : offset + room])
            resources += [_shaped(kind, kind.body(obj, base), query) for obj in page]
            room -= len(page)
        offset = max(offset - count, 0)
    return scim_response(
        {
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "itemsPerPage": len(resources),
            "startIndex": query.start,
            "Resources": resources,
        }
    )


def _one(kind: Kind, request: HttpRequest, obj: Any, status: int = 200) -> HttpResponse:
    body = kind.body(obj, _base(request))
    headers = {"ETag": body["meta"]["version"]}
    if status == 201:
        headers["Location"] = body["meta"]["location"]
    return scim_response(_shaped(kind, body, _query(request.GET)), status, headers)


def _precondition(request: HttpRequest, kind: Kind, obj: Any) -> None:
    wanted = request.META.get("HTTP_IF_MATCH")
    if not wanted or wanted.strip() == "*":
        return
    current = kind.body(obj, _base(request))["meta"]["version"]
    tags = {t.strip() for t in wanted.split(",")}
    if current not in tags and current.removeprefix("W/") not in tags:
        raise ScimError(412, f"the resource has changed: its version is {current}")


def _search_body(request: HttpRequest) -> Query:
    body = _body(request)
    if not isinstance(body, dict):
        raise ScimError(400, "the body must be a SearchRequest object", "invalidSyntax")
    return _query(body)


class ResourcesView(ScimView):
    kind: Kind

    def get(self, request: HttpRequest) -> HttpResponse:
        return _search([self.kind], _query(request.GET), _base(request))

    def post(self, request: HttpRequest) -> HttpResponse:
        return _one(self.kind, request, self.kind.create(_body(request), _base(request)), 201)


class SearchView(ScimView):
    """POST /Users/.search, /Groups/.search and /.search (RFC 7644 3.4.3)."""

    kinds: list[Kind]
    reading_methods = frozenset({"POST"})

    def post(self, request: HttpRequest) -> HttpResponse:
        return _search(self.kinds, _search_body(request), _base(request))


class ResourceView(ScimView):
    kind: Kind

    def get(self, request: HttpRequest, resource_id: str) -> HttpResponse:
        obj = self.kind.get(resource_id)
        response = _one(self.kind, request, obj)
        if request.META.get("HTTP_IF_NONE_MATCH") == response["ETag"]:
            return scim_response(None, 304, {"ETag": response["ETag"]})
        return response

    def put(self, request: HttpRequest, resource_id: str) -> HttpResponse:
        obj = self.kind.get(resource_id)
        body = _body(request)
        _precondition(request, self.kind, obj)
        return _one(self.kind, request, self.kind.replace(obj, body, _base(request)))

    def patch(self, request: HttpRequest, resource_id: str) -> HttpResponse:
        obj = self.kind.get(resource_id)
        body = _body(request)
        _precondition(request, self.kind, obj)
        return _one(self.kind, request, self.kind.patch(obj, body, _base(request)))

    def delete(self, request: HttpRequest, resource_id: str) -> HttpResponse:
        obj = self.kind.get(resource_id)
        _precondition(request, self.kind, obj)
        self.kind.delete(obj)
        return scim_response(None, 204)


class UsersSearchView(SearchView):
    kinds = [USERS]


class GroupsSearchView(SearchView):
    kinds = [GROUPS]


class RootSearchView(SearchView):
    kinds = [USERS, GROUPS]


class NotFoundView(ScimView):
    """Any other path under /scim/v2: a SCIM 404, after authentication."""

    def _missing(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        raise ScimError(404, f"no endpoint {request.path}")

    get = post = put = patch = delete = _missing


class UsersView(ResourcesView):
    kind = USERS


class UserView(ResourceView):
    kind = USERS


class GroupsView(ResourcesView):
    kind = GROUPS


class GroupView(ResourceView):
    kind = GROUPS


class ServiceProviderConfigView(ScimView):
    def get(self, request: HttpRequest) -> HttpResponse:
        body = service_provider_config()
        body["meta"] = {
            "resourceType": "ServiceProviderConfig",
            "location": f"{_base(request)}/ServiceProviderConfig",
        }
        return scim_response(body)


def _listed(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": len(items),
        "itemsPerPage": len(items),
        "startIndex": 1,
        "Resources": items,
    }


def _named(items: list[dict[str, Any]], name: str | None, what: str) -> HttpResponse:
    if name is None:
        return scim_response(_listed(items))
    for item in items:
        if item["id"] == name:
            return scim_response(item)
    raise ScimError(404, f"no {what} {name!r}")


class ResourceTypesView(ScimView):
    def get(self, request: HttpRequest, name: str | None = None) -> HttpResponse:
        return _named(resource_types(_base(request)), name, "resource type")


class SchemasView(ScimView):
    def get(self, request: HttpRequest, name: str | None = None) -> HttpResponse:
        return _named(schemas(_base(request)), name, "schema")
