"""Meilisearch as the SearchProvider (reference pack: vendor-contracts/meilisearch.md §2-§6).

`Authorization: Bearer`; searches in page mode (`page`/`hitsPerPage`, exhaustive `totalHits`); filters in the array
form (outer AND, inner OR); writes answer 202 with a task that is polled at `GET /tasks/{uid}` until it succeeds or
fails. The document shape and the search plan are shared with the other vendors (`connectors.search.documents`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from operator import itemgetter
from typing import Any
from urllib.parse import quote

import httpx

from connectors.errors import NotFound, VendorRejected
from connectors.http import VendorClient
from connectors.search.base import IndexSettings, SearchDocument, SearchQuery, SearchResult
from connectors.search.documents import (
    MAX_FACET_VALUES,
    AnswerFields,
    Clock,
    Filters,
    PriceLists,
    Sleep,
    TaskPolling,
    amount_field,
    check_settings,
    filterable_attributes,
    gather_all,
    json_body,
    plan_search,
    quoted,
    refusal,
    retrieved_fields,
    search_result,
    sort_order,
    sortable_attributes,
    task_id,
)
from connectors.settings import MeilisearchSettings

VENDOR = "meilisearch"
# `sort` first: a query with a sort is ordered strictly by it, as in the built-in; without one the rule is skipped.
RANKING_RULES = ["sort", "words", "typo", "proximity", "attribute", "exactness"]
_MISSING_INDEX = "index_not_found"
_ANSWER = AnswerFields(
    hits=itemgetter("hits"),
    total=itemgetter("totalHits"),
    facet_counts=lambda answer: answer.get("facetDistribution") or {},
)


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


def meilisearch_filter(filters: Filters) -> list[str | list[str]]:
    """The array form: the outer list is AND, an inner list is OR (meilisearch.md §2, filter syntax)."""
    expression: list[str | list[str]] = [f"price_lists = {quoted(filters.price_list)}"]
    if filters.category_id is not None:
        expression.append(f"category_ids = {filters.category_id}")
    if filters.brands:
        expression.append([f"brand = {quoted(brand)}" for brand in filters.brands])
    for name, values in filters.options:
        expression.append([f"option_values = {quoted(f'{name}:{value}')}" for value in values])
    expression += [f"{filters.amount} {operator} {amount}" for operator, amount in filters.price_bounds]
    if filters.in_stock_only:
        expression.append("in_stock = true")
    return expression


class MeilisearchSearch:
    vendor = VENDOR

    def __init__(
        self,
        settings: MeilisearchSettings,
        *,
        http: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        headers = {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"} if settings.api_key else {}
        self.client = VendorClient(VENDOR, str(settings.url), settings.http, headers=headers, http=http, sleep=sleep)
        self._index = quote(settings.index, safe="")
        self._tasks = TaskPolling(settings.task_timeout_seconds, sleep, clock)
        self._settings = IndexSettings()
        self._price_lists = PriceLists(self._remote_settings, self._price_lists_in)  # amount_<list> attributes

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- plumbing -------------------------------------------------------------------------------------------------

    async def _call(self, method: str, path: str, *, call: str, missing_ok: bool = False, **kwargs: Any) -> Any:
        """The answer's JSON; None when `missing_ok` and the index does not exist."""
        response = await self.client.request(method, path, call=call, retry_safe=True, **kwargs)
        if response.status_code < 400:
            return json_body(response, VENDOR)
        code = _error_code(response)
        if missing_ok and code == _MISSING_INDEX:
            return None
        raise refusal(response, VENDOR, code)  # invalid_search_filter, invalid_search_sort, payload_too_large…

    async def _wait(self, summary: Mapping[str, Any], *, missing_ok: bool = False) -> None:
        """Polls `GET /tasks/{uid}` until the task succeeded; a failed task is refused with the task's error."""
        uid = task_id(summary, "taskUid", VENDOR)

        async def pending() -> str | None:
            task = await self._call("GET", f"/tasks/{uid}", call="task")
            status = task.get("status") if isinstance(task, dict) else None
            if status == "succeeded":
                return None
            if status in ("failed", "canceled"):
                error = task.get("error") or {}
                code = str(error.get("code", status))
                if missing_ok and code == _MISSING_INDEX:
                    return None
                message = f"{VENDOR}: task {uid} ({task.get('type')}) {status}: {error.get('message', status)} ({code})"
                if code == _MISSING_INDEX:
                    raise NotFound(message, vendor=VENDOR)
                raise VendorRejected(message, vendor=VENDOR)
            return f"task {uid} still {status}"

        await self._tasks.until_done(pending, VENDOR)

    async def _write(self, method: str, path: str, *, call: str, missing_ok: bool = False, **kwargs: Any) -> None:
        """A write is done when its task is: the 202 only means queued (meilisearch.md §4)."""
        summary = await self._call(method, path, call=call, missing_ok=missing_ok, **kwargs)
        if summary is not None:
            await self._wait(summary, missing_ok=missing_ok)

    async def _remote_settings(self) -> dict[str, Any]:
        settings = await self._call("GET", f"/indexes/{self._index}/settings", call="get_settings", missing_ok=True)
        return settings if isinstance(settings, dict) else {}

    @staticmethod
    def _price_lists_in(remote: Mapping[str, Any]) -> set[str]:
        prefix = amount_field("")
        names = [*(remote.get("filterableAttributes") or []), *(remote.get("sortableAttributes") or [])]
        return {a.removeprefix(prefix) for a in names if isinstance(a, str) and a.startswith(prefix)}

    async def _add_price_lists(self, remote: Mapping[str, Any], known: set[str], needed: set[str]) -> None:
        """Price lists are attribute names: a list first seen in a write is made filterable and sortable first."""
        if "price_lists" not in (remote.get("filterableAttributes") or []):
            await self._patch_settings(known | needed)  # an index we never set up: the whole configuration
        else:
            body: dict[str, list[Any]] = {}
            for key, chosen in (
                ("filterableAttributes", self._settings.filterable),
                ("sortableAttributes", self._settings.sortable),
            ):
                current = list(remote.get(key) or [])
                new = [amount_field(pl) for pl in sorted(needed) if amount_field(pl) not in current]
                if new and "prices" in chosen:
                    body[key] = current + new
            if body:  # a PATCH replaces each list it names, so the lists are sent whole
                await self._write("PATCH", f"/indexes/{self._index}/settings", call="settings", json=body)

    async def _patch_settings(self, price_lists: set[str]) -> None:
        body = {
            "searchableAttributes": list(self._settings.searchable),
            "filterableAttributes": filterable_attributes(self._settings, price_lists),
            "sortableAttributes": sortable_attributes(self._settings, price_lists),
            "rankingRules": RANKING_RULES,
            "faceting": {"maxValuesPerFacet": MAX_FACET_VALUES},
        }
        await self._write("PATCH", f"/indexes/{self._index}/settings", call="settings", json=body)

    # -- SearchProvider -------------------------------------------------------------------------------------------

    async def search(self, query: SearchQuery) -> SearchResult:
        plan = plan_search(query, VENDOR)
        body: dict[str, Any] = {
            "q": plan.text,
            "filter": meilisearch_filter(plan.filters),
            "page": query.page,
            "hitsPerPage": query.per_page,
            "attributesToRetrieve": retrieved_fields(query.price_list),
        }
        if order := sort_order(query.sort, query.price_list):
            body["sort"] = [":".join(order)]
        if plan.facets:
            body["facets"] = list(plan.facets)
        passes = [
            {"q": plan.text, "filter": meilisearch_filter(p.filters), "facets": [p.attribute], "limit": 0}
            for p in plan.passes
        ]
        path = f"/indexes/{self._index}/search"
        main, *counted = await gather_all(*(self._call("POST", path, call="search", json=b) for b in [body, *passes]))
        return search_result(plan, main, counted, _ANSWER, VENDOR)

    async def index_documents(self, documents: list[SearchDocument]) -> None:
        """Add or replace (POST replaces whole documents, meilisearch.md §3), then wait for the task."""
        if records := await self._price_lists.prepare(documents, VENDOR, self._add_price_lists):
            await self._write(
                "POST", f"/indexes/{self._index}/documents", call="index", params={"primaryKey": "id"}, json=records
            )

    async def delete_documents(self, ids: list[int]) -> None:
        if ids:
            await self._write(
                "POST",
                f"/indexes/{self._index}/documents/delete-batch",
                call="delete",
                missing_ok=True,
                json=[str(i) for i in sorted(set(ids))],
            )

    async def apply_settings(self, settings: IndexSettings) -> None:
        check_settings(settings, VENDOR)
        self._settings = settings
        await self._patch_settings(await self._price_lists.known())

    async def clear(self) -> None:
        await self._write("DELETE", f"/indexes/{self._index}/documents", call="clear", missing_ok=True)


def build(settings: MeilisearchSettings) -> MeilisearchSearch:
    return MeilisearchSearch(settings)


__all__ = ["MeilisearchSearch", "build"]
