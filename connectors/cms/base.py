"""The ContentProvider port: CMS entries (home hero, banners, static pages) by slug and locale."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

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


class ContentProvider(Protocol):
    vendor: str

    async def get_entry(self, content_type: str, slug: str, *, locale: str, preview: bool = False) -> ContentEntry:
        """Falls back to the default locale; raises NotFound."""
        ...

    async def list_entries(self, content_type: str, *, locale: str, preview: bool = False) -> list[ContentEntry]: ...
