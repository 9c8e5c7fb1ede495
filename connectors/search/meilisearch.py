"""Meilisearch as the SearchProvider, and the vendor document every hosted search index holds.

The first part of this module is vendor-neutral and shared by `algolia.py` and `typesense.py`: one document
shape written from a SearchDocument, the plan of a search (filters, the disjunctive facet passes the built-in
makes, see `connectors.search.builtin`), and the mapping of hits and facet counts back to a SearchResult, so
every vendor answers with the built-in's semantics. The vendor document:

    id               "42" (a string: Typesense and Algolia ids are strings)
    handle title description brand image_url image_alt in_stock created_at     as in SearchDocument
    category_ids     [3, 4]            the category and its ancestors, for `category_id` filters
    category_names   ["Footwear", …]   searchable
    category_values  ["3:Footwear", …] facet values that carry the label with the id
    option_values    ["Color:Red", …]  one facet attribute for every option, whatever the option names
    price_lists      ["eur", "usd"]    a document is only found in the price lists that price it
    amount_<list>    18900             minor units, per price list: filters and sorts
    currency_<list>  "USD"
    price_ranges     ["usd:10000-20000", …]  the built-in's price bucket per price list, for the price facet

Meilisearch specifics: `Authorization: Bearer`; searches in page mode (`page`/`hitsPerPage`, exhaustive
`totalHits`); filters in the array form (outer AND, inner OR); writes answer 202 with a task that is polled at
`GET /tasks/{uid}` until it succeeds or fails (reference pack: vendor-contracts/meilisearch.md §2-§6).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import httpx

from connectors.errors import NotFound, VendorMisconfigured, VendorRejected, VendorTimeout
from connectors.http import VendorClient
from connectors.search.base import (
    FacetValue,
    IndexSettings,
    SearchDocument,
    SearchHit,
    SearchQuery,
    SearchResult,
)
from connectors.search.builtin.query import by_count, facet_entries, price_bucket_facet
from connectors.search.builtin.schema import KNOWN_FIELDS, MAX_TERMS, PRICE_BUCKETS, TERM
from connectors.settings import MeilisearchSettings

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

# -- the vendor document and the plan of a search (shared by every hosted search adapter) --------------------------

# Price list names become attribute names (`amount_usd`): kept to characters every vendor's filter syntax takes bare.
PRICE_LIST_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
# Facet values asked for per attribute; every option shares `option_values`, so the vendors' defaults (10-100) are low.
MAX_FACET_VALUES = 1000
# Task polling: first wait, then doubling up to the longest wait.
FIRST_POLL_SECONDS = 0.05
LONGEST_POLL_SECONDS = 1.0

FACET_ATTRIBUTES = {"category": "category_values", "brand": "brand", "price": "price_ranges"}
# IndexSettings field name -> the vendor attributes it stands for (price lists add amount_<list>).
FILTERABLE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "category_ids": ("category_ids", "category_values"),
    "brand": ("brand",),
    "options": ("option_values",),
    "prices": ("price_ranges",),
    "in_stock": ("in_stock",),
}


def amount_field(price_list: str) -> str:
    return f"amount_{price_list}"


def currency_field(price_list: str) -> str:
    return f"currency_{price_list}"


def check_price_list(name: str, vendor: str) -> None:
    if not PRICE_LIST_NAME.fullmatch(name):
        raise VendorRejected(
            f"{vendor}: price list {name!r} cannot name an index attribute; use letters, digits and _", vendor=vendor
        )


def _bucket_value(amount: int) -> str:
    index = next(i for i, (_, high) in enumerate(PRICE_BUCKETS) if high is None or amount < high)
    return price_bucket_facet(index, 0).value


def vendor_document(doc: SearchDocument, vendor: str) -> dict[str, Any]:
    """The document as every hosted index stores it (see the module docstring)."""
    missing = sorted(set(doc.prices) - set(doc.currency_by_price_list))
    if missing:
        raise VendorRejected(
            f"document {doc.id}: price lists {missing} have no entry in currency_by_price_list", vendor=vendor
        )
    for price_list in doc.prices:
        check_price_list(price_list, vendor)
    entries = list(facet_entries(doc))
    record: dict[str, Any] = {
        "id": str(doc.id),
        "handle": doc.handle,
        "title": doc.title,
        "description": doc.description,
        "brand": doc.brand,
        "category_ids": doc.category_ids,
        "category_names": doc.category_names,
        "category_values": [f"{value}:{label}" for facet, value, label in entries if facet == "category"],
        "option_values": list(
            dict.fromkeys(f"{facet[len('option:') :]}:{v}" for facet, v, _ in entries if facet.startswith("option:"))
        ),
        "price_lists": sorted(doc.prices),
        "price_ranges": [f"{pl}:{_bucket_value(amount)}" for pl, amount in sorted(doc.prices.items())],
        "image_url": doc.image_url,
        "image_alt": doc.image_alt,
        "in_stock": doc.in_stock,
        "created_at": doc.created_at,
    }
    for price_list, amount in sorted(doc.prices.items()):
        record[amount_field(price_list)] = amount
        record[currency_field(price_list)] = doc.currency_by_price_list[price_list]
    return record


def vendor_documents(documents: Iterable[SearchDocument], vendor: str) -> list[dict[str, Any]]:
    """Of several documents with one id the last wins, as in the built-in."""
    return [vendor_document(doc, vendor) for doc in {doc.id: doc for doc in documents}.values()]


def retrieved_fields(price_list: str) -> list[str]:
    return [
        "id", "handle", "title", "brand", "image_url", "image_alt", "in_stock",
        amount_field(price_list), currency_field(price_list),
    ]  # fmt: skip


def search_hit(record: Mapping[str, Any], price_list: str, vendor: str) -> SearchHit:
    try:
        return SearchHit(
            id=int(record["id"]),
            handle=record["handle"],
            title=record["title"],
            brand=record["brand"],
            price=record[amount_field(price_list)],
            currency=record[currency_field(price_list)],
            image_url=record["image_url"],
            image_alt=record["image_alt"],
            in_stock=record["in_stock"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise VendorMisconfigured(
            f"{vendor}: the index holds a document edgeshop did not write (no {exc}); run `wrangler-py search reindex`",
            vendor=vendor,
        ) from exc


def check_settings(settings: IndexSettings, vendor: str) -> None:
    """The built-in's rules: the same IndexSettings are valid, or refused, whatever the vendor."""
    if not settings.searchable:
        raise VendorRejected("index settings: searchable must name at least one field", vendor=vendor)
    for kind, known in KNOWN_FIELDS.items():
        unknown = sorted(set(getattr(settings, kind)) - known)
        if unknown:
            raise VendorRejected(
                f"index settings: {kind} fields {unknown} are not supported; choose from {sorted(known)}", vendor=vendor
            )


