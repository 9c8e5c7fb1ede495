"""What every CMS adapter needs to turn a vendor's rich text into markup the storefront can trust."""

from __future__ import annotations

_SAFE_SCHEMES = ("http://", "https://", "mailto:", "tel:")


def safe_href(value: object) -> str | None:
    """Links in rich text lead only to the web, mail, phone or this site: never `javascript:`."""
    if not isinstance(value, str) or not value.strip():
        return None
    href = value.strip()
    # "/\\host" is "//host" to a browser: another site, not a path on this one.
    if href.lower().startswith(_SAFE_SCHEMES) or (href[0] in "/#?" and not href.startswith(("//", "/\\"))):
        return href
    return None


__all__ = ["safe_href"]
