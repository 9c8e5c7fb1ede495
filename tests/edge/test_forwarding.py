"""What leaves the edge: hop-by-hop fields gone, and pages that depend on the edge's decisions private."""

from __future__ import annotations

from edge.forwarding import downstream_headers

SHARED = (
    ("content-type", "text/html"),
    ("cache-control", "public, max-age=30, s-maxage=300, stale-while-revalidate=60"),
    ("cdn-cache-control", "max-age=600"),
    ("surrogate-key", "home"),
    ("connection", "keep-alive"),
)


def test_a_page_that_varies_on_nothing_the_edge_decides_stays_shareable() -> None:
    out = dict(downstream_headers((*SHARED, ("vary", "Accept-Encoding"))))
    assert out["cache-control"] == "public, max-age=30, s-maxage=300, stale-while-revalidate=60"
    assert out["cdn-cache-control"] == "max-age=600" and "connection" not in out


def test_a_page_per_market_segment_or_arm_is_for_the_browser_only() -> None:
    for vary in ("X-Market", "Accept-Encoding, x-segment", "X-Exp-Hero"):
        out = downstream_headers((*SHARED, ("vary", vary)))
        fields = dict(out)
        # A CDN in front keys by URL: it must not keep one market's (or segment's, or arm's) page for all.
        assert fields["cache-control"] == "private, max-age=30", vary
        assert "cdn-cache-control" not in fields and "surrogate-key" not in fields, vary
        assert [name for name, _ in out].count("cache-control") == 1
    no_store = dict(downstream_headers((("cache-control", "no-store"), ("vary", "X-Market"))))
    assert no_store["cache-control"] == "private, no-store"
