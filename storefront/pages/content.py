"""CMS pages (/pages/shipping, /pages/returns, …): merchant content, shared by every shopper."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from origin import NotFound, cms_tag
from storefront.site import Site

# Slugs reach the CMS (a file name for the built-in one): only plain ones get that far.
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


class ContentPages:
    def __init__(self, site: Site) -> None:
        self.site = site

    async def page(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        keys = [cms_tag("page", slug), cms_tag("page", "")]
        if not _SLUG.fullmatch(slug):
            return await self.site.not_found(request)
        market = self.site.market(request)
        try:
            entry = await self.site.store.connectors.cms.get_entry("page", slug, locale=Site.content_locale(market))
        except NotFound:
            # Tagged with the page's key: publishing it later purges this 404 from the caches.
            return await self.site.not_found(request, keys=keys)
        return await self.site.shared(request, "page.html", market=market, keys=keys, title=entry.title, entry=entry)
