"""Typesense as the SearchProvider (reference pack: vendor-contracts/typesense.md).

- Auth: `X-TYPESENSE-API-KEY` on every call.
- Search: `GET /collections/{collection}/documents/search` with query-string parameters: `q` (`*` matches every
  document), `query_by` (the searchable fields), `filter_by` (`field:=value`, `field:=[a,b]` for any of, `&&`),
  `sort_by`, `facet_by`, `max_facet_values`, 1-based `page`, `per_page`. Sorting is strict, as in the built-in.
- The collection has a schema: `apply_settings` creates it, or alters the fields that differ (drop and add in
  one PATCH). Per price list amounts match the field pattern `amount_.*`, so a new price list needs no change.
- Writes are synchronous: `POST …/documents/import?action=upsert` with JSON lines answers one result line per
  document, HTTP 200 even when some lines failed, so every line is checked.

The document shape and the search plan are shared with the other vendors (`connectors.search.documents`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from operator import itemgetter
from typing import Any
from urllib.parse import quote

import httpx

from connectors.errors import VendorRejected
from connectors.http import VendorClient
from connectors.search.base import IndexSettings, SearchDocument, SearchQuery, SearchResult
from connectors.search.documents import (
    MAX_FACET_VALUES,
    AnswerFields,
    Filters,
    Sleep,
    amount_field,
    check_settings,
    gather_all,
    json_body,
    plan_search,
    refusal,
    retrieved_fields,
    search_result,
    sort_order,
    vendor_documents,
)
from connectors.settings import TypesenseSettings

VENDOR = "typesense"
_FIELD_KEYS = ("name", "type", "facet", "optional", "sort")
# Shown when a write fails on some documents: enough to find them, short enough for a log line.
_SHOWN_FAILURES = 3


def _value(value: str) -> str:
    # Backticks quote a value with spaces or commas; a value holding one cannot be expressed.
    if "`" in value:
        raise VendorRejected(f"{VENDOR}: cannot filter on a value with a backtick: {value!r}", vendor=VENDOR)
    return f"`{value}`"


def typesense_filter(filters: Filters) -> str:
    parts = [f"price_lists:=[{_value(filters.price_list)}]"]
    if filters.category_id is not None:
        parts.append(f"category_ids:={filters.category_id}")
    if filters.brands:
        parts.append(f"brand:=[{', '.join(_value(b) for b in filters.brands)}]")
    for name, values in filters.options:
        parts.append(f"option_values:=[{', '.join(_value(f'{name}:{v}') for v in values)}]")
    parts += [f"{filters.amount}:{operator}{amount}" for operator, amount in filters.price_bounds]
    if filters.in_stock_only:
        parts.append("in_stock:=true")
    return " && ".join(parts)


def schema_fields(settings: IndexSettings) -> list[dict[str, Any]]:
    """The indexed fields; the others (handle, images, currencies) are stored with the document, not indexed."""
    filterable, sortable = set(settings.filterable), set(settings.sortable)

    def field(
        name: str, kind: str, *, facet: bool = False, sort: bool = False, optional: bool = False
    ) -> dict[str, Any]:
        return {"name": name, "type": kind, "facet": facet, "optional": optional, "sort": sort}

    return [
        field("title", "string", sort="title" in sortable),
        field("description", "string"),
        field("brand", "string", facet="brand" in filterable),
        field("category_names", "string[]"),
        field("category_ids", "int64[]"),
        field("category_values", "string[]", facet="category_ids" in filterable),
        field("option_values", "string[]", facet="options" in filterable),
        field("price_lists", "string[]"),
        field("price_ranges", "string[]", facet="prices" in filterable),
        field(amount_field(".*"), "int64", optional=True, sort="prices" in sortable),
        field("in_stock", "bool"),
        field("created_at", "int64", sort="created_at" in sortable),
    ]


def _comparable(field: dict[str, Any]) -> dict[str, Any]:
    numeric = str(field.get("type", "")).startswith(("int", "float"))
    defaults = {"facet": False, "optional": False, "sort": numeric}
    return {key: field.get(key, defaults.get(key)) for key in _FIELD_KEYS}


class TypesenseSearch:
    vendor = VENDOR

    def __init__(
        self, settings: TypesenseSettings, *, http: httpx.AsyncClient | None = None, sleep: Sleep = asyncio.sleep
    ) -> None:
        headers = {"X-TYPESENSE-API-KEY": settings.api_key.get_secret_value()}
        self.client = VendorClient(VENDOR, str(settings.url), settings.http, headers=headers, http=http, sleep=sleep)
        self._name = settings.collection
        self._collection = f"/collections/{quote(settings.collection, safe='')}"
        self._settings = IndexSettings()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _call(
        self, method: str, path: str, *, call: str, missing_ok: bool = False, raw: bool = False, **kwargs: Any
    ) -> Any:
        """The answer's JSON (the response itself when `raw`); None when `missing_ok` and it is not found."""
        response = await self.client.request(method, path, call=call, retry_safe=True, **kwargs)
        status = response.status_code
        if status < 400:
            return response if raw else json_body(response, VENDOR)
        if status == 404 and missing_ok:
            return None
        hint = f": is there a collection {self._name!r}? `wrangler-py search reindex` creates it"
        raise refusal(response, VENDOR, str(status), hint)  # 400 bad filter or field, 409 conflict, 422 unprocessable

    async def search(self, query: SearchQuery) -> SearchResult:
        plan = plan_search(query, VENDOR)
        common = {"q": plan.text or "*", "query_by": ",".join(self._settings.searchable)}
        params: dict[str, Any] = {
            **common,
            "filter_by": typesense_filter(plan.filters),
            "page": query.page,
            "per_page": query.per_page,
            "include_fields": ",".join(retrieved_fields(query.price_list)),
        }
        if order := sort_order(query.sort, query.price_list):
            params["sort_by"] = ":".join(order)
        if plan.facets:
            params |= {"facet_by": ",".join(plan.facets), "max_facet_values": MAX_FACET_VALUES}
        passes = [
            {
                **common,
                "filter_by": typesense_filter(p.filters),
                "facet_by": p.attribute,
                "max_facet_values": MAX_FACET_VALUES,
                "per_page": 0,
            }
            for p in plan.passes
        ]
        path = f"{self._collection}/documents/search"
        main, *counted = await gather_all(
            *(self._call("GET", path, call="search", params=p) for p in [params, *passes])
        )
        return search_result(plan, main, counted, _ANSWER, VENDOR)

    async def index_documents(self, documents: list[SearchDocument]) -> None:
        """Upserts (whole documents, replaced by id) and checks each line of the answer."""
        records = vendor_documents(documents, VENDOR)
        if not records:
            return
        body = "\n".join(json.dumps(record, ensure_ascii=False) for record in records).encode()
        response = await self._call(
            "POST",
            f"{self._collection}/documents/import",
            call="index",
            raw=True,
            params={"action": "upsert"},
            content=body,
            headers={"Content-Type": "application/octet-stream"},
        )
        failures: list[str] = []
        for line in response.text.splitlines():
            outcome = _line(line)
            if outcome is not None and not outcome.get("success"):
                failures.append(f"{outcome.get('error', 'refused')} ({_document_id(outcome.get('document'))})")
        if failures:
            count = f"{len(failures)} of {len(records)} documents"
            shown = "; ".join(failures[:_SHOWN_FAILURES]) + ("; …" if len(failures) > _SHOWN_FAILURES else "")
            raise VendorRejected(f"{VENDOR}: {count} refused, the others were written: {shown}", vendor=VENDOR)

    async def delete_documents(self, ids: list[int]) -> None:
        # One call per document (typesense.md, Indexing); a document already gone is not an error.
        await gather_all(
            *(
                self._call("DELETE", f"{self._collection}/documents/{i}", call="delete", missing_ok=True)
                for i in sorted(set(ids))
            )
        )

    async def apply_settings(self, settings: IndexSettings) -> None:
        check_settings(settings, VENDOR)
        self._settings = settings
        desired = schema_fields(settings)
        current = await self._call("GET", self._collection, call="get_collection", missing_ok=True)
        if current is None:
            await self._call(
                "POST", "/collections", call="create_collection", json={"name": self._name, "fields": desired}
            )
            return
        existing = {f["name"]: _comparable(f) for f in current.get("fields", [])}
        changes: list[dict[str, Any]] = []
        for field in desired:
            if field["name"] not in existing:
                changes.append(field)
            elif existing[field["name"]] != _comparable(field):
                changes += [{"name": field["name"], "drop": True}, field]
        if changes:
            await self._call("PATCH", self._collection, call="alter_collection", json={"fields": changes})

    async def clear(self) -> None:
        """Drops the collection and creates it again with the same fields: the one call that empties it at once."""
        current = await self._call("GET", self._collection, call="get_collection", missing_ok=True)
        if current is None:
            return
        fields = [{k: f[k] for k in _FIELD_KEYS if k in f} for f in current.get("fields", [])]
        await self._call("DELETE", self._collection, call="clear", missing_ok=True)
        await self._call("POST", "/collections", call="create_collection", json={"name": self._name, "fields": fields})


def _facet_counts(answer: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {
        facet["field_name"]: {str(c["value"]): int(c["count"]) for c in facet.get("counts", [])}
        for facet in answer.get("facet_counts") or []
    }


def _documents(answer: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    return (hit["document"] for hit in answer["hits"])


_ANSWER = AnswerFields(hits=_documents, total=itemgetter("found"), facet_counts=_facet_counts)


def _line(line: str) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        outcome = json.loads(line)
    except ValueError:
        return {"success": False, "error": f"unreadable result line {line[:80]!r}"}
    return outcome if isinstance(outcome, dict) else {"success": False, "error": "unreadable result line"}


def _document_id(document: object) -> str:
    try:
        return f"document {json.loads(str(document))['id']}"
    except (ValueError, KeyError, TypeError):
        return "document unknown"


def build(settings: TypesenseSettings) -> TypesenseSearch:
    return TypesenseSearch(settings)


__all__ = ["TypesenseSearch", "build"]
