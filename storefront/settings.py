"""Settings owned by the storefront: the shop's name and presentation choices."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StorefrontSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "Summit & Trail"
    tagline: str = "Gear for the long way round"
    support_email: str = "help@summit-trail.example"
    products_per_page: int = Field(default=24, ge=4, le=96)
    featured_products: int = Field(default=8, ge=0, le=48)
    accent_color: str = Field(default="#1f6f5c", pattern=r"^#[0-9a-fA-F]{6}$")
    # Where shoppers reach the shop, for canonical and hreflang URLs. Unset, pages use the URL each request
    # came to, which is right in dev; set it in production (and when a market has its own domain).
    public_url: str | None = Field(default=None, pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
    # After this many orders the segment cookie says "vip" instead of "returning" (the edge reads it).
    vip_after_orders: int = Field(default=3, ge=1)
    # Secure cookies need HTTPS; the demo on http://127.0.0.1 turns it off, production keeps it on.
    secure_cookies: bool = False
