"""Editing carts safely (stock checks, optimistic retries) and pricing them on the server."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

from connectors import CommerceBackend, Money, VariantQuote
from origin.carts.model import Cart, CartLine, new_cart_id
from origin.carts.store import CartStore
from origin.errors import Conflict, InvalidRequest, ResourceNotFound
from origin.markets import MarketResolver
from origin.pricing import Totals, compute_totals, offered_methods, shipping_price
from origin.settings import Market, OriginSettings, ShippingMethod

MAX_QUANTITY = 99
MAX_LINES = 50
# Saving a cart races other tabs of the same shopper; a few optimistic retries always settle it.
_SAVE_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class PricedLine:
    line: CartLine
    quote: VariantQuote
    total: Money


@dataclass(frozen=True, slots=True)
class PricedCart:
    cart: Cart
    market: Market
    lines: list[PricedLine]
    totals: Totals
    shipping_method: ShippingMethod | None
    shipping_methods: list[ShippingMethod]

    @property
    def item_count(self) -> int:
        return sum(ln.line.quantity for ln in self.lines)


def _check_quantity(quantity: int) -> None:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidRequest(
            f"quantity must be between 1 and {MAX_QUANTITY}", fields={"quantity": f"between 1 and {MAX_QUANTITY}"}
        )


class CartService:
    def __init__(
        self, store: CartStore, backend: CommerceBackend, markets: MarketResolver, settings: OriginSettings
    ) -> None:
        self._store = store
        self._backend = backend
        self._markets = markets
        self._settings = settings

    async def reachable(self) -> None:
        """One read of the cart store (of a cart that never exists), for readiness: raises when it cannot answer."""
        await self._store.get("readiness-probe")

    def market_of(self, cart: Cart) -> Market:
        return self.market_by_id(cart.market)

    def market_by_id(self, market_id: str) -> Market:
        # A market removed from config after the cart was made: price it in the default market.
        return self._markets.get(market_id) or self._markets.default

    async def create(self, market: Market) -> Cart:
        cart = Cart(id=new_cart_id(), market=market.id)
        stored = await self._store.put(cart, expected_version=0)
        assert stored is not None, "a fresh 192-bit id cannot collide"
        return stored

    async def get(self, cart_id: str) -> Cart:
        cart = await self._store.get(cart_id) if cart_id.startswith("cart_") else None
        if cart is None:
            raise ResourceNotFound("no cart with this id (it may have expired)")
        return cart

    async def _edit(self, cart_id: str, change: Any) -> Cart:
        """Apply `change(cart) -> lines` with optimistic retries, so concurrent edits are never lost."""
        for _ in range(_SAVE_ATTEMPTS):
            cart = await self.get(cart_id)
            if cart.status != "open":
                raise Conflict("this cart has been checked out; start a new cart", cart_status=cart.status)
            lines = await change(cart)
            stored = await self._store.put(replace(cart, lines=tuple(lines)), expected_version=cart.version)
            if stored is not None:
                return stored
        raise Conflict("the cart changed concurrently too often; try again")

    async def _quote(self, cart: Cart, variant_id: int) -> VariantQuote:
        quotes = await self._backend.quote_variants([variant_id], price_list=self.market_of(cart).price_list)
        quote = quotes.get(variant_id)
        if quote is None:
            raise ResourceNotFound(f"no variant with id {variant_id}", field="variant_id")
        return quote

    async def add_line(self, cart_id: str, variant_id: int, quantity: int) -> Cart:
        _check_quantity(quantity)

        async def change(cart: Cart) -> list[CartLine]:
            quote = await self._quote(cart, variant_id)
            lines = list(cart.lines)
            for i, line in enumerate(lines):
                if line.variant_id == variant_id:
                    wanted = line.quantity + quantity
                    _check_quantity(wanted)
                    self._check_stock(quote, wanted)
                    lines[i] = replace(line, quantity=wanted)
                    return lines
            if len(lines) >= MAX_LINES:
                raise Conflict(f"a cart holds at most {MAX_LINES} different items")
            self._check_stock(quote, quantity)
            lines.append(CartLine(id="ln_" + secrets.token_urlsafe(8), variant_id=variant_id, quantity=quantity))
            return lines

        return await self._edit(cart_id, change)

    async def set_quantity(self, cart_id: str, line_id: str, quantity: int) -> Cart:
        _check_quantity(quantity)

        async def change(cart: Cart) -> list[CartLine]:
            lines = list(cart.lines)
            for i, line in enumerate(lines):
                if line.id == line_id:
                    self._check_stock(await self._quote(cart, line.variant_id), quantity)
                    lines[i] = replace(line, quantity=quantity)
                    return lines
            raise ResourceNotFound(f"no line {line_id} in this cart")

        return await self._edit(cart_id, change)

    async def remove_line(self, cart_id: str, line_id: str) -> Cart:
        async def change(cart: Cart) -> list[CartLine]:
            lines = [ln for ln in cart.lines if ln.id != line_id]
            if len(lines) == len(cart.lines):
                raise ResourceNotFound(f"no line {line_id} in this cart")
            return lines

        return await self._edit(cart_id, change)

    @staticmethod
    def _check_stock(quote: VariantQuote, quantity: int) -> None:
        if quote.available < quantity:
            left = max(quote.available, 0)
            message = "this item is sold out" if left == 0 else f"only {left} left in stock"
            raise Conflict(message, field="quantity", available=left, variant_id=quote.variant_id)

    async def price(self, cart: Cart, shipping_method_id: str | None = None) -> PricedCart:
        market = self.market_of(cart)
        quotes = await self._backend.quote_variants([ln.variant_id for ln in cart.lines], price_list=market.price_list)
        lines = [
            PricedLine(line=ln, quote=quotes[ln.variant_id], total=quotes[ln.variant_id].price.times(ln.quantity))
            for ln in cart.lines
            if ln.variant_id in quotes  # a product deleted from the catalog drops out of the cart
        ]
        subtotal = Money.zero(market.currency)
        for line in lines:
            subtotal = subtotal + line.total
        methods = offered_methods(self._settings.shipping_methods, market.currency)
        method = next((m for m in methods if m.id == shipping_method_id), None)
        if shipping_method_id is not None and method is None:
            raise InvalidRequest(
                f"unknown shipping method {shipping_method_id!r}",
                fields={"shipping_method": f"choose one of: {', '.join(m.id for m in methods)}"},
            )
        chosen = method or (methods[0] if methods else None)
        shipping = Money.zero(market.currency)
        if chosen is not None and lines:
            shipping = shipping_price(chosen, subtotal) or shipping
        return PricedCart(
            cart=cart,
            market=market,
            lines=lines,
            totals=compute_totals(subtotal, shipping, market),
            shipping_method=chosen,
            shipping_methods=methods,
        )

    async def save(self, cart: Cart) -> Cart | None:
        """Store `cart` if nobody wrote since it was read (compare-and-set on its version); None otherwise."""
        return await self._store.put(cart, expected_version=cart.version)
