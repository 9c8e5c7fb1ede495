"""A market's URLs: links that keep its URL prefix, the canonical URL and the `hreflang` alternates of a page.

The edge takes a market's prefix off the path before the origin sees it (`/eu/p/tent` arrives as `/p/tent`
with `X-Market: eu`). Links are built from the market alone, never from how the shopper arrived, so a page
still depends on `X-Market` only and stays one cached copy per market: a shopper whom geo put in a prefixed
market follows links into its prefix, which from then on pins the market explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from origin import Market


def is_site_path(url: str) -> bool:
    """A path on this site (`/c/tents`), not an absolute or scheme-relative URL or a fragment."""
    return url.startswith("/") and not url.startswith(("//", "/\\"))


_SAFE_SCHEMES = ("http://", "https://", "mailto:", "tel:")


class Links:
    """Called from templates as `url('/cart')`: a site path as the page's market spells it.

    Links also come from the CMS (hero and banner URLs): anything but a site path or a web, mail or phone
    address (a `javascript:` URL, say) becomes "#", so content can never put script in an href."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, url: str) -> str:
        if is_site_path(url):
            return self.prefix + url if self.prefix else url
        return url if url.strip().lower().startswith(_SAFE_SCHEMES) or url.startswith("#") else "#"


@cache
def links(prefix: str) -> Links:
    return Links(prefix)


def market_links(market: Market) -> Links:
    return links(market.url_prefix or "")


def hreflang(market: Market) -> str:
    """BCP 47 with a hyphen, as `hreflang` wants it: `de_DE` -> `de-DE`."""
    return market.locale.replace("_", "-")


@dataclass(frozen=True, slots=True)
class Alternate:
    lang: str
    url: str


@dataclass(frozen=True, slots=True)
class SiteUrls:
    """Absolute URLs for one page. `base` is the shop's public origin (`https://shop.example`)."""

    base: str
    markets: tuple[Market, ...]
    default: Market

    def absolute(self, market: Market, path: str) -> str:
        """`path` as the origin saw it (no prefix, with its query) on the URL that always means `market`."""
        if market.domain:
            return f"{urlsplit(self.base).scheme or 'https'}://{market.domain}{path}"
        return self.base + market_links(market)(path)

    def alternates(self, path: str) -> list[Alternate]:
        """One alternate per market with a URL of its own, then `x-default` (Google's hreflang rules).

        A market with neither prefix nor domain shares the unprefixed URL with the default market, so only
        the first market at a URL and the first market of a language-region code are listed: each URL and
        each code appears once.
        """
        seen_urls: set[str] = set()
        seen_langs: set[str] = set()
        found: list[Alternate] = []
        for market in _default_first(self.markets, self.default):
            url, lang = self.absolute(market, path), hreflang(market)
            if url in seen_urls or lang in seen_langs:
                continue
            seen_urls.add(url)
            seen_langs.add(lang)
            found.append(Alternate(lang, url))
        found.append(Alternate("x-default", self.absolute(self.default, path)))
        return found


def _default_first(markets: Iterable[Market], default: Market) -> list[Market]:
    return [default, *(m for m in markets if m.id != default.id)]


def safe_next(raw: str) -> str:
    """Where a form may send the shopper back to: a path on this site, else the home page (no open redirect)."""
    raw = raw.strip()
    if not is_site_path(raw) or any(ord(ch) < 0x20 or ch == "\x7f" for ch in raw):
        return "/"
    return raw


__all__ = ["Alternate", "Links", "SiteUrls", "hreflang", "is_site_path", "links", "market_links", "safe_next"]
