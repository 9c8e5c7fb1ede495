"""The commerce JSON API under /api. Catalog reads are shareable by caches; carts and orders never are."""

from __future__ import annotations

import hmac
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors import ConnectorError, NotFound, ProductUpdate, SearchQuery, VendorRejected
from origin.api_models import (
    AddLineBody,
    CartOut,
    CheckoutOut,
    CreateCartBody,
    CreatedCartOut,
    OrderOut,
    UpdateLineBody,
)
from origin.checkout import CheckoutBody
from origin.errors import DomainError, InvalidRequest, ResourceNotFound
from origin.markets import MARKET_HEADER
from origin.openapi import openapi_document
from origin.problems import from_connector_error, from_domain_error, from_validation_error, problem
from origin.responses import dumps
from origin.store import Store

M = TypeVar("M", bound=BaseModel)
_SORTS = ("featured", "newest", "price_asc", "price_desc", "title")
_SEARCH_SORTS = ("relevance", "price_asc", "price_desc", "newest", "title")
_RESERVED_SEARCH_PARAMS = frozenset(
    {"q", "sort", "page", "per_page", "category", "brand", "price_min", "price_max", "in_stock", "market"}
)


# Every API body is a small JSON document; anything larger is refused before it is buffered.
MAX_BODY_BYTES = 64 * 1024


class PayloadTooLarge(DomainError):
    status = 413
    type_slug = "payload-too-large"
    title = "Request body too large"


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdecimal() and int(declared) > limit:
        raise PayloadTooLarge(f"send at most {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"send at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_json(request: Request, model: type[M], *, allow_empty: bool = False) -> M:
    raw = await read_body(request)
    if not raw and allow_empty:
        return model()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    return model.model_validate_json(raw)


class UnsupportedMediaType(DomainError):
    status = 415
    type_slug = "unsupported-media-type"
    title = "Unsupported media type"


def int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer", fields={name: "not an integer"}) from None
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}", fields={name: f"between {low} and {high}"})
    return value


def choice_param(request: Request, name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name) or default
    if value not in choices:
        raise InvalidRequest(f"{name} must be one of: {', '.join(choices)}", fields={name: "unknown value"})
    return value