def filterable_attributes(settings: IndexSettings, price_lists: Iterable[str]) -> list[str]:
    # `price_lists` is always filterable: every search is restricted to the documents its price list prices.
    attributes = ["price_lists"]
    for name in settings.filterable:
        attributes += FILTERABLE_ATTRIBUTES[name]
        if name == "prices":
            attributes += [amount_field(pl) for pl in sorted(price_lists)]
    return list(dict.fromkeys(attributes))


def sortable_attributes(settings: IndexSettings, price_lists: Iterable[str]) -> list[str]:
    attributes: list[str] = []
    for name in settings.sortable:
        attributes += [amount_field(pl) for pl in sorted(price_lists)] if name == "prices" else [name]
    return attributes


@dataclass(frozen=True, slots=True)
class Filters:
    """A query's filters; each vendor renders them in its own syntax."""

    price_list: str
    category_id: int | None
    brands: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]  # only options with values: OR within one, AND across
    price_min: int | None
    price_max: int | None
    in_stock_only: bool

    @property
    def amount(self) -> str:
        return amount_field(self.price_list)


@dataclass(frozen=True, slots=True)
class FacetPass:
    """A disjunctive facet counted with its own filter left out (Algolia's model, as in the built-in)."""

    facet: str  # "brand" or "option:<name>"
    attribute: str
    filters: Filters


@dataclass(frozen=True, slots=True)
class SearchPlan:
    text: str
    filters: Filters
    facets: tuple[str, ...]  # attributes counted by the main query
    passes: tuple[FacetPass, ...]
    query: SearchQuery


def facet_attribute(name: str) -> str | None:
    return "option_values" if name.startswith("option:") else FACET_ATTRIBUTES.get(name)


def plan_search(query: SearchQuery, vendor: str) -> SearchPlan:
    check_price_list(query.price_list, vendor)
    options = tuple((name, tuple(values)) for name, values in sorted(query.options.items()) if values)
    filters = Filters(
        price_list=query.price_list,
        category_id=query.category_id,
        brands=tuple(query.brands),
        options=options,
        price_min=query.price_min,
        price_max=query.price_max,
        in_stock_only=query.in_stock_only,
    )
    requested = list(dict.fromkeys(query.facets))
    passes: list[FacetPass] = []
    if "brand" in requested and filters.brands:
        passes.append(FacetPass("brand", "brand", replace(filters, brands=())))
    for name, _ in options:
        if f"option:{name}" in requested:
            rest = tuple(option for option in options if option[0] != name)
            passes.append(FacetPass(f"option:{name}", "option_values", replace(filters, options=rest)))
    disjunctive = {p.facet for p in passes}
    main = [facet_attribute(name) for name in requested if name not in disjunctive]
    return SearchPlan(
        # The built-in's terms: operators a shopper types are plain words on every vendor too.
        text=" ".join(TERM.findall(query.text)[:MAX_TERMS]),
        filters=filters,
        facets=tuple(dict.fromkeys(a for a in main if a is not None)),
        passes=tuple(passes),
        query=query,
    )


