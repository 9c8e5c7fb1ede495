"""Cache keys never merge URLs the origin can tell apart."""

from __future__ import annotations

from cdn.keys import normalize_host, normalize_query, primary_key, secondary_key, surrogate_tags


def key(path: str = "/p/boot", query: str = "", **kw: str) -> str:
    return primary_key(kw.pop("method", "GET"), "shop.example", path, normalize_query(query), **kw)


def test_query_order_and_tracking_parameters_do_not_split_the_cache() -> None:
    assert key(query="b=2&a=1") == key(query="a=1&b=2")
    assert key(query="a=1&utm_source=x&gclid=y&fbclid=z&UTM_Medium=q") == key(query="a=1")


def test_repeated_parameters_keep_their_order() -> None:
    assert normalize_query("a=2&b=1&a=1") == "a=2&a=1&b=1"
    assert key(query="a=1&a=2") != key(query="a=2&a=1")


def test_encoding_tricks_stay_distinct_from_the_real_page() -> None:
    # web cache deception: none of these may share the key of /account or of a static file
    account = key("/account")
    for trick in ("/account;x.css", "/account/..%2fstatic/x.css", "/account%2Fx.css", "/account/x.css", "/ACCOUNT"):
        assert key(trick) != account
    assert key("/static/x.css") != key("/account/..%2fstatic/x.css")


def test_market_variant_and_method_are_part_of_the_key() -> None:
    assert key(market="eu") != key(market="us")
    assert key(variant="vip") != key(variant="")
    assert key(method="HEAD") == key(method="GET")  # HEAD is answered from the GET entry
    assert key().startswith("es:entry:")


def test_values_of_blank_and_empty_parameters_are_kept() -> None:
    assert normalize_query("q=&a") == "a=&q="
    assert key(query="q=") != key(query="")


def test_hosts_and_vary_variants() -> None:
    assert normalize_host("Shop.Example:443") == "shop.example"
    assert normalize_host("shop.example:8443") == "shop.example:8443"
    primary = key()
    assert secondary_key(primary, ()) == primary
    assert secondary_key(primary, (("x-market", "eu"),)) != secondary_key(primary, (("x-market", "us"),))


def test_surrogate_and_cache_tag_lines() -> None:
    assert surrogate_tags(["product:1 category:2", "product:1,home"]) == ["product:1", "category:2", "home"]
