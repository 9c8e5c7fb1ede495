"""The origin's services wired together once at start-up, shared by the JSON API and the storefront pages."""

from __future__ import annotations

from dataclasses import dataclass

from connectors import Connectors
from origin.carts import CartService, CartStore
from origin.catalog import CatalogService
from origin.checkout import CheckoutService
from origin.events import CatalogEvents
from origin.markets import MarketResolver
from origin.purging import NoPurger, Purger
from origin.responses import ResponseFactory
from origin.settings import OriginSettings


@dataclass(frozen=True, slots=True)
class Store:
    settings: OriginSettings
    connectors: Connectors
    markets: MarketResolver
    catalog: CatalogService
    carts: CartService
    checkout: CheckoutService
    responses: ResponseFactory
    secret_key: bytes
    events: CatalogEvents

    async def aclose(self) -> None:
        """Release what the store holds open (the purge client) at shutdown."""
        await self.events.aclose()


def build_store(
    settings: OriginSettings,
    markets: MarketResolver,
    connectors: Connectors,
    cart_store: CartStore,
    secret_key: bytes,
    purger: Purger | None = None,
) -> Store:
    carts = CartService(cart_store, connectors.commerce, markets, settings)
    events = CatalogEvents(connectors.commerce, connectors.search, purger or NoPurger())
    return Store(
        settings=settings,
        connectors=connectors,
        markets=markets,
        catalog=CatalogService(connectors.commerce, connectors.search),
        carts=carts,
        checkout=CheckoutService(carts, connectors.commerce, connectors.payments, secret_key, events),
        responses=ResponseFactory(settings.cache),
        secret_key=secret_key,
        events=events,
    )
