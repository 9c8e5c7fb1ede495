"""Shared catalog pages: home, category listings and search. Their context comes from the URL and market only."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from origin import ConnectorError, ContentEntry, Market, SearchResult, cms_tag
from storefront.cards import Card, card_from_hit, card_from_product
from storefront.facets import active_chips, cleared_url, facet_groups
from storefront.formatting import formatter
from storefront.listing import CATEGORY_SORTS, SEARCH_SORTS, Filters, paginate, parse_filters
from storefront.site import Site
from storefront.urls import market_links

_FACET_SKIP = frozenset({"brand", "in_stock"})


# What the home page reads besides the market (the edge decides both): its cache keeps one copy per value.
SEGMENT_HEADER = "x-segment"
HERO_EXPERIMENT = "hero"
HERO_HEADER = "x-exp-hero"
HOME_VARY = ("X-Segment", "X-Exp-Hero")
RETURNING_SEGMENTS = frozenset({"returning", "vip"})


def _arm_fields(entry: ContentEntry | None, experiment: str, arm: str | None) -> dict[str, object]:
    """The content an experiment arm changes: `[experiments.<id>.<arm>]` in the entry, over its own fields."""
    if entry is None or not arm:
        return {}
    experiments = entry.fields.get("experiments")
    chosen = experiments.get(experiment, {}).get(arm) if isinstance(experiments, dict) else None
    return chosen if isinstance(chosen, dict) else {}


def _hero(entry: ContentEntry | None, site: Site, arm: str | None = None) -> dict[str, str]:
    fields = {**(entry.fields if entry is not None else {}), **_arm_fields(entry, HERO_EXPERIMENT, arm)}
    return {
        "title": str(fields.get("hero_title") or site.settings.tagline),
        "subtitle": str(fields.get("hero_subtitle") or ""),
        "cta_label": str(fields.get("hero_cta_label") or "Shop new arrivals"),
        "cta_url": str(fields.get("hero_cta_url") or "/search?sort=newest"),
    }


def _banners(entry: ContentEntry | None) -> list[dict[str, str]]:
    raw = entry.fields.get("banners") if entry is not None else None
    if not isinstance(raw, list):
        return []
    return [
        {"title": str(b.get("title", "")), "text": str(b.get("text", "")), "url": str(b.get("url", ""))}
        for b in raw
        if isinstance(b, dict) and b.get("title")
    ]


class CatalogPages:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.store = site.store

    async def _entry(self, content_type: str, slug: str, market: Market) -> ContentEntry | None:
        """The home page still renders (with defaults) when the CMS has no entry or is down."""
        try:
            return await self.store.connectors.cms.get_entry(content_type, slug, locale=Site.content_locale(market))
        except ConnectorError:
            return None

    async def home(self, request: Request) -> Response:
        market = self.site.market(request)
        fmt = formatter(market.locale)
        entry = await self._entry("home", "home", market)
        featured: list[Card] = []
        keys = ["home", cms_tag("home", "home"), cms_tag("home", "")]
        if self.site.settings.featured_products:
            page = await self.store.catalog.products(
                market, category_id=None, page=1, per_page=self.site.settings.featured_products, sort="featured"
            )
            featured = [card_from_product(p, fmt) for p in page.items]
            keys.extend(f"product:{p.id}" for p in page.items)
        return await self.site.shared(
            request,
            "home.html",
            market=market,
            keys=keys,
            vary=HOME_VARY,
            returning=request.headers.get(SEGMENT_HEADER) in RETURNING_SEGMENTS,
            hero=_hero(entry, self.site, request.headers.get(HERO_HEADER)),
            banners=_banners(entry),
            body_html=entry.body_html if entry is not None else "",
            featured=featured,
        )

    def _listing(
        self, filters: Filters, path: str, result: SearchResult, market: Market, *, with_category: bool
    ) -> dict[str, Any]:
        """Facets, chips, sort and pagination: the parts category and search pages share."""
        fmt = formatter(market.locale)
        groups = facet_groups(
            result.facets, filters, path, fmt=fmt, currency=market.currency, with_category=with_category
        )
        in_form = _FACET_SKIP | {g.param for g in groups if g.kind == "checkbox"}
        return {
            "filters": filters,
            "path": path,
            "facets": groups,
            "facet_hidden": filters.hidden_fields(skip=in_form),
            "sort_hidden": filters.hidden_fields(skip=frozenset({"sort"})),
            "cleared_url": cleared_url(filters, path, keep_category=not with_category),
        }

    async def category(self, request: Request) -> Response:
        market = self.site.market(request)
        fmt = formatter(market.locale)
        node = await self.store.catalog.category(request.path_params["slug"])
        category = node.category
        own_path = f"/c/{category.slug}"
        path = market_links(market)(own_path)  # the listing's links keep the market's URL prefix
        filters = parse_filters(
            request.query_params, sorts=CATEGORY_SORTS, default_sort="featured", category_id=category.id
        )
        per_page = self.site.settings.products_per_page
        keys = [f"category:{category.id}"]
        if filters.narrowed:
            # Facet filters need the search index; its hits carry no sale prices, the catalog's items do.
            result = await self.store.catalog.search(
                filters.search_query(price_list=market.price_list, per_page=per_page)
            )
            cards = [card_from_hit(h, fmt) for h in result.hits]
            total = result.total
            keys.extend(f"product:{h.id}" for h in result.hits)
            keys.append("search")
        else:
            page = await self.store.catalog.products(
                market,
                category_id=category.id,
                page=filters.page,
                per_page=per_page,
                sort=filters.sort,  # type: ignore[arg-type]
            )
            query = filters.search_query(price_list=market.price_list, per_page=1)
            result = await self.store.catalog.search(query.model_copy(update={"page": 1, "sort": "relevance"}))
            cards = [card_from_product(p, fmt) for p in page.items]
            total = page.total
            keys.extend(f"product:{p.id}" for p in page.items)
        pagination = paginate(filters, path, total=total, per_page=per_page)
        if pagination.page > pagination.pages:
            return await self.site.not_found(request, keys=keys[:1])
        return await self.site.shared(
            request,
            "category.html",
            market=market,
            keys=keys,
            canonical=own_path + (f"?page={pagination.page}" if pagination.page > 1 else ""),
            title=category.name,
            node=node,
            crumbs=[("Home", "/"), *((c.name, f"/c/{c.slug}") for c in node.trail)],
            cards=cards,
            pagination=pagination,
            sorts=CATEGORY_SORTS,
            chips=active_chips(filters, path, fmt=fmt, currency=market.currency),
            **self._listing(filters, path, result, market, with_category=False),
        )

    async def search(self, request: Request) -> Response:
        market = self.site.market(request)
        fmt = formatter(market.locale)
        path = market_links(market)("/search")
        filters = parse_filters(request.query_params, sorts=SEARCH_SORTS, default_sort="relevance")
        per_page = self.site.settings.products_per_page
        result = await self.store.catalog.search(filters.search_query(price_list=market.price_list, per_page=per_page))
        tree = await self.store.catalog.tree()
        chosen = tree.by_id.get(filters.category_id) if filters.category_id is not None else None
        category_label = chosen.category.name if chosen else (str(filters.category_id) if filters.category_id else None)
        pagination = paginate(filters, path, total=result.total, per_page=per_page)
        if pagination.page > pagination.pages:
            return await self.site.not_found(request, keys=["search"])
        return await self.site.shared(
            request,
            "search.html",
            market=market,
            keys=["search"],
            canonical=filters.url("/search"),  # results pages are their own canonical, in one parameter order
            title=f"Search: {filters.text}" if filters.text else "All products",
            q=filters.text,
            cards=[card_from_hit(h, fmt) for h in result.hits],
            total=result.total,
            pagination=pagination,
            sorts=SEARCH_SORTS,
            chips=active_chips(filters, path, fmt=fmt, currency=market.currency, category_label=category_label),
            **self._listing(filters, path, result, market, with_category=True),
        )