FacetCounts = Mapping[str, Mapping[str, int]]  # attribute -> facet value -> count


def _split(value: str) -> tuple[str, str]:
    head, _, tail = value.partition(":")
    return head, tail


def result_facets(plan: SearchPlan, main: FacetCounts, passes: Sequence[FacetCounts]) -> dict[str, list[FacetValue]]:
    """Facet counts from the main query and the disjunctive passes, shaped as the built-in shapes them."""
    by_pass = {p.facet: counts for p, counts in zip(plan.passes, passes, strict=True)}
    facets: dict[str, list[FacetValue]] = {}
    for name in dict.fromkeys(plan.query.facets):
        counts = by_pass.get(name, main)
        if name == "category":
            facets[name] = _category_facet(counts.get("category_values", {}))
        elif name == "brand":
            facets[name] = by_count(FacetValue(value=v, label=v, count=n) for v, n in counts.get("brand", {}).items())
        elif name.startswith("option:"):
            option = name.removeprefix("option:")
            values = ((_split(v), n) for v, n in counts.get("option_values", {}).items())
            facets[name] = by_count(FacetValue(value=v, label=v, count=n) for (o, v), n in values if o == option)
        elif name == "price":
            facets[name] = _price_facet(plan.filters.price_list, counts.get("price_ranges", {}))
        else:
            facets[name] = []
    return facets


def _category_facet(counts: Mapping[str, int]) -> list[FacetValue]:
    # A renamed category has two values until every document carrying it is reindexed: one entry, the commoner label.
    totals: dict[str, int] = {}
    labels: dict[str, tuple[int, str]] = {}
    for value, count in counts.items():
        category_id, label = _split(value)
        totals[category_id] = totals.get(category_id, 0) + count
        labels[category_id] = max(labels.get(category_id, (0, label)), (count, label))
    return by_count(FacetValue(value=cid, label=labels[cid][1], count=n) for cid, n in totals.items())


def _price_facet(price_list: str, counts: Mapping[str, int]) -> list[FacetValue]:
    # Buckets in price order, as the built-in shows them.
    values = [price_bucket_facet(i, 0).value for i in range(len(PRICE_BUCKETS))]
    found: dict[int, int] = {}
    for value, count in counts.items():
        pl, bucket = _split(value)
        if pl == price_list and bucket in values and count > 0:
            found[values.index(bucket)] = count
    return [price_bucket_facet(i, found[i]) for i in sorted(found)]


