"""Carts: the domain model, a small store interface, and the service that edits carts safely."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from connectors.commerce.base import CommerceBackend, VariantQuote
from connectors.money import Money
from connectors.sqlite import SqliteDatabase
from origin.errors import Conflict, InvalidRequest, ResourceNotFound
from origin.markets import MarketResolver
from origin.pricing import Totals, compute_totals, offered_methods, shipping_price
from origin.settings import Market, OriginSettings, ShippingMethod

MAX_QUANTITY = 99
MAX_LINES = 50
# Saving a cart races other tabs of the same shopper; a few optimistic retries always settle it.
_SAVE_ATTEMPTS = 8

CartStatus = Literal["open", "checking_out", "completed"]


def new_cart_id() -> str:
    # 192 bits from the OS CSPRNG: the id is the cart's only credential in the JSON API.
    return "cart_" + secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class CartLine:
    id: str
    variant_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Cart:
    id: str
    market: str
    lines: tuple[CartLine, ...] = ()
    status: CartStatus = "open"
    checkout_key: str | None = None
    checkout_started_at: int = 0
    order_id: str | None = None
    version: int = 0
    created_at: int = field(default_factory=lambda: int(time.time()))

    def to_json(self) -> str:
        return json.dumps(
            {
                "market": self.market,
                "lines": [[ln.id, ln.variant_id, ln.quantity] for ln in self.lines],
                "status": self.status,
                "checkout_key": self.checkout_key,
                "checkout_started_at": self.checkout_started_at,
                "order_id": self.order_id,
                "created_at": self.created_at,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, cart_id: str, version: int, data: str) -> Cart:
        raw: dict[str, Any] = json.loads(data)
        return cls(
            id=cart_id,
            market=raw["market"],
            lines=tuple(CartLine(id=i, variant_id=v, quantity=q) for i, v, q in raw["lines"]),
            status=raw["status"],
            checkout_key=raw["checkout_key"],
            checkout_started_at=raw["checkout_started_at"],
            order_id=raw["order_id"],
            created_at=raw["created_at"],
            version=version,
        )


class CartStore(Protocol):
    """Persistence for carts with optimistic concurrency: `put` succeeds only on the expected version."""

    async def get(self, cart_id: str) -> Cart | None: ...

    async def put(self, cart: Cart, *, expected_version: int) -> Cart | None:
        """Store `cart` as version expected_version + 1; None when someone else wrote first."""
        ...

    async def delete(self, cart_id: str) -> None: ...


class SqliteCartStore:
    def __init__(self, path: str, *, ttl_seconds: int) -> None:
        self._db = SqliteDatabase(path)
        self._ttl = ttl_seconds
        self._db.conn().execute(
            "CREATE TABLE IF NOT EXISTS carts (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL,"
            " expires_at INTEGER NOT NULL)"
        )

    def _get(self, cart_id: str) -> Cart | None:
        row = (
            self._db.conn()
            .execute("SELECT version, data FROM carts WHERE id = ? AND expires_at > ?", (cart_id, int(time.time())))
            .fetchone()
        )
        return Cart.from_json(cart_id, row[0], row[1]) if row else None

    def _put(self, cart: Cart, expected_version: int) -> Cart | None:
        conn = self._db.conn()
        expires = int(time.time()) + self._ttl
        if expected_version == 0:
            try:
                conn.execute(
                    "INSERT INTO carts (id, version, data, expires_at) VALUES (?, 1, ?, ?)",
                    (cart.id, cart.to_json(), expires),
                )
            except sqlite3.IntegrityError:
                return None
        elif not conn.execute(
            "UPDATE carts SET version = version + 1, data = ?, expires_at = ? WHERE id = ? AND version = ?",
            (cart.to_json(), expires, cart.id, expected_version),
        ).rowcount:
            return None
        return replace(cart, version=expected_version + 1)

    def _delete(self, cart_id: str) -> None:
        self._db.conn().execute("DELETE FROM carts WHERE id = ?", (cart_id,))

    async def get(self, cart_id: str) -> Cart | None:
        return await self._db.run(self._get, cart_id)

    async def put(self, cart: Cart, *, expected_version: int) -> Cart | None:
        return await self._db.run(self._put, cart, expected_version)

    async def delete(self, cart_id: str) -> None:
        await self._db.run(self._delete, cart_id)


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

    def market_of(self, cart: Cart) -> Market:
        # A market removed from config after the cart was made: price it in the default market.
        return self._markets.get(cart.market) or self._markets.default

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
