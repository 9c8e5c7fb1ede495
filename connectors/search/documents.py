"""The document shape and query plan every vendor search adapter (Meilisearch, Algolia, Typesense) shares.

One document shape written from a SearchDocument, the plan of a search (filters, the disjunctive facet passes the
built-in makes, see `connectors.search.builtin`), and the mapping of hits and facet counts back to a SearchResult, so
every vendor answers with the built-in's semantics; with them the plumbing the adapters have in common: reading a
vendor's answer or refusal, and polling an asynchronous write's task with injected time. The vendor document:

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
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx

from connectors.errors import ConnectorError, NotFound, VendorMisconfigured, VendorRejected, VendorTimeout
from connectors.search.base import (
    FacetValue,
    IndexSettings,
    SearchDocument,
    SearchHit,
    SearchQuery,
    SearchResult,
    SearchSort,
)
from connectors.search.builtin.query import by_count, facet_entries, price_bucket_facet
from connectors.search.builtin.schema import KNOWN_FIELDS, MAX_TERMS, PRICE_BUCKETS, TERM

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

# Price list names become attribute names (`amount_usd`): kept to characters every vendor's filter syntax takes bare.
PRICE_LIST_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
# Facet values asked for per attribute; every option shares `option_values`, so the vendors' defaults (10-100) are low.
MAX_FACET_VALUES = 1000
# Task polling: first wait, then doubling up to the longest wait.
FIRST_POLL_SECONDS = 0.05
LONGEST_POLL_SECONDS = 1.0

FACET_ATTRIBUTES = {"category": "category_values", "brand": "brand", "price": "price_ranges"}
# Every attribute a facet is ever counted on (each `option:<name>` facet counts `option_values`); the other
# filterable attributes are only filtered on, which some vendors index more cheaply.
COUNTED_ATTRIBUTES = frozenset({*FACET_ATTRIBUTES.values(), "option_values"})
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


# set_up(the index's settings, the price lists they are set up for, the price lists about to be written)
PriceListSetUp = Callable[[Mapping[str, Any], set[str], set[str]], Awaitable[None]]


class PriceLists:
    """The price lists a vendor index is set up for, where each needs attributes or replicas of its own.

    Read from the index's settings once, then kept: a price list is set up before the first write of its
    documents, without a settings read before every batch.
    """

    def __init__(
        self,
        read_settings: Callable[[], Awaitable[Mapping[str, Any]]],
        found_in: Callable[[Mapping[str, Any]], set[str]],
    ) -> None:
        self._read_settings = read_settings
        self._found_in = found_in
        self._known: set[str] | None = None

    async def known(self) -> set[str]:
        if self._known is None:
            self._known = self._found_in(await self._read_settings())
        return self._known

    async def prepare(
        self, documents: Iterable[SearchDocument], vendor: str, set_up: PriceListSetUp
    ) -> list[dict[str, Any]]:
        """The documents as vendor records, once the index is set up for every price list they carry."""
        records = vendor_documents(documents, vendor)
        needed = {price_list for record in records for price_list in record["price_lists"]}
        if records and (self._known is None or not needed <= self._known):
            settings = await self._read_settings()
            known = self._found_in(settings)
            await set_up(settings, known, needed)
            self._known = known | needed
        return records


def sort_order(sort: SearchSort, price_list: str) -> tuple[str, str] | None:
    """The attribute a sort orders by and its direction (`asc`, `desc`); None leaves the order to relevance."""
    match sort:
        case "price_asc":
            return amount_field(price_list), "asc"
        case "price_desc":
            return amount_field(price_list), "desc"
        case "newest":
            return "created_at", "desc"
        case "title":
            return "title", "asc"
        case "relevance":
            return None


def quoted(value: str) -> str:
    """A string in double quotes, as Meilisearch's and Algolia's filter grammars both take it."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


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

    @property
    def price_bounds(self) -> list[tuple[str, int]]:
        """The price range as comparisons of `amount` (`>=`, `<=`), each vendor writing them in its own syntax."""
        bounds = ((">=", self.price_min), ("<=", self.price_max))
        return [(operator, amount) for operator, amount in bounds if amount is not None]


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


@dataclass(frozen=True, slots=True)
class AnswerFields:
    """Where a vendor's search answer keeps its hits (stored documents), their total and its facet counts."""

    hits: Callable[[Any], Iterable[Mapping[str, Any]]]
    total: Callable[[Any], Any]
    facet_counts: Callable[[Any], FacetCounts]


def search_result(
    plan: SearchPlan, main: Any, passes: Sequence[Any], fields: AnswerFields, vendor: str
) -> SearchResult:
    """The main query's answer and the facet passes' answers as one SearchResult."""
    query = plan.query
    try:
        hits = [search_hit(record, query.price_list, vendor) for record in fields.hits(main)]
        total = int(fields.total(main))
        facets = result_facets(plan, fields.facet_counts(main), [fields.facet_counts(answer) for answer in passes])
    except (KeyError, TypeError, ValueError) as exc:
        # A success of another shape comes from something that is not the vendor's search API (a proxy, a new version).
        raise VendorMisconfigured(f"{vendor}: unexpected search answer ({exc!r})", vendor=vendor) from exc
    return SearchResult(hits=hits, total=total, page=query.page, per_page=query.per_page, facets=facets)


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


# Where a 404 means the index was never created, the way to create it.
REINDEX_HINT = "; `wrangler-py search reindex` creates the index"


def refusal(response: httpx.Response, vendor: str, detail: str, not_found: str = REINDEX_HINT) -> ConnectorError:
    """The error for a call the vendor refused; `detail` is what tells refusals apart (a status, a vendor's code)."""
    message = f"{vendor}: {error_message(response)}" + (f" ({detail})" if detail else "")
    if response.status_code == 404:
        return NotFound(f"{message}{not_found}", vendor=vendor)
    return VendorRejected(message, vendor=vendor)


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


@dataclass(frozen=True, slots=True)
class TaskPolling:
    """How long a vendor's asynchronous write may take, and the injected time its polls wait in."""

    timeout: float
    sleep: Sleep
    clock: Clock

    async def until_done(self, pending: Callable[[], Awaitable[str | None]], vendor: str) -> None:
        """Polls until `pending` answers None; until then it answers what the task is still doing, for the timeout."""
        clock = TaskClock(self.timeout, self.sleep, self.clock)
        while (state := await pending()) is not None:
            if clock.expired:
                raise VendorTimeout(
                    f"{vendor}: {state} after {self.timeout:g} s (raise connectors.search.task_timeout_seconds)",
                    vendor=vendor,
                )
            await clock.wait()