async def gather_all(*calls: Awaitable[Any]) -> list[Any]:
    """Runs the calls together; every one finishes before the first failure is raised (no orphaned request)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def json_body(response: httpx.Response, vendor: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise VendorMisconfigured(
            f"{vendor}: answered {response.status_code} without JSON; is the URL the vendor's API?", vendor=vendor
        ) from exc


def error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or f"HTTP {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return json.dumps(body)[:200]


def task_id(answer: Any, key: str, vendor: str) -> int:
    """The id of the task a write answered with (`taskUid`, `taskID`)."""
    value = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(value, int):
        raise VendorMisconfigured(f"{vendor}: a write answered without a {key}: {str(answer)[:200]}", vendor=vendor)
    return value


class TaskClock:
    """How long to wait for a vendor task, and between polls; time is injected so tests never sleep."""

    def __init__(self, timeout: float, sleep: Sleep, clock: Clock) -> None:
        self._deadline = clock() + timeout
        self._delay = FIRST_POLL_SECONDS
        self._sleep = sleep
        self._clock = clock

    @property
    def expired(self) -> bool:
        return self._clock() >= self._deadline

    async def wait(self) -> None:
        await self._sleep(min(self._delay, max(0.0, self._deadline - self._clock())))
        self._delay = min(self._delay * 2, LONGEST_POLL_SECONDS)


# -- Meilisearch ------------------------------------------------------------------------------------------------------

VENDOR = "meilisearch"
# `sort` first: a query with a sort is ordered strictly by it, as in the built-in; without one the rule is skipped.
RANKING_RULES = ["sort", "words", "typo", "proximity", "attribute", "exactness"]
_SORTS: dict[str, Callable[[str], list[str]]] = {
    "relevance": lambda pl: [],
    "price_asc": lambda pl: [f"{amount_field(pl)}:asc"],
    "price_desc": lambda pl: [f"{amount_field(pl)}:desc"],
    "newest": lambda pl: ["created_at:desc"],
    "title": lambda pl: ["title:asc"],
}
_MISSING_INDEX = "index_not_found"


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def meilisearch_filter(filters: Filters) -> list[str | list[str]]:
    """The array form: the outer list is AND, an inner list is OR (meilisearch.md §2, filter syntax)."""
    expression: list[str | list[str]] = [f"price_lists = {_quoted(filters.price_list)}"]
    if filters.category_id is not None:
        expression.append(f"category_ids = {filters.category_id}")
    if filters.brands:
        expression.append([f"brand = {_quoted(brand)}" for brand in filters.brands])
    for name, values in filters.options:
        expression.append([f"option_values = {_quoted(f'{name}:{value}')}" for value in values])
    if filters.price_min is not None:
        expression.append(f"{filters.amount} >= {filters.price_min}")
    if filters.price_max is not None:
        expression.append(f"{filters.amount} <= {filters.price_max}")
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
        self._task_timeout = settings.task_timeout_seconds
        self._sleep = sleep
        self._clock = clock
        self._settings = IndexSettings()
        self._price_lists: set[str] | None = None  # the amount_<list> attributes the index is set up for

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
        message = f"{VENDOR}: {error_message(response)}" + (f" ({code})" if code else "")
        if response.status_code == 404:
            raise NotFound(f"{message}; `wrangler-py search reindex` creates the index", vendor=VENDOR)
        raise VendorRejected(message, vendor=VENDOR)  # invalid_search_filter, invalid_search_sort, payload_too_large…

    async def _wait(self, summary: Mapping[str, Any], *, missing_ok: bool = False) -> None:
        """Polls `GET /tasks/{uid}` until the task succeeded; a failed task is refused with the task's error."""
        uid = task_id(summary, "taskUid", VENDOR)
        clock = TaskClock(self._task_timeout, self._sleep, self._clock)
        while True:
            task = await self._call("GET", f"/tasks/{uid}", call="task")
            status = task.get("status") if isinstance(task, dict) else None
            if status == "succeeded":
                return
            if status in ("failed", "canceled"):
                error = task.get("error") or {}
                code = str(error.get("code", status))
                if missing_ok and code == _MISSING_INDEX:
                    return
                message = f"{VENDOR}: task {uid} ({task.get('type')}) {status}: {error.get('message', status)} ({code})"
                if code == _MISSING_INDEX:
                    raise NotFound(message, vendor=VENDOR)
                raise VendorRejected(message, vendor=VENDOR)
            if clock.expired:
                raise VendorTimeout(
                    f"{VENDOR}: task {uid} still {status} after {self._task_timeout:g} s "
                    "(raise connectors.search.task_timeout_seconds)",
                    vendor=VENDOR,
                )
            await clock.wait()

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

    async def _ensure_price_lists(self, needed: set[str]) -> None:
        """Price lists are attribute names: a list first seen here is made filterable and sortable first."""
        if self._price_lists is not None and needed <= self._price_lists:
            return
        remote = await self._remote_settings()
        known = self._price_lists_in(remote)
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
        self._price_lists = known | needed

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
        if sort := _SORTS[query.sort](query.price_list):
            body["sort"] = sort
        if plan.facets:
            body["facets"] = list(plan.facets)
        passes = [
            {"q": plan.text, "filter": meilisearch_filter(p.filters), "facets": [p.attribute], "limit": 0}
            for p in plan.passes
        ]
        path = f"/indexes/{self._index}/search"
        main, *counted = await gather_all(*(self._call("POST", path, call="search", json=b) for b in [body, *passes]))
        try:
            hits = [search_hit(hit, query.price_list, VENDOR) for hit in main["hits"]]
            total = int(main["totalHits"])
            facets = result_facets(
                plan, main.get("facetDistribution") or {}, [c.get("facetDistribution") or {} for c in counted]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise VendorMisconfigured(f"{VENDOR}: unexpected search answer ({exc!r})", vendor=VENDOR) from exc
        return SearchResult(hits=hits, total=total, page=query.page, per_page=query.per_page, facets=facets)

    async def index_documents(self, documents: list[SearchDocument]) -> None:
        """Add or replace (POST replaces whole documents, meilisearch.md §3), then wait for the task."""
        records = vendor_documents(documents, VENDOR)
        if not records:
            return
        await self._ensure_price_lists({pl for record in records for pl in record["price_lists"]})
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
        if self._price_lists is None:
            self._price_lists = self._price_lists_in(await self._remote_settings())
        await self._patch_settings(self._price_lists)

    async def clear(self) -> None:
        await self._write("DELETE", f"/indexes/{self._index}/documents", call="clear", missing_ok=True)


def build(settings: MeilisearchSettings) -> MeilisearchSearch:
    return MeilisearchSearch(settings)


__all__ = ["MeilisearchSearch", "build"]
