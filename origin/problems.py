"""RFC 9457 problem details for every API error, so clients get one machine-readable error shape."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from origin.errors import DomainError, InvalidRequest

PROBLEM_BASE = "https://edgeshop.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem(status: int, slug: str, title: str, detail: str, *, instance: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={"Cache-Control": "no-store"},
    )


def from_domain_error(request: Request, exc: DomainError) -> Response:
    extra = dict(exc.extra)
    if isinstance(exc, InvalidRequest) and exc.fields:
        extra["errors"] = [{"field": name, "message": msg} for name, msg in exc.fields.items()]
    return problem(exc.status, exc.type_slug, exc.title, exc.detail, instance=request.url.path, **extra)


def from_validation_error(request: Request, exc: ValidationError) -> Response:
    errors = [
        {"field": ".".join(str(part) for part in err["loc"]) or "body", "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(
        422, "invalid-request", "Your request has invalid fields", detail, instance=request.url.path, errors=errors
    )
