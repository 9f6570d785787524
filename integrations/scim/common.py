"""What Users and Groups share: reading a body into a model, applying a PATCH, meta."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError
from scim2_models import Context, Error, PatchOp, SCIMException

from integrations.scim.errors import ScimError
from integrations.scim.resources import POLICY


def validation_error(exc: ValidationError) -> ScimError:
    first = Error.from_validation_errors(exc)[0]
    return ScimError(first.status or 400, first.detail or "invalid body", first.scim_type)


def validate(model: Any, payload: Any, ctx: Context) -> Any:
    """The payload as ``model``; a schema break is a 400 naming the attribute."""
    if not isinstance(payload, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    try:
        return model.model_validate(payload, scim_ctx=ctx, scim_policy=POLICY)
    except SCIMException as exc:
        raise ScimError(exc.status, exc.detail, exc.scim_type or None) from exc
    except ValidationError as exc:
        raise validation_error(exc) from exc
    except (ValueError, TypeError) as exc:
        raise ScimError(400, str(exc), "invalidValue") from exc


def _as_sent_by_providers(body: Any, resource_id: str | None) -> Any:
    """Entra ID spells operations "Add", "Replace", "Remove" (RFC 7644: lowercase);
    Okta renames a group with its own ``id`` inside a path-less ``replace`` value."""
    if isinstance(body, dict) and isinstance(body.get("Operations"), list):
        for op in body["Operations"]:
            if not isinstance(op, dict):
                continue
            if isinstance(op.get("op"), str):
                op["op"] = op["op"].lower()
            value = op.get("value")
            if not op.get("path") and isinstance(value, dict) and value.get("id") == resource_id:
                del value["id"]
    return body


def patch_apply(model: Any, resource: Any, body: Any) -> Any:
    """Apply a PatchOp body to a copy of ``resource``; answers the patched copy."""
    body = _as_sent_by_providers(body, resource.id)
    patch = validate(PatchOp[model], body, Context.RESOURCE_PATCH_REQUEST)
    patched = resource.model_copy(deep=True)
    try:
        patch.patch(patched, scim_policy=POLICY)
    except SCIMException as exc:
        raise ScimError(exc.status, exc.detail, exc.scim_type or None) from exc
    except ValidationError as exc:
        raise validation_error(exc) from exc
    except (ValueError, TypeError) as exc:
        raise ScimError(400, str(exc), "invalidValue") from exc
    return patched


def version(body: dict[str, Any]) -> str:
    """A weak ETag from the resource as answered: it changes when anything does."""
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f'W/"{digest[:20]}"'


def with_meta(
    body: dict[str, Any],
    *,
    resource_type: str,
    created: datetime,
    modified: datetime,
    location: str,
) -> dict[str, Any]:
    body.pop("meta", None)
    body["meta"] = {
        "resourceType": resource_type,
        "created": created.isoformat(),
        "lastModified": modified.isoformat(),
        "location": location,
        "version": version(body),
    }
    return body


def as_pk(value: Any) -> int | None:
    """One of our ids, or None when the text cannot be one (so it matches nothing)."""
    text = str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        return None
    return int(text)


def check_length(name: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise ScimError(400, f"{name} is longer than {limit} characters", "invalidValue")