class Api:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.routes = [
            Route("/api/openapi.json", self.openapi, methods=["GET"]),
            Route("/api/categories", self.categories, methods=["GET"]),
            Route("/api/products", self.products, methods=["GET"]),
            Route("/api/products/{handle}", self.product, methods=["GET"]),
            Route("/api/search", self.search, methods=["GET"]),
            Route("/api/carts", self.create_cart, methods=["POST"]),
            Route("/api/carts/{cart_id}", self.get_cart, methods=["GET"]),
            Route("/api/carts/{cart_id}/lines", self.add_line, methods=["POST"]),
            Route("/api/carts/{cart_id}/lines/{line_id}", self.update_line, methods=["PATCH"]),
            Route("/api/carts/{cart_id}/lines/{line_id}", self.remove_line, methods=["DELETE"]),
            Route("/api/checkout", self.checkout, methods=["POST"]),
            Route("/api/orders/{order_id}", self.order, methods=["GET"]),
            Route("/api/admin/products/{product_id:int}", self.update_product, methods=["PUT", "PATCH"]),
        ]
        self._openapi: bytes | None = None

    def _market(self, request: Request) -> Any:
        explicit = request.query_params.get("market")
        if explicit is not None:
            market = self.store.markets.get(explicit)
            if market is None:
                ids = ", ".join(m.id for m in self.store.markets.markets)
                raise InvalidRequest(f"unknown market {explicit!r}", fields={"market": f"one of: {ids}"})
            return market
        return self.store.markets.resolve(request.headers.get(MARKET_HEADER))

    async def openapi(self, request: Request) -> Response:
        if self._openapi is None:
            self._openapi = dumps(openapi_document())
        return self.store.responses.shared(
            request, self._openapi, media_type="application/json", keys=["openapi"], vary_market=False
        )

    async def categories(self, request: Request) -> Response:
        tree = await self.store.catalog.tree()
        payload = [{**node.category.model_dump(), "path": [c.slug for c in node.trail]} for node in tree.by_id.values()]
        return self.store.responses.shared_json(request, {"categories": payload}, keys=["categories"])

    async def products(self, request: Request) -> Response:
        market = self._market(request)
        category_id = None
        keys = ["products"]
        slug = request.query_params.get("category")
        if slug:
            node = await self.store.catalog.category(slug)
            category_id = node.category.id
            keys.append(f"category:{category_id}")
        page = await self.store.catalog.products(
            market,
            category_id=category_id,
            page=int_param(request, "page", 1, low=1, high=10_000),
            per_page=int_param(request, "per_page", 24, low=1, high=100),
            sort=choice_param(request, "sort", _SORTS, "featured"),  # type: ignore[arg-type]
        )
        keys.extend(f"product:{p.id}" for p in page.items)
        return self.store.responses.shared_json(
            request, {**page.model_dump(mode="json"), "market": market.id}, keys=keys
        )

    async def product(self, request: Request) -> Response:
        market = self._market(request)
        product = await self.store.catalog.product(request.path_params["handle"], market)
        return self.store.responses.shared_json(
            request,
            {**product.model_dump(mode="json"), "market": market.id},
            keys=[f"product:{product.id}", f"category:{product.category_id}"],
        )

    async def search(self, request: Request) -> Response:
        market = self._market(request)
        query = self.search_query(request, market.price_list)
        result = await self.store.catalog.search(query)
        return self.store.responses.shared_json(
            request, {**result.model_dump(mode="json"), "query": query.text, "market": market.id}, keys=["search"]
        )

    def search_query(self, request: Request, price_list: str) -> SearchQuery:
        """Filters are plain query parameters: `brand=`, `category=<id>`, `price_min=`, and any option name."""
        params = request.query_params
        options = {name.title(): params.getlist(name) for name in params if name not in _RESERVED_SEARCH_PARAMS}
        category = params.get("category")
        try:
            return SearchQuery(
                text=params.get("q", "")[:200],
                category_id=int(category) if category else None,
                options={k: v for k, v in options.items() if v and all(v)},
                brands=params.getlist("brand"),
                price_list=price_list,
                price_min=int(params["price_min"]) if params.get("price_min") else None,
                price_max=int(params["price_max"]) if params.get("price_max") else None,
                in_stock_only=params.get("in_stock") in ("1", "true"),
                sort=choice_param(request, "sort", _SEARCH_SORTS, "relevance"),  # type: ignore[arg-type]
                page=int_param(request, "page", 1, low=1, high=1000),
                per_page=int_param(request, "per_page", 24, low=1, high=100),
            )
        except ValueError as exc:
            if isinstance(exc, ValidationError):
                raise
            raise InvalidRequest("category, price_min and price_max must be integers") from None

    async def _cart_response(self, cart_id: str, status_code: int = 200) -> Response:
        cart = await self.store.carts.get(cart_id)
        priced = await self.store.carts.price(cart)
        return self.store.responses.private_json(CartOut.of(priced).model_dump(mode="json"), status_code=status_code)

    async def create_cart(self, request: Request) -> Response:
        body = await parse_json(request, CreateCartBody, allow_empty=True)
        if body.market is not None:
            market = self.store.markets.get(body.market)
            if market is None:
                raise InvalidRequest(f"unknown market {body.market!r}", fields={"market": "unknown"})
        else:
            market = self.store.markets.resolve(request.headers.get(MARKET_HEADER))
        cart = await self.store.carts.create(market)
        response = self.store.responses.private_json(CreatedCartOut(id=cart.id).model_dump(), status_code=201)
        response.headers["Location"] = f"/api/carts/{cart.id}"
        return response

    async def get_cart(self, request: Request) -> Response:
        return await self._cart_response(request.path_params["cart_id"])

    async def add_line(self, request: Request) -> Response:
        body = await parse_json(request, AddLineBody)
        cart = await self.store.carts.add_line(request.path_params["cart_id"], body.variant_id, body.quantity)
        return await self._cart_response(cart.id, status_code=201)

    async def update_line(self, request: Request) -> Response:
        body = await parse_json(request, UpdateLineBody)
        cart = await self.store.carts.set_quantity(
            request.path_params["cart_id"], request.path_params["line_id"], body.quantity
        )
        return await self._cart_response(cart.id)

    async def remove_line(self, request: Request) -> Response:
        cart = await self.store.carts.remove_line(request.path_params["cart_id"], request.path_params["line_id"])
        return await self._cart_response(cart.id)

    async def checkout(self, request: Request) -> Response:
        body = await parse_json(request, CheckoutBody)
        result = await self.store.checkout.checkout(body, request.headers.get("idempotency-key"))
        out = CheckoutOut(order_id=result.order.id, status=result.order.status, order_token=result.order_token)
        response = self.store.responses.private_json(out.model_dump(), status_code=201)
        response.headers["Location"] = f"/api/orders/{result.order.id}"
        return response

    def _require_admin(self, request: Request) -> None:
        token = self.store.settings.admin_token
        if token is None or not token.get_secret_value():  # empty: unset (an empty bearer would match it)
            raise ResourceNotFound("the admin API is off: set origin.admin_token to turn it on")
        supplied = (request.headers.get("authorization") or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), token.get_secret_value().encode()):
            raise Unauthorized("send the admin token as Authorization: Bearer <token>")

    async def update_product(self, request: Request) -> Response:
        """A merchant's edit; the search index and every edge node learn about it at once."""
        self._require_admin(request)
        update = await parse_json(request, ProductUpdate)
        product_id = request.path_params["product_id"]
        try:
            record = await self.store.connectors.commerce.update_product(product_id, update)
        except NotFound as exc:
            raise ResourceNotFound(f"no product {product_id}") from exc
        except VendorRejected as exc:
            raise InvalidRequest(str(exc)) from exc
        await self.store.events.products_changed([record.id])
        return self.store.responses.private_json(record.model_dump(mode="json"))

    async def order(self, request: Request) -> Response:
        token = request.query_params.get("token") or request.headers.get("x-order-token")
        order = await self.store.checkout.get_order(request.path_params["order_id"], token)
        return self.store.responses.private_json(OrderOut.of(order).model_dump(mode="json"))


class Unauthorized(DomainError):
    status = 401
    type_slug = "unauthorized"
    title = "Unauthorized"


def api_problem_handlers() -> dict[Any, Any]:
    """Exception handlers that answer API (and form) errors with RFC 9457 bodies."""

    async def on_domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        return from_domain_error(request, exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ValidationError)
        return from_validation_error(request, exc)

    async def on_connector_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConnectorError)
        return from_connector_error(request, exc)

    async def on_method_not_allowed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        response = problem(
            405,
            "method-not-allowed",
            "Method not allowed",
            f"{request.method} is not allowed here",
            instance=request.url.path,
        )
        response.headers.update(exc.headers or {})  # Allow
        return response

    return {
        DomainError: on_domain_error,
        ValidationError: on_validation_error,
        ConnectorError: on_connector_error,
        405: on_method_not_allowed,
    }


__all__ = ["Api", "api_problem_handlers", "problem"]
