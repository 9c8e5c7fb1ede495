"""Algolia as the SearchProvider (Search REST API v1, reference pack: vendor-contracts/algolia.md).

- Hosts: searches and task polls go to the read host `https://{APP_ID}-dsn.algolia.net`, writes to
  `https://{APP_ID}.algolia.net`; a configured `base_url` serves both (a proxy, a test server).
- Auth: `x-algolia-application-id` and `x-algolia-api-key` on every call.
- Search: `POST /1/indexes/{index}/query` with a JSON object of parameters; `page` is 0-based; `filters` in
  Algolia's grammar, OR only inside one attribute's group.
- Sorting is not a query parameter in Algolia: each sort is a standard replica index whose `ranking` starts
  with the sort attribute (`{index}_price_asc_usd`, `{index}_newest`, `{index}_title`), so the order is strict,
  as in the built-in. Price sorts need a replica per price list; the adapter adds them when a price list first
  appears in the documents it indexes.
- Writes: `POST /1/indexes/{index}/batch` (`updateObject` replaces, `deleteObject` deletes), settings by
  `PUT /1/indexes/{index}/settings`; each answers a `taskID`, polled at `GET /1/indexes/{index}/task/{taskID}`
  until `published`.

The document shape and the search plan are shared with the other vendors (`connectors.search.meilisearch`);
`objectID` is the document id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from connectors.errors import NotFound, VendorMisconfigured, VendorRejected, VendorTimeout
from connectors.http import VendorClient
from connectors.search.base import IndexSettings, SearchDocument, SearchQuery, SearchResult
from connectors.search.meilisearch import (
    MAX_FACET_VALUES,
    Clock,
    Filters,
    Sleep,
    TaskClock,
    amount_field,
    check_settings,
    error_message,
    gather_all,
    json_body,
    plan_search,
    result_facets,
    retrieved_fields,
    search_hit,
    task_id,
    vendor_documents,
)
from connectors.settings import AlgoliaSettings

VENDOR = "algolia"
# A standard replica's ranking: the sort first, then Algolia's default criteria (for ties).
_TIE_BREAKERS = ["typo", "geo", "words", "filters", "proximity", "attribute", "exact", "custom"]
# IndexSettings.filterable -> attributesForFaceting; `filterOnly` where no facet is ever counted.
_FACETING: dict[str, tuple[str, ...]] = {
    "category_ids": ("filterOnly(category_ids)", "category_values"),
    "brand": ("brand",),
    "options": ("option_values",),
    "prices": ("price_ranges",),
    "in_stock": ("filterOnly(in_stock)",),
}


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def algolia_filters(filters: Filters) -> str:
    """algolia.md, `filters` grammar: `attr:value`, numeric comparisons, OR groups of one attribute joined by AND."""
    parts = [f"price_lists:{_quoted(filters.price_list)}"]
    if filters.category_id is not None:
        parts.append(f"category_ids:{filters.category_id}")
    if filters.brands:
        parts.append("(" + " OR ".join(f"brand:{_quoted(b)}" for b in filters.brands) + ")")
    for name, values in filters.options:
        parts.append("(" + " OR ".join(f"option_values:{_quoted(f'{name}:{v}')}" for v in values) + ")")
    if filters.price_min is not None:
        parts.append(f"{filters.amount} >= {filters.price_min}")
    if filters.price_max is not None:
        parts.append(f"{filters.amount} <= {filters.price_max}")
    if filters.in_stock_only:
        parts.append("in_stock:true")
    return " AND ".join(parts)


def attributes_for_faceting(settings: IndexSettings) -> list[str]:
    found = ["filterOnly(price_lists)"]
    for name in settings.filterable:
        found += _FACETING[name]
    return list(dict.fromkeys(found))


class AlgoliaSearch:
    vendor = VENDOR

    def __init__(
        self,
        settings: AlgoliaSettings,
        *,
        http: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        headers = {
            "x-algolia-application-id": settings.app_id,
            "x-algolia-api-key": settings.api_key.get_secret_value(),
        }
        self._own_http = http is None
        if http is None:
            timeout = httpx.Timeout(settings.http.read_timeout_seconds, connect=settings.http.connect_timeout_seconds)
            http = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._http = http
        read_url = str(settings.base_url) if settings.base_url else f"https://{settings.app_id}-dsn.algolia.net"
        write_url = str(settings.base_url) if settings.base_url else f"https://{settings.app_id}.algolia.net"
        # One pool, two breakers: the read replicas may answer while the write host does not.
        self.read = VendorClient(VENDOR, read_url, settings.http, headers=headers, http=http, sleep=sleep)
        self.write = VendorClient(VENDOR, write_url, settings.http, headers=headers, http=http, sleep=sleep)
        self._index = settings.index
        self._task_timeout = settings.task_timeout_seconds
        self._sleep = sleep
        self._clock = clock
        self._settings = IndexSettings()
        self._price_lists: set[str] | None = None  # price lists that have their sort replicas

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    # -- plumbing -------------------------------------------------------------------------------------------------

    @staticmethod
    def _path(index: str, rest: str = "") -> str:
        return f"/1/indexes/{quote(index, safe='')}{rest}"

    async def _call(
        self, host: VendorClient, method: str, path: str, *, call: str, missing_ok: bool = False, **kwargs: Any
    ) -> Any:
        """The answer's JSON; None when `missing_ok` and the index does not exist."""
        response = await host.request(method, path, call=call, retry_safe=True, **kwargs)
        status = response.status_code
        if status < 400:
            return json_body(response, VENDOR)
        if status == 404 and missing_ok:
            return None
        message = f"{VENDOR}: {error_message(response)} ({status})"
        if status == 404:
            raise NotFound(f"{message}; `wrangler-py search reindex` creates the index", vendor=VENDOR)
        if status == 402:
            raise VendorMisconfigured(f"{message}: the Algolia plan lacks this feature", vendor=VENDOR)
        raise VendorRejected(message, vendor=VENDOR)  # 400 bad filters, 413 record too big, 422…

    async def _wait(self, index: str, answer: Mapping[str, Any]) -> None:
        """Polls the index's task until `published` (algolia.md, Indexing)."""
        task = task_id(answer, "taskID", VENDOR)
        clock = TaskClock(self._task_timeout, self._sleep, self._clock)
        while True:
            state = await self._call(self.read, "GET", self._path(index, f"/task/{task}"), call="task")
            if isinstance(state, dict) and state.get("status") == "published":
                return
            if clock.expired:
                raise VendorTimeout(
                    f"{VENDOR}: task {task} on {index} not published after {self._task_timeout:g} s "
                    "(raise connectors.search.task_timeout_seconds)",
                    vendor=VENDOR,
                )
            await clock.wait()

    async def _batch(self, requests: list[dict[str, Any]], call: str) -> None:
        answer = await self._call(
            self.write, "POST", self._path(self._index, "/batch"), call=call, json={"requests": requests}
        )
        await self._wait(self._index, answer)

    async def _put_settings(self, index: str, body: Mapping[str, Any]) -> None:
        answer = await self._call(self.write, "PUT", self._path(index, "/settings"), call="settings", json=body)
        await self._wait(index, answer)

    def _replica(self, suffix: str) -> str:
        return f"{self._index}_{suffix}"

    def _price_replicas(self, price_lists: set[str]) -> dict[str, str]:
        if "prices" not in self._settings.sortable:
            return {}
        replicas: dict[str, str] = {}
        for pl in sorted(price_lists):
            replicas[self._replica(f"price_asc_{pl}")] = f"asc({amount_field(pl)})"
            replicas[self._replica(f"price_desc_{pl}")] = f"desc({amount_field(pl)})"
        return replicas

    def _replicas(self, price_lists: set[str]) -> dict[str, str]:
        """Replica name -> the attribute it ranks by, first: `asc(…)` or `desc(…)`."""
        replicas = self._price_replicas(price_lists)
        if "created_at" in self._settings.sortable:
            replicas[self._replica("newest")] = "desc(created_at)"
        if "title" in self._settings.sortable:
            replicas[self._replica("title")] = "asc(title)"
        return replicas

    def _index_for(self, query: SearchQuery) -> str:
        match query.sort:
            case "price_asc" | "price_desc":
                return self._replica(f"{query.sort}_{query.price_list}")
            case "newest" | "title":
                return self._replica(query.sort)
            case _:
                return self._index

    async def _remote_settings(self) -> dict[str, Any]:
        settings = await self._call(
            self.read, "GET", self._path(self._index, "/settings"), call="get_settings", missing_ok=True
        )
        return settings if isinstance(settings, dict) else {}

    def _price_lists_in(self, remote: Mapping[str, Any]) -> set[str]:
        prefix = self._replica("price_asc_")
        names = (str(r).removeprefix("virtual(").removesuffix(")") for r in remote.get("replicas") or [])
        return {name.removeprefix(prefix) for name in names if name.startswith(prefix)}

    def _common_settings(self) -> dict[str, Any]:
        return {
            "searchableAttributes": list(self._settings.searchable),
            "attributesForFaceting": attributes_for_faceting(self._settings),
        }

    async def _configure_replicas(self, replicas: Mapping[str, str]) -> None:
        await gather_all(
            *(
                self._put_settings(name, {**self._common_settings(), "ranking": [rank, *_TIE_BREAKERS]})
                for name, rank in replicas.items()
            )
        )

    async def _configure(self, price_lists: set[str]) -> None:
        """The primary's settings and replica list, then each replica's settings with its ranking."""
        replicas = self._replicas(price_lists)
        await self._put_settings(self._index, {**self._common_settings(), "replicas": list(replicas)})
        await self._configure_replicas(replicas)

    async def _ensure_price_lists(self, needed: set[str]) -> None:
        """A price list first seen here gets its two sort replicas before its documents are written."""
        if self._price_lists is not None and needed <= self._price_lists:
            return
        remote = await self._remote_settings()
        known = self._price_lists_in(remote)
        if not needed <= known:
            if "filterOnly(price_lists)" not in (remote.get("attributesForFaceting") or []):
                await self._configure(known | needed)  # an index we never set up: the whole configuration
            elif new := self._price_replicas(needed - known):
                await self._put_settings(self._index, {"replicas": [*(remote.get("replicas") or []), *new]})
                await self._configure_replicas(new)
        self._price_lists = known | needed

    # -- SearchProvider -------------------------------------------------------------------------------------------

    async def search(self, query: SearchQuery) -> SearchResult:
        plan = plan_search(query, VENDOR)
        body: dict[str, Any] = {
            "query": plan.text,
            "filters": algolia_filters(plan.filters),
            "page": query.page - 1,
            "hitsPerPage": query.per_page,
            "attributesToRetrieve": retrieved_fields(query.price_list),
            "attributesToHighlight": [],
        }
        if plan.facets:
            body |= {"facets": list(plan.facets), "maxValuesPerFacet": MAX_FACET_VALUES}
        passes = [
            {
                "query": plan.text,
                "filters": algolia_filters(p.filters),
                "facets": [p.attribute],
                "maxValuesPerFacet": MAX_FACET_VALUES,
                "hitsPerPage": 0,
                "page": 0,
                "analytics": False,
            }
            for p in plan.passes
        ]
        main, *counted = await gather_all(
            self._call(self.read, "POST", self._path(self._index_for(query), "/query"), call="search", json=body),
            *(self._call(self.read, "POST", self._path(self._index, "/query"), call="search", json=p) for p in passes),
        )
        try:
            hits = [search_hit(hit, query.price_list, VENDOR) for hit in main["hits"]]
            total = int(main["nbHits"])
            facets = result_facets(plan, main.get("facets") or {}, [c.get("facets") or {} for c in counted])
        except (KeyError, TypeError, ValueError) as exc:
            raise VendorMisconfigured(f"{VENDOR}: unexpected search answer ({exc!r})", vendor=VENDOR) from exc
        return SearchResult(hits=hits, total=total, page=query.page, per_page=query.per_page, facets=facets)

    async def index_documents(self, documents: list[SearchDocument]) -> None:
        records = vendor_documents(documents, VENDOR)
        if not records:
            return
        await self._ensure_price_lists({pl for record in records for pl in record["price_lists"]})
        # updateObject replaces the whole record, or creates it: the same "add or replace by id" as the built-in.
        await self._batch(
            [{"action": "updateObject", "body": {"objectID": r["id"], **r}} for r in records], call="index"
        )

    async def delete_documents(self, ids: list[int]) -> None:
        if ids:
            await self._batch(
                [{"action": "deleteObject", "body": {"objectID": str(i)}} for i in sorted(set(ids))], call="delete"
            )

    async def apply_settings(self, settings: IndexSettings) -> None:
        check_settings(settings, VENDOR)
        self._settings = settings
        if self._price_lists is None:
            self._price_lists = self._price_lists_in(await self._remote_settings())
        await self._configure(self._price_lists)

    async def clear(self) -> None:
        """Removes every record and keeps the settings; the replicas follow their primary."""
        answer = await self._call(self.write, "POST", self._path(self._index, "/clear"), call="clear", missing_ok=True)
        if answer is not None:
            await self._wait(self._index, answer)


def build(settings: AlgoliaSettings) -> AlgoliaSearch:
    return AlgoliaSearch(settings)


__all__ = ["AlgoliaSearch", "build"]
