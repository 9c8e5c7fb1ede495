"""Settings owned by the storefront: the shop's name and presentation choices."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


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
    # A project's own look, relative to its folder (wrangler.toml's), each used only when it exists: a template in
    # `templates_dir` replaces the package's template of the same name (the others still come from the package),
    # and a file in `static_dir` replaces or adds a static file.
    templates_dir: str = Field(default="templates", min_length=1)
    static_dir: str = Field(default="static", min_length=1)
    # What `wrangler-py build` wrote, relative to the project, used when the file exists: templates then link the
    # fingerprinted copies (in `assets/` beside it), which are cached for good. Unknown names fail the render.
    asset_manifest: str = Field(default="dist/asset-manifest.json", min_length=1)
    # Where the fingerprinted assets are published (a CDN in front of a bucket), e.g. "https://cdn.example/assets/".
    # Unset, the origin serves them itself under /static/.
    assets_url: str | None = None

    @field_validator("assets_url")
    @classmethod
    def _assets_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if (
            not value.startswith(("https://", "http://", "/"))
            or value.startswith("//")
            or any(c.isspace() for c in value)
        ):
            raise ValueError("write an absolute URL (https://cdn.example/assets/) or a path on the shop (/assets/)")
        return value if value.endswith("/") else value + "/"  # names are appended to it
