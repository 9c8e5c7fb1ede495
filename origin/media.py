"""Product images of the built-in catalog: drawn as SVG from the URL, so no image files need storing."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors import render_product_svg

# The URL fully determines the bytes, so the image never changes: cache it for a year.
_IMMUTABLE = "public, max-age=31536000, immutable"


async def product_image(request: Request) -> Response:
    params = request.path_params
    try:
        svg = render_product_svg(params["kind"], params["color"], int(params["view"]))
    except ValueError:
        return Response("no such image", status_code=404, media_type="text/plain")
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={
            "Cache-Control": _IMMUTABLE,
            "Surrogate-Key": "media",
            "X-Content-Type-Options": "nosniff",
            # Opened directly, an SVG is a document: it must never run script.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


def media_routes() -> list[Route]:
    return [Route("/media/products/{kind}/{color}/{view:int}.svg", product_image, methods=["GET", "HEAD"])]
