"""SQLite schema of the built-in commerce backend. Money columns are integer minor units."""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS categories (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES categories(id),
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS price_lists (
    id TEXT PRIMARY KEY,            -- 'usd', 'eur', 'gbp'
    currency TEXT NOT NULL          -- ISO 4217
);

CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY,
    handle TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    brand TEXT NOT NULL,
    category_id INTEGER NOT NULL REFERENCES categories(id),
    tags TEXT NOT NULL DEFAULT '',  -- comma separated
    featured_rank INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,    -- unix seconds
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS products_category ON products(category_id, featured_rank);
CREATE INDEX IF NOT EXISTS products_featured ON products(featured_rank);
CREATE INDEX IF NOT EXISTS products_created ON products(created_at);
CREATE INDEX IF NOT EXISTS products_title ON products(title);

CREATE TABLE IF NOT EXISTS product_images (
    product_id INTEGER NOT NULL REFERENCES products(id),
    position INTEGER NOT NULL,
    url TEXT NOT NULL,
    alt TEXT NOT NULL,
    PRIMARY KEY (product_id, position)
);

CREATE TABLE IF NOT EXISTS product_options (
    product_id INTEGER NOT NULL REFERENCES products(id),
    position INTEGER NOT NULL,
    name TEXT NOT NULL,             -- 'Size', 'Color'
    vals TEXT NOT NULL,             -- JSON array of strings, in display order
    PRIMARY KEY (product_id, position)
);

CREATE TABLE IF NOT EXISTS variants (
    id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products(id),
    position INTEGER NOT NULL,
    sku TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,            -- 'M / Red'
    options TEXT NOT NULL           -- JSON object option name -> value
);
CREATE INDEX IF NOT EXISTS variants_product ON variants(product_id, position);

CREATE TABLE IF NOT EXISTS prices (
    variant_id INTEGER NOT NULL REFERENCES variants(id),
    price_list TEXT NOT NULL REFERENCES price_lists(id),
    amount INTEGER NOT NULL CHECK (amount >= 0),
    compare_at INTEGER,             -- was-price for sales, NULL when not on sale
    PRIMARY KEY (variant_id, price_list)
) WITHOUT ROWID;

-- min variant price per product and price list, kept by the writer, for price sorting of listings
CREATE TABLE IF NOT EXISTS product_prices (
    product_id INTEGER NOT NULL REFERENCES products(id),
    price_list TEXT NOT NULL,
    min_amount INTEGER NOT NULL,
    PRIMARY KEY (product_id, price_list)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS product_prices_sort ON product_prices(price_list, min_amount);

CREATE TABLE IF NOT EXISTS inventory (
    variant_id INTEGER PRIMARY KEY REFERENCES variants(id),
    on_hand INTEGER NOT NULL CHECK (on_hand >= 0),
    reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand)
);

CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    email TEXT NOT NULL,
    market TEXT NOT NULL,
    currency TEXT NOT NULL,
    subtotal INTEGER NOT NULL,
    shipping INTEGER NOT NULL,
    tax INTEGER NOT NULL,
    total INTEGER NOT NULL,
    shipping_address TEXT NOT NULL, -- JSON
    shipping_method TEXT NOT NULL,
    payment_reference TEXT,
    reserved_until INTEGER,         -- unix seconds; pending orders past it release their stock
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_pending ON orders(status, reserved_until);

CREATE TABLE IF NOT EXISTS order_lines (
    order_id TEXT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    variant_id INTEGER NOT NULL,
    product_handle TEXT NOT NULL,
    title TEXT NOT NULL,
    variant_title TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price INTEGER NOT NULL,
    total INTEGER NOT NULL,
    PRIMARY KEY (order_id, position)
);
"""


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
