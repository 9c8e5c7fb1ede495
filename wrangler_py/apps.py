"""Assembles the deployables from a loaded config: the origin app (JSON API + storefront pages)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
import httpx
from opentelemetry.trace import TracerProvider
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware

from connectors import (
    BuiltinCommerce,
    ConnectorError,
    Connectors,
    NotFound,
    SearchProvider,
    SearchQuery,
    build_connectors,
)
from edge import EdgeSettings
from origin import (
    Api,
    ContentWatcher,
    EdgePurger,
    MarketResolver,
    RequestObservability,
    RouteMetrics,
    SqliteCartStore,
    Store,
    VersionedContent,
    WebhookInbox,
    Webhooks,
    api_problem_handlers,
    build_store,
    build_tracer_provider,
    health_routes,
    media_routes,
    reindex,
)
from storefront import load_theme, segment_key, storefront_exception_handlers, storefront_routes
from wrangler_py.config import LoadedConfig

log = logging.getLogger("edgeshop.origin")


def secret_key(loaded: LoadedConfig) -> bytes:
    """The configured key, else one generated once into the data dir, so a demo needs no setup."""
    configured = loaded.config.origin.secret_key
    if configured is not None:
        return configured.get_secret_value().encode()
    path = loaded.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def edge_settings(loaded: LoadedConfig, *, generate_secret: bool = True) -> EdgeSettings:
    """The composed [edge] settings, with the key that verifies the segment cookies the origin signs.

    The edge gets a key derived for that one purpose, never the shop's secret itself. A standalone edge
    (`generate_secret=False`) uses only a configured `origin.secret_key`: a key generated on its own host
    would differ from the origin's, and every segment cookie would be refused.
    """
    settings = loaded.config.edge_settings()
    if settings.personalization.secret is not None:
        return settings
    if loaded.config.origin.secret_key is None and not generate_secret:
        if any(rule.cookie for rule in settings.personalization.segments):
            log.warning("segment cookies cannot be verified here: set origin.secret_key (as env:NAME) for this edge")
        return settings
    key = SecretStr(segment_key(secret_key(loaded)))
    return settings.model_copy(update={"personalization": settings.personalization.model_copy(update={"secret": key})})


async def prepare_embedded_data(connectors: Connectors, products: int, price_list: str, *, seed: int = 42) -> str:
    """Start-up of the embedded store: seed an empty catalog, and fill an empty search index from it.

    "Empty" includes a vendor index that does not exist yet (a store just switched to Meilisearch, say). A search
    vendor that cannot be reached never stops the origin from starting: its built-in backup, when configured, is
    filled alone, and the log says to run `wrangler-py search reindex` once the vendor answers.
    """
    commerce, search = connectors.commerce, connectors.search
    if not isinstance(commerce, BuiltinCommerce):
        return ""
    seeded = ""
    if products > 0 and not await commerce.catalog_batch(limit=1):
        await anyio.to_thread.run_sync(lambda: commerce.seed(products=products, seed=seed))
        seeded = f"seeded {products} demo products; "
    elif not await commerce.catalog_batch(limit=1):
        return ""
    try:
        vendor: SearchProvider = getattr(search, "primary", search)  # the vendor's own index, not its fallback
        empty = seeded or not (await vendor.search(SearchQuery(price_list=price_list, per_page=1, facets=[]))).total
    except NotFound:
        empty = True  # the vendor has no such index yet
    except ConnectorError as exc:
        return seeded + await _index_backup(commerce, search, exc, price_list)
    if not empty:
        return seeded.removesuffix("; ")
    try:
        return f"{seeded}indexed {await reindex(commerce, search)} products for search"
    except ConnectorError as exc:
        return seeded + await _index_backup(commerce, search, exc, price_list)


async def _index_backup(
    commerce: BuiltinCommerce, search: SearchProvider, failure: ConnectorError, price_list: str
) -> str:
    log.warning("search vendor unavailable at start-up (%s): run `wrangler-py search reindex` once it answers", failure)
    backup = getattr(search, "backup", None)
    if backup is None:
        return "search index not built"
    if (await backup.search(SearchQuery(price_list=price_list, per_page=1, facets=[]))).total:
        return "search vendor unavailable; its built-in backup is ready"
    return f"indexed {await reindex(commerce, backup)} products into the built-in backup only"


def build_store_from_config(loaded: LoadedConfig, *, edge_url: str | None = None) -> Store:
    cfg = loaded.config
    connectors = build_connectors(cfg.connectors, data_dir=loaded.data_dir, project_dir=loaded.project_dir)
    cart_store = SqliteCartStore(str(loaded.data_dir / "carts.sqlite3"), ttl_seconds=cfg.origin.cart_ttl_days * 86_400)
    markets = MarketResolver(cfg.markets, cfg.default_market)
    return build_store(
        cfg.origin, markets, connectors, cart_store, secret_key(loaded), purger=edge_purger(loaded, edge_url)
    )


def edge_purger(loaded: LoadedConfig, edge_url: str | None = None) -> EdgePurger | None:
    """Purges go to one edge node (`edge_url`, default from the config), which fans them out over the bus."""
    edge = loaded.config.edge
    if edge.purge_token is None:
        return None
    base = edge_url or f"http://{edge.host}:{edge.port}"
    return EdgePurger(httpx.AsyncClient(), base + "/_edge/purge", edge.purge_token.get_secret_value())


def build_origin_app(
    loaded: LoadedConfig,
    *,
    store: Store | None = None,
    edge_url: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """`tracer_provider`: where spans go (tests: an in-memory exporter; the caller shuts it down), instead of the
    provider built from `[origin.observability]` when tracing is on."""
    store = store or build_store_from_config(loaded, edge_url=edge_url)
    api = Api(store)
    observability = loaded.config.origin.observability
    own_provider = tracer_provider is None and observability.tracing
    if own_provider:
        tracer_provider = build_tracer_provider(observability, region=loaded.config.edge.region)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        done = await prepare_embedded_data(
            store.connectors, loaded.config.origin.seed_products, store.markets.default.price_list
        )
        if done:
            store.catalog.forget()
            log.info("%s", done)
        watcher = None
        poll = loaded.config.origin.content_poll_seconds
        if poll > 0 and isinstance(store.connectors.cms, VersionedContent):
            watcher = ContentWatcher(store.connectors.cms, store.events.content_changed, interval=poll)
            await watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                await watcher.stop()
            await store.aclose()
            shutdown = getattr(tracer_provider, "shutdown", None) if own_provider else None
            if shutdown is not None:
                await anyio.to_thread.run_sync(shutdown)  # the last spans, sent without blocking the loop

    webhooks = Webhooks(store.connectors, store.events, WebhookInbox(str(loaded.data_dir / "webhooks.sqlite3")))
    # The project's templates, static files and built assets (wrangler-py build), resolved once for this app.
    theme = load_theme(loaded.config.storefront, loaded.project_dir)
    routes = [
        *health_routes(store),
        *api.routes,
        *webhooks.routes,
        *media_routes(),
        *storefront_routes(store, loaded.config.storefront, theme=theme),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={
            **api_problem_handlers(),
            **storefront_exception_handlers(store, loaded.config.storefront, theme=theme),
        },
        middleware=[
            # Request ids, the request's trace (continued from the edge) and the access log, around everything.
            Middleware(RequestObservability, settings=observability, tracer_provider=tracer_provider),
            # Counts requests by route template and names the template to the edge (X-Edgeshop-Route).
            Middleware(RouteMetrics),
        ],
        lifespan=lifespan,
    )
