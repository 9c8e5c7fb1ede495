"""Carts: the model, where they are stored, and the service that edits and prices them."""

from origin.carts.model import Cart, CartLine, CartStatus, new_cart_id
from origin.carts.service import MAX_LINES, MAX_QUANTITY, CartService, PricedCart, PricedLine
from origin.carts.store import CartStore, SqliteCartStore

__all__ = [
    "MAX_LINES",
    "MAX_QUANTITY",
    "Cart",
    "CartLine",
    "CartService",
    "CartStatus",
    "CartStore",
    "PricedCart",
    "PricedLine",
    "SqliteCartStore",
    "new_cart_id",
]
