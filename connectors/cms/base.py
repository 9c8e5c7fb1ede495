"""The ContentProvider port: CMS entries (home hero, banners, static pages) by slug and locale."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict


class ContentEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    content_type: str
    slug: str
    locale: str
    title: str
    # Rendered, trusted HTML from the CMS (the merchant's own content); empty for structured entries.
    body_html: str = ""
    fields: dict[str, Any]
    updated_at: datetime


class ContentEvent(BaseModel):
    """A publish webhook, normalized: which entry changed, so its pages can be purged at the edge."""

    model_config = ConfigDict(frozen=True)

    id: str  # the vendor's delivery or event id: a replay changes nothing
    action: Literal["published", "unpublished", "deleted"]
    content_type: str
    slug: str


class ContentProvider(Protocol):
    vendor: str

    async def get_entry(self, content_type: str, slug: str, *, locale: str, preview: bool = False) -> ContentEntry:
        """Falls back to the default locale; raises NotFound."""
        ...

    async def list_entries(self, content_type: str, *, locale: str, preview: bool = False) -> list[ContentEntry]: ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[ContentEvent]:
        """Verify the webhook (a vendor secret) and normalize it. Raises WebhookRejected."""
        ...
