"""RFC 9457 problem details for every API error, so clients get one machine-readable error shape."""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from connectors import ConnectorError, NotFound, VendorMisconfigured
from origin.errors import DomainError, InvalidRequest

log = logging.getLogger("edgeshop.origin")

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


def from_connector_error(request: Request, exc: ConnectorError) -> Response:
    """A vendor failure that no service handled: say whose fault it is and whether a retry can help."""
    instance = request.url.path
    if isinstance(exc, NotFound):
        return problem(404, "not-found", "Not found", str(exc), instance=instance)
    if isinstance(exc, VendorMisconfigured):
        # The operator's to fix: the full message (setting names, paths) goes to the log, not to the public.
        log.error("connector misconfigured (%s): %s", exc.vendor, exc)
        return problem(
            500,
            "misconfigured",
            "The store is misconfigured",
            "the operator has been told; please try later",
            instance=instance,
        )
    response = problem(
        503 if exc.retryable else 502,
        "vendor-unavailable" if exc.retryable else "vendor-error",
        "A service the store depends on failed",
        f"{exc.vendor} did not answer; try again shortly" if exc.retryable else f"{exc.vendor} refused the request",
        instance=instance,
        vendor=exc.vendor,
    )
    if exc.retryable:
        response.headers["Retry-After"] = "5"
    return response
