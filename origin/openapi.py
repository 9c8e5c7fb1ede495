"""The OpenAPI 3.1 document of the JSON API, generated from the same pydantic models the handlers use."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from connectors import Category, Product, ProductPage, SearchResult
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

REF = "#/components/schemas/"


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, str]] | None = None


def _json(schema: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": REF + schema}}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": {"$ref": REF + "Problem"}}}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_MARKET = _query("market", "market id (default: the X-Market header, else the store's default market)")
_PAGING = [
    _query("page", "1-based page", {"type": "integer", "minimum": 1, "default": 1}),
    _query("per_page", "items per page", {"type": "integer", "minimum": 1, "maximum": 100, "default": 24}),
]
_CACHED = "Cacheable by shared caches: Cache-Control with s-maxage and stale-while-revalidate, ETag, Surrogate-Key."
_PRIVATE = "Per shopper: Cache-Control: private, no-store."


def openapi_document() -> dict[str, Any]:
    models: list[type[BaseModel]] = [
        Category,
        Product,
        ProductPage,
        SearchResult,
        CartOut,
        CreatedCartOut,
        CheckoutOut,
        OrderOut,
        CheckoutBody,
        AddLineBody,
        UpdateLineBody,
        CreateCartBody,
        Problem,
    ]
    _, schemas = models_json_schema([(m, "validation") for m in models], ref_template=REF + "{model}")
    paths: dict[str, Any] = {
        "/api/categories": {
            "get": {
                "summary": "All categories (nested by parent_id)",
                "description": _CACHED,
                "responses": {"200": {"description": "categories"}},
            }
        },
        "/api/products": {
            "get": {
                "summary": "List products",
                "description": _CACHED,
                "parameters": [
                    _query("category", "category slug (includes subcategories)"),
                    _query("sort", "order", {"enum": ["featured", "newest", "price_asc", "price_desc", "title"]}),
                    *_PAGING,
                    _MARKET,
                ],
                "responses": {
                    "200": {"description": "a page of products", **_json("ProductPage")},
                    "404": _problem("unknown category"),
                    "422": _problem("bad parameter"),
                },
            }
        },
        "/api/products/{handle}": {
            "get": {
                "summary": "One product with its variants and their available quantity",
                "description": _CACHED,
                "parameters": [_path("handle"), _MARKET],
                "responses": {"200": {"description": "the product", **_json("Product")}, "404": _problem("no product")},
            }
        },
        "/api/search": {
            "get": {
                "summary": "Full-text search with filters and facets",
                "description": _CACHED + " Any other parameter filters on the product option of that name (Color=Red).",
                "parameters": [
                    _query("q", "text, prefix matched"),
                    _query("category", "category id"),
                    _query("brand", "brand, repeatable"),
                    _query("price_min", "minor units"),
                    _query("price_max", "minor units"),
                    _query("in_stock", "1 to hide sold-out products"),
                    _query("sort", "order", {"enum": ["relevance", "price_asc", "price_desc", "newest", "title"]}),
                    *_PAGING,
                    _MARKET,
                ],
                "responses": {
                    "200": {"description": "hits and facets", **_json("SearchResult")},
                    "422": _problem("bad parameter"),
                },
            }
        },
        "/api/carts": {
            "post": {
                "summary": "Create a cart",
                "description": _PRIVATE,
                "requestBody": {"required": False, **_json("CreateCartBody")},
                "responses": {
                    "201": {"description": "the new cart's unguessable id", **_json("CreatedCartOut")},
                    "422": _problem("unknown market"),
                },
            }
        },
        "/api/carts/{cart_id}": {
            "get": {
                "summary": "A cart with server-computed totals",
                "description": _PRIVATE,
                "parameters": [_path("cart_id")],
                "responses": {"200": {"description": "the cart", **_json("CartOut")}, "404": _problem("no cart")},
            }
        },
        "/api/carts/{cart_id}/lines": {
            "post": {
                "summary": "Add a variant (merges with an existing line)",
                "description": _PRIVATE,
                "parameters": [_path("cart_id")],
                "requestBody": {"required": True, **_json("AddLineBody")},
                "responses": {
                    "201": {"description": "the cart", **_json("CartOut")},
                    "404": _problem("no cart or variant"),
                    "409": _problem("not enough stock"),
                    "422": _problem("quantity outside 1..99"),
                },
            }
        },
        "/api/carts/{cart_id}/lines/{line_id}": {
            "patch": {
                "summary": "Set a line's quantity",
                "description": _PRIVATE,
                "parameters": [_path("cart_id"), _path("line_id")],
                "requestBody": {"required": True, **_json("UpdateLineBody")},
                "responses": {
                    "200": {"description": "the cart", **_json("CartOut")},
                    "404": _problem("no cart or line"),
                    "409": _problem("not enough stock"),
                    "422": _problem("quantity outside 1..99"),
                },
            },
            "delete": {
                "summary": "Remove a line",
                "description": _PRIVATE,
                "parameters": [_path("cart_id"), _path("line_id")],
                "responses": {
                    "200": {"description": "the cart", **_json("CartOut")},
                    "404": _problem("no cart or line"),
                },
            },
        },
        "/api/checkout": {
            "post": {
                "summary": "Place an order from a cart and pay for it",
                "description": _PRIVATE
                + " Idempotent: retrying with the same Idempotency-Key returns the same order and "
                "never charges twice. Prices and totals in the body are ignored.",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "minLength": 8, "maxLength": 255},
                    }
                ],
                "requestBody": {"required": True, **_json("CheckoutBody")},
                "responses": {
                    "201": {"description": "the order", **_json("CheckoutOut")},
                    "402": _problem("payment declined; no order was created"),
                    "404": _problem("no cart"),
                    "409": _problem("out of stock or cart already checked out"),
                    "422": _problem("invalid fields or missing Idempotency-Key"),
                    "503": _problem("payment service down; retry with the same key"),
                },
            }
        },
        "/api/orders/{order_id}": {
            "get": {
                "summary": "An order; needs the order token from checkout",
                "description": _PRIVATE,
                "parameters": [_path("order_id"), _query("token", "the order token (or header X-Order-Token)")],
                "responses": {
                    "200": {"description": "the order", **_json("OrderOut")},
                    "403": _problem("no token"),
                    "404": _problem("no order, or a wrong token"),
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "edgeshop commerce API",
            "version": "1.0.0",
            "description": "Money is integer minor units with an ISO 4217 currency. Errors are RFC 9457.",
        },
        "paths": paths,
        "components": {"schemas": schemas["$defs"]},
    }
