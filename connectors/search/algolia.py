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

The document shape and the search plan are shared with the other vendors (`connectors.search.documents`);
`objectID` is the document id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from operator import itemgetter
from typing import Any
from urllib.parse import quote

import httpx

from connectors.errors import VendorMisconfigured
from connectors.http import VendorClient
from connectors.search.base import IndexSettings, SearchDocument, SearchQuery, SearchResult
from connectors.search.documents import (
    COUNTED_ATTRIBUTES,
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
    task_id,
)
from connectors.settings import AlgoliaSettings

VENDOR = "algolia"
# A standard replica's ranking: the sort first, then Algolia's default criteria (for ties).
_TIE_BREAKERS = ["typo", "geo", "words", "filters", "proximity", "attribute", "exact", "custom"]
_ANSWER = AnswerFields(
    hits=itemgetter("hits"), total=itemgetter("nbHits"), facet_counts=lambda answer: answer.get("facets") or {}
)


def algolia_filters(filters: Filters) -> str:
    """algolia.md, `filters` grammar: `attr:value`, numeric comparisons, OR groups of one attribute joined by AND."""
    parts = [f"price_lists:{quoted(filters.price_list)}"]
    if filters.category_id is not None:
        parts.append(f"category_ids:{filters.category_id}")
    if filters.brands:
        parts.append("(" + " OR ".join(f"brand:{quoted(b)}" for b in filters.brands) + ")")
    for name, values in filters.options:
        parts.append("(" + " OR ".join(f"option_values:{quoted(f'{name}:{v}')}" for v in values) + ")")
    parts += [f"{filters.amount} {operator} {amount}" for operator, amount in filters.price_bounds]
    if filters.in_stock_only:
        parts.append("in_stock:true")
    return " AND ".join(parts)


def attributes_for_faceting(settings: IndexSettings) -> list[str]:
    # Numeric filters need no faceting, so no amount_<list>; `filterOnly` spares the counts nobody asks for.
    attributes = filterable_attributes(settings, price_lists=())
    return [a if a in COUNTED_ATTRIBUTES else f"filterOnly({a})" for a in attributes]


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
        self._tasks = TaskPolling(settings.task_timeout_seconds, sleep, clock)
        self._settings = IndexSettings()
        self._price_lists = PriceLists(self._remote_settings, self._price_lists_in)  # those with sort replicas

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
        error = refusal(response, VENDOR, str(status))
        if status == 402:
            raise VendorMisconfigured(f"{error}: the Algolia plan lacks this feature", vendor=VENDOR)
        raise error  # 400 bad filters, 413 record too big, 422…

    async def _wait(self, index: str, answer: Mapping[str, Any]) -> None:
        """Polls the index's task until `published` (algolia.md, Indexing)."""
        task = task_id(answer, "taskID", VENDOR)

        async def pending() -> str | None:
            state = await self._call(self.read, "GET", self._path(index, f"/task/{task}"), call="task")
            published = isinstance(state, dict) and state.get("status") == "published"
            return None if published else f"task {task} on {index} not published"

        await self._tasks.until_done(pending, VENDOR)

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

    async def _add_price_lists(self, remote: Mapping[str, Any], known: set[str], needed: set[str]) -> None:
        """A price list first seen in a write gets its two sort replicas before its documents are written."""
        if needed <= known:
            return
        if "filterOnly(price_lists)" not in (remote.get("attributesForFaceting") or []):
            await self._configure(known | needed)  # an index we never set up: the whole configuration
        elif new := self._price_replicas(needed - known):
            await self._put_settings(self._index, {"replicas": [*(remote.get("replicas") or []), *new]})
            await self._configure_replicas(new)

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
        return search_result(plan, main, counted, _ANSWER, VENDOR)

    async def index_documents(self, documents: list[SearchDocument]) -> None:
        # updateObject replaces the whole record, or creates it: the same "add or replace by id" as the built-in.
        if records := await self._price_lists.prepare(documents, VENDOR, self._add_price_lists):
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
        await self._configure(await self._price_lists.known())

    async def clear(self) -> None:
        """Removes every record and keeps the settings; the replicas follow their primary."""
        answer = await self._call(self.write, "POST", self._path(self._index, "/clear"), call="clear", missing_ok=True)
        if answer is not None:
            await self._wait(self._index, answer)


def build(settings: AlgoliaSettings) -> AlgoliaSearch:
    return AlgoliaSearch(settings)


__all__ = ["AlgoliaSearch", "build"]
