"""The built-in CommerceBackend on SQLite: the embedded default, and a reference for the contract."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Collection
from datetime import UTC, datetime

from connectors.commerce.base import (
    Address,
    CatalogRecord,
    Category,
    Order,
    OrderDraft,
    OrderLine,
    OrderStatus,
    Product,
    ProductImage,
    ProductOption,
    ProductPage,
    ProductSort,
    ProductUpdate,
    Variant,
    VariantQuote,
)
from connectors.commerce.builtin.schema import create_schema
from connectors.commerce.builtin.seed import PRICE_LISTS, SeedSummary, seed_catalog
from connectors.errors import IdempotencyConflict, NotFound, OutOfStock, VendorMisconfigured, VendorRejected
from connectors.money import Money
from connectors.sqlite import SqliteDatabase

# A pending order holds its stock this long; a crashed checkout gives it back after that.
RESERVATION_SECONDS = 15 * 60
_ORDER_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: order ids get read over the phone

# Each order matches an index exactly (rowid / primary key last), so a page is an index walk, not a sort.
_SORT_SQL: dict[str, str] = {
    "featured": "p.featured_rank, p.id",
    "newest": "p.created_at DESC, p.id DESC",
    "title": "p.title, p.id",
    "price_asc": "pp.min_amount, pp.product_id",
    "price_desc": "pp.min_amount DESC, pp.product_id DESC",
}
_PRICED = "EXISTS (SELECT 1 FROM product_prices pp WHERE pp.product_id = p.id AND pp.price_list = ?)"


def _release_reservation(conn: sqlite3.Connection, order_id: str) -> None:
    conn.execute(
        "UPDATE inventory SET reserved = reserved - ol.quantity FROM order_lines ol"
        " WHERE ol.order_id = ? AND inventory.variant_id = ol.variant_id",
        (order_id,),
    )


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class BuiltinCommerce:
    vendor = "builtin"

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = SqliteDatabase(path)
        self._categories: list[Category] | None = None
        self._currencies: dict[str, str] | None = None
        self._counts: dict[tuple[str, int | None], int] = {}
        self._catalog_version: str | None = None
        conn = self._db.conn()
        create_schema(conn)
        # An empty store still sells in the standard price lists, so its pages render (empty) before any import.
        conn.executemany("INSERT OR IGNORE INTO price_lists (id, currency) VALUES (?, ?)", PRICE_LISTS)

    def invalidate_caches(self) -> None:
        """Call after the catalog was rewritten outside this instance (seeding)."""
        self._categories = None
        self._currencies = None
        self._counts = {}

    # -- catalog ----------------------------------------------------------------------------------------------

    def _check_catalog_version(self) -> None:
        """Drop cached catalog structure when another process (a seed, an import) rewrote the catalog."""
        row = self._db.conn().execute("SELECT value FROM meta WHERE key = 'catalog_version'").fetchone()
        version = row[0] if row else ""
        if version != self._catalog_version:
            self.invalidate_caches()
            self._catalog_version = version

    def _load_categories(self) -> list[Category]:
        self._check_catalog_version()
        if self._categories is None:
            rows = self._db.conn().execute(
                "SELECT id, slug, name, parent_id, description, position FROM categories ORDER BY position, id"
            )
            self._categories = [
                Category(id=r[0], slug=r[1], name=r[2], parent_id=r[3], description=r[4], position=r[5]) for r in rows
            ]
        return self._categories

    def _currency(self, price_list: str) -> str:
        if self._currencies is None:
            self._currencies = dict(self._db.conn().execute("SELECT id, currency FROM price_lists").fetchall())
        try:
            return self._currencies[price_list]
        except KeyError:
            known = ", ".join(sorted(self._currencies)) or "none"
            raise VendorMisconfigured(
                f"price list {price_list!r} does not exist in the built-in catalog (it has: {known}); "
                "point markets[].price_list at one of them"
            ) from None

    def _descendants(self, category_id: int) -> list[int]:
        children: dict[int | None, list[int]] = {}
        for c in self._load_categories():
            children.setdefault(c.parent_id, []).append(c.id)
        found, stack = [], [category_id]
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(children.get(current, ()))
        return found

    async def list_categories(self) -> list[Category]:
        return await self._db.run(self._load_categories)

    def _hydrate(self, product_ids: list[int], price_list: str) -> list[Product]:
        """Products with images, options and priced variants in five queries, in the order given."""
        if not product_ids:
            return []
        conn = self._db.conn()
        currency = self._currency(price_list)
        marks = ",".join("?" * len(product_ids))
        images: dict[int, list[ProductImage]] = {}
        for pid, url, alt in conn.execute(
            f"SELECT product_id, url, alt FROM product_images WHERE product_id IN ({marks})"
            " ORDER BY product_id, position",
            product_ids,
        ):
            images.setdefault(pid, []).append(ProductImage(url=url, alt=alt))
        options: dict[int, list[ProductOption]] = {}
        for pid, name, vals in conn.execute(
            f"SELECT product_id, name, vals FROM product_options WHERE product_id IN ({marks})"
            " ORDER BY product_id, position",
            product_ids,
        ):
            options.setdefault(pid, []).append(ProductOption(name=name, values=json.loads(vals)))
        variants: dict[int, list[Variant]] = {}
        for vid, pid, sku, title, opts, amount, compare_at, on_hand, reserved in conn.execute(
            "SELECT v.id, v.product_id, v.sku, v.title, v.options, pr.amount, pr.compare_at, i.on_hand, i.reserved"
            " FROM variants v JOIN prices pr ON pr.variant_id = v.id AND pr.price_list = ?"
            " JOIN inventory i ON i.variant_id = v.id"
            f" WHERE v.product_id IN ({marks}) ORDER BY v.product_id, v.position",
            [price_list, *product_ids],
        ):
            variants.setdefault(pid, []).append(
                Variant(
                    id=vid,
                    sku=sku,
                    title=title,
                    options=json.loads(opts),
                    price=Money(amount=amount, currency=currency),
                    compare_at_price=Money(amount=compare_at, currency=currency) if compare_at else None,
                    available=on_hand - reserved,
                )
            )
        by_id: dict[int, Product] = {}
        for pid, handle, title, description, brand, category_id, tags, updated_at in conn.execute(
            "SELECT id, handle, title, description, brand, category_id, tags, updated_at FROM products"
            f" WHERE id IN ({marks})",
            product_ids,
        ):
            if pid not in variants:
                continue  # not sold in this price list
            by_id[pid] = Product(
                id=pid,
                handle=handle,
                title=title,
                description=description,
                brand=brand,
                category_id=category_id,
                tags=[t for t in tags.split(",") if t],
                images=images.get(pid, []),
                options=options.get(pid, []),
                variants=variants[pid],
                updated_at=_utc(updated_at),
            )
        return [by_id[pid] for pid in product_ids if pid in by_id]

    def _list_products(
        self, price_list: str, category_id: int | None, page: int, per_page: int, sort: ProductSort
    ) -> ProductPage:
        self._check_catalog_version()
        self._currency(price_list)
        conditions, params = [], []
        if category_id is not None:
            ids = self._descendants(category_id)
            conditions.append(f"p.category_id IN ({','.join('?' * len(ids))})")
            params = list(ids)
        if sort in ("price_asc", "price_desc"):
            source = "product_prices pp JOIN products p ON p.id = pp.product_id"
            conditions.insert(0, "pp.price_list = ?")
        else:
            source = "products p"
            conditions.insert(0, _PRICED)
        where = " AND ".join(conditions)
        conn = self._db.conn()
        total = self._count(conn, price_list, category_id)
        rows = conn.execute(
            f"SELECT p.id FROM {source} WHERE {where} ORDER BY {_SORT_SQL[sort]} LIMIT ? OFFSET ?",
            [price_list, *params, per_page, (page - 1) * per_page],
        ).fetchall()
        items = self._hydrate([r[0] for r in rows], price_list)
        return ProductPage(items=items, total=total, page=page, per_page=per_page)

    def _count(self, conn: sqlite3.Connection, price_list: str, category_id: int | None) -> int:
        """Listing totals change only when the catalog is rewritten, so they are cached per catalog version."""
        key = (price_list, category_id)
        cached = self._counts.get(key)
        if cached is None:
            condition = _PRICED
            params: list[str | int] = [price_list]
            if category_id is not None:
                ids = self._descendants(category_id)
                condition += f" AND p.category_id IN ({','.join('?' * len(ids))})"
                params.extend(ids)
            cached = int(conn.execute(f"SELECT COUNT(*) FROM products p WHERE {condition}", params).fetchone()[0])
            self._counts[key] = cached
        return cached

    async def list_products(
        self,
        *,
        price_list: str,
        category_id: int | None = None,
        page: int = 1,
        per_page: int = 24,
        sort: ProductSort = "featured",
    ) -> ProductPage:
        return await self._db.run(self._list_products, price_list, category_id, page, per_page, sort)

    def _get_product(self, handle: str, price_list: str) -> Product:
        row = self._db.conn().execute("SELECT id FROM products WHERE handle = ?", (handle,)).fetchone()
        products = self._hydrate([row[0]], price_list) if row else []
        if not products:
            raise NotFound(f"no product with handle {handle!r}")
        return products[0]

    async def get_product(self, handle: str, *, price_list: str) -> Product:
        return await self._db.run(self._get_product, handle, price_list)

    def _quote_variants(self, variant_ids: list[int], price_list: str) -> dict[int, VariantQuote]:
        if not variant_ids:
            return {}
        currency = self._currency(price_list)
        marks = ",".join("?" * len(variant_ids))
        rows = self._db.conn().execute(
            "SELECT v.id, p.id, p.handle, p.title, v.title, v.sku, pr.amount, i.on_hand - i.reserved,"
            " (SELECT url FROM product_images im WHERE im.product_id = p.id ORDER BY position LIMIT 1),"
            " (SELECT alt FROM product_images im WHERE im.product_id = p.id ORDER BY position LIMIT 1)"
            " FROM variants v JOIN products p ON p.id = v.product_id"
            " JOIN prices pr ON pr.variant_id = v.id AND pr.price_list = ?"
            " JOIN inventory i ON i.variant_id = v.id"
            f" WHERE v.id IN ({marks})",
            [price_list, *variant_ids],
        )
        return {
            r[0]: VariantQuote(
                variant_id=r[0],
                product_id=r[1],
                product_handle=r[2],
                product_title=r[3],
                variant_title=r[4],
                sku=r[5],
                price=Money(amount=r[6], currency=currency),
                available=r[7],
                image=ProductImage(url=r[8], alt=r[9]) if r[8] else None,
            )
            for r in rows
        }

    async def quote_variants(self, variant_ids: list[int], *, price_list: str) -> dict[int, VariantQuote]:
        return await self._db.run(self._quote_variants, variant_ids, price_list)

    def _catalog_batch(self, after_id: int, limit: int) -> list[CatalogRecord]:
        conn = self._db.conn()
        rows = conn.execute(
            "SELECT id, handle, title, description, brand, category_id, created_at FROM products"
            " WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        ).fetchall()
        if not rows:
            return []
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        prices: dict[int, dict[str, Money]] = {}
        for pid, price_list, amount in conn.execute(
            f"SELECT product_id, price_list, min_amount FROM product_prices WHERE product_id IN ({marks})", ids
        ):
            prices.setdefault(pid, {})[price_list] = Money(amount=amount, currency=self._currency(price_list))
        options: dict[int, dict[str, list[str]]] = {}
        for pid, name, vals in conn.execute(
            f"SELECT product_id, name, vals FROM product_options WHERE product_id IN ({marks}) ORDER BY position", ids
        ):
            options.setdefault(pid, {})[name] = json.loads(vals)
        stock = dict(
            conn.execute(
                "SELECT v.product_id, SUM(i.on_hand - i.reserved) FROM variants v JOIN inventory i"
                f" ON i.variant_id = v.id WHERE v.product_id IN ({marks}) GROUP BY v.product_id",
                ids,
            ).fetchall()
        )
        images: dict[int, ProductImage] = {}
        for pid, url, alt in conn.execute(
            f"SELECT product_id, url, alt FROM product_images WHERE product_id IN ({marks}) ORDER BY position DESC",
            ids,
        ):
            images[pid] = ProductImage(url=url, alt=alt)  # descending, so the first image wins
        return [
            CatalogRecord(
                id=r[0],
                handle=r[1],
                title=r[2],
                description=r[3],
                brand=r[4],
                category_id=r[5],
                created_at=_utc(r[6]),
                min_prices=prices.get(r[0], {}),
                options=options.get(r[0], {}),
                available=stock.get(r[0]) or 0,
                image=images.get(r[0]),
            )
            for r in rows
        ]

    async def catalog_batch(self, *, after_id: int = 0, limit: int = 500) -> list[CatalogRecord]:
        return await self._db.run(self._catalog_batch, after_id, limit)

    def _update_product(self, product_id: int, update: ProductUpdate) -> CatalogRecord:
        now = int(time.time())
        with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM products WHERE id = ?", (product_id,)).fetchone() is None:
                raise NotFound(f"no product {product_id}")
            variants = {row[0] for row in conn.execute("SELECT id FROM variants WHERE product_id = ?", (product_id,))}
            unknown = sorted((set(update.stock) | {v for pl in update.prices.values() for v in pl}) - variants)
            if unknown:
                raise VendorRejected(f"variants {unknown} do not belong to product {product_id}")
            for price_list in update.prices:
                self._currency(price_list)
            if update.title is not None:
                conn.execute("UPDATE products SET title = ? WHERE id = ?", (update.title, product_id))
            if update.description is not None:
                conn.execute("UPDATE products SET description = ? WHERE id = ?", (update.description, product_id))
            for price_list, amounts in update.prices.items():
                conn.executemany(
                    "UPDATE prices SET amount = ?, compare_at = NULL WHERE variant_id = ? AND price_list = ?",
                    [(amount, variant_id, price_list) for variant_id, amount in amounts.items()],
                )
                conn.execute(
                    "UPDATE product_prices SET min_amount = (SELECT MIN(pr.amount) FROM prices pr JOIN variants v"
                    " ON v.id = pr.variant_id WHERE v.product_id = ? AND pr.price_list = ?)"
                    " WHERE product_id = ? AND price_list = ?",
                    (product_id, price_list, product_id, price_list),
                )
            for variant_id, on_hand in update.stock.items():
                reserved = conn.execute("SELECT reserved FROM inventory WHERE variant_id = ?", (variant_id,)).fetchone()
                if reserved is not None and on_hand < reserved[0]:
                    raise VendorRejected(f"variant {variant_id} has {reserved[0]} units reserved by open checkouts")
                conn.execute("UPDATE inventory SET on_hand = ? WHERE variant_id = ?", (on_hand, variant_id))
            conn.execute("UPDATE products SET updated_at = ? WHERE id = ?", (now, product_id))
        return self._catalog_batch(product_id - 1, 1)[0]

    async def update_product(self, product_id: int, update: ProductUpdate) -> CatalogRecord:
        return await self._db.run(self._update_product, product_id, update)

    # -- orders -----------------------------------------------------------------------------------------------

    @staticmethod
    def _new_order_id() -> str:
        return "ES-" + "".join(secrets.choice(_ORDER_ID_ALPHABET) for _ in range(10))

    @staticmethod
    def _release_expired(conn: sqlite3.Connection, now: int) -> None:
        expired = conn.execute(
            "SELECT id FROM orders WHERE status = 'pending_payment' AND reserved_until < ?", (now,)
        ).fetchall()
        for (order_id,) in expired:
            _release_reservation(conn, order_id)
            conn.execute(
                "UPDATE orders SET status = 'cancelled', reserved_until = NULL, updated_at = ? WHERE id = ?",
                (now, order_id),
            )

    def _order_by(self, conn: sqlite3.Connection, column: str, value: str) -> Order | None:
        row = conn.execute(
            "SELECT id, status, email, market, currency, subtotal, shipping, tax, total, shipping_address,"
            f" shipping_method, token_hash, fingerprint, payment_reference, created_at FROM orders WHERE {column} = ?",
            (value,),
        ).fetchone()
        if row is None:
            return None
        currency = row[4]
        lines = [
            OrderLine(
                variant_id=ln[0],
                product_handle=ln[1],
                title=ln[2],
                variant_title=ln[3],
                sku=ln[4],
                quantity=ln[5],
                unit_price=Money(amount=ln[6], currency=currency),
                total=Money(amount=ln[7], currency=currency),
            )
            for ln in conn.execute(
                "SELECT variant_id, product_handle, title, variant_title, sku, quantity, unit_price, total"
                " FROM order_lines WHERE order_id = ? ORDER BY position",
                (row[0],),
            )
        ]
        return Order(
            id=row[0],
            status=row[1],
            email=row[2],
            market=row[3],
            subtotal=Money(amount=row[5], currency=currency),
            shipping=Money(amount=row[6], currency=currency),
            tax=Money(amount=row[7], currency=currency),
            total=Money(amount=row[8], currency=currency),
            shipping_address=Address.model_validate_json(row[9]),
            shipping_method=row[10],
            token_hash=row[11],
            fingerprint=row[12],
            payment_reference=row[13],
            created_at=_utc(row[14]),
            lines=lines,
        )

    def _place_order(self, draft: OrderDraft) -> Order:
        now = int(time.time())
        with self._db.write() as conn:
            existing = self._order_by(conn, "idempotency_key", draft.idempotency_key)
            if existing is not None:
                if existing.fingerprint != draft.fingerprint:
                    raise IdempotencyConflict("this Idempotency-Key was already used for a different checkout")
                return existing
            self._release_expired(conn, now)
            shortages: dict[int, int] = {}
            for line in draft.lines:
                # The guard in WHERE makes check-and-reserve one atomic statement.
                updated = conn.execute(
                    "UPDATE inventory SET reserved = reserved + ? WHERE variant_id = ? AND on_hand - reserved >= ?",
                    (line.quantity, line.variant_id, line.quantity),
                ).rowcount
                if not updated:
                    row = conn.execute(
                        "SELECT on_hand - reserved FROM inventory WHERE variant_id = ?", (line.variant_id,)
                    ).fetchone()
                    shortages[line.variant_id] = row[0] if row else 0
            if shortages:
                raise OutOfStock(shortages)
            order_id = self._new_order_id()
            conn.execute(
                "INSERT INTO orders (id, idempotency_key, fingerprint, token_hash, status, email, market, currency,"
                " subtotal, shipping, tax, total, shipping_address, shipping_method, reserved_until, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, 'pending_payment', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    order_id,
                    draft.idempotency_key,
                    draft.fingerprint,
                    draft.token_hash,
                    draft.email,
                    draft.market,
                    draft.total.currency,
                    draft.subtotal.amount,
                    draft.shipping.amount,
                    draft.tax.amount,
                    draft.total.amount,
                    draft.shipping_address.model_dump_json(),
                    draft.shipping_method,
                    now + RESERVATION_SECONDS,
                    now,
                    now,
                ),
            )
            conn.executemany(
                "INSERT INTO order_lines (order_id, position, variant_id, product_handle, title, variant_title, sku,"
                " quantity, unit_price, total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        order_id,
                        i,
                        ln.variant_id,
                        ln.product_handle,
                        ln.title,
                        ln.variant_title,
                        ln.sku,
                        ln.quantity,
                        ln.unit_price.amount,
                        ln.total.amount,
                    )
                    for i, ln in enumerate(draft.lines)
                ],
            )
            order = self._order_by(conn, "id", order_id)
        assert order is not None
        return order

    async def place_order(self, draft: OrderDraft) -> Order:
        return await self._db.run(self._place_order, draft)

    def _record_payment(self, order_id: str, status: OrderStatus, payment_reference: str) -> Order:
        now = int(time.time())
        with self._db.write() as conn:
            row = conn.execute("SELECT status FROM orders WHERE id = ?", (order_id,)).fetchone()
            if row is None:
                raise NotFound(f"no order {order_id}")
            if row[0] not in ("pending_payment", "cancelled"):
                # Already paid (or failed): only authorized -> captured moves on; a late or racing event never
                # moves an order back, and a failed one is never taken for paid without its stock.
                if (row[0], status) == ("authorized", "captured"):
                    conn.execute("UPDATE orders SET status = ?, updated_at = ? WHERE id = ?", (status, now, order_id))
                order = self._order_by(conn, "id", order_id)
                assert order is not None
                return order
            if row[0] == "pending_payment":
                conn.execute(
                    "UPDATE inventory SET on_hand = on_hand - ol.quantity, reserved = reserved - ol.quantity"
                    " FROM order_lines ol WHERE ol.order_id = ? AND inventory.variant_id = ol.variant_id",
                    (order_id,),
                )
            elif row[0] == "cancelled":
                # The reservation lapsed while the payment was in flight: sell only what is still free.
                lines = conn.execute(
                    "SELECT variant_id, quantity FROM order_lines WHERE order_id = ?", (order_id,)
                ).fetchall()
                shortages: dict[int, int] = {}
                for variant_id, quantity in lines:
                    if not conn.execute(
                        "UPDATE inventory SET on_hand = on_hand - ? WHERE variant_id = ? AND on_hand - reserved >= ?",
                        (quantity, variant_id, quantity),
                    ).rowcount:
                        shortages[variant_id] = 0
                if shortages:
                    raise OutOfStock(shortages)
            conn.execute(
                "UPDATE orders SET status = ?, payment_reference = ?, reserved_until = NULL, updated_at = ?"
                " WHERE id = ?",
                (status, payment_reference, now, order_id),
            )
            order = self._order_by(conn, "id", order_id)
        assert order is not None
        return order

    async def record_payment(self, order_id: str, *, status: OrderStatus, payment_reference: str) -> Order:
        return await self._db.run(self._record_payment, order_id, status, payment_reference)

    def _void_order(self, order_id: str) -> None:
        with self._db.write() as conn:
            row = conn.execute("SELECT status FROM orders WHERE id = ?", (order_id,)).fetchone()
            if row is None:
                return
            if row[0] == "pending_payment":
                _release_reservation(conn, order_id)
            if row[0] in ("pending_payment", "cancelled"):
                conn.execute("DELETE FROM orders WHERE id = ?", (order_id,))

    async def void_order(self, order_id: str) -> None:
        await self._db.run(self._void_order, order_id)

    def _update_order_status(
        self, order_id: str, status: OrderStatus, expected: Collection[OrderStatus], payment_reference: str | None
    ) -> Order | None:
        with self._db.write() as conn:
            row = conn.execute("SELECT status FROM orders WHERE id = ?", (order_id,)).fetchone()
            if row is None:
                raise NotFound(f"no order {order_id}")
            current = row[0]
            if current not in expected or current == status:
                return None
            if current == "pending_payment":
                _release_reservation(conn, order_id)
            elif current in ("authorized", "captured") and status in ("cancelled", "failed"):
                conn.execute(
                    "UPDATE inventory SET on_hand = on_hand + ol.quantity FROM order_lines ol"
                    " WHERE ol.order_id = ? AND inventory.variant_id = ol.variant_id",
                    (order_id,),
                )
            conn.execute(
                "UPDATE orders SET status = ?, reserved_until = NULL, updated_at = ?,"
                " payment_reference = COALESCE(?, payment_reference) WHERE id = ?",
                (status, int(time.time()), payment_reference, order_id),
            )
            return self._order_by(conn, "id", order_id)

    async def update_order_status(
        self,
        order_id: str,
        status: OrderStatus,
        *,
        expected: Collection[OrderStatus],
        payment_reference: str | None = None,
    ) -> Order | None:
        return await self._db.run(self._update_order_status, order_id, status, expected, payment_reference)

    def _get_order(self, order_id: str) -> Order:
        order = self._order_by(self._db.conn(), "id", order_id)
        if order is None:
            raise NotFound(f"no order {order_id}")
        return order

    async def get_order(self, order_id: str) -> Order:
        return await self._db.run(self._get_order, order_id)

    def seed(self, *, products: int, seed: int) -> SeedSummary:
        """Replace the catalog with a generated one (sync: the CLI and first start run it in a thread)."""
        conn = self._db.conn()
        summary = seed_catalog(conn, products=products, seed=seed)
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('catalog_version', ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (secrets.token_hex(8),),
        )
        # Fresh statistics let the planner pick the category index or the sort index per listing.
        conn.execute("ANALYZE")
        self.invalidate_caches()
        return summary
