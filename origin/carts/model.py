"""The cart as the domain sees it: lines of variants and the state of its checkout."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

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
