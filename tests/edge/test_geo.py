"""edge.geo: the client address behind trusted proxies, CDN geo headers, the IP database and the dev override."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from pydantic import ValidationError

from edge.geo import NOWHERE, Geo, GeoResolver, GeoSettings, client_ip

LONDON = {
    "country": {"iso_code": "GB"},
    "subdivisions": [{"iso_code": "ENG"}],
    "city": {"names": {"en": "London", "de": "London"}},
    "location": {"latitude": 51.5, "longitude": -0.1},
}
# (network, record) pairs of a City-style database. 2a01:e00::/26 is a global range; 2001:db8::/32 (RFC 3849
# documentation) and 10.0.0.0/8 (RFC 1918) are in the database only to show they are never looked up.
CITY_NETWORKS: list[tuple[str, dict[str, Any]]] = [
    ("81.2.69.0/24", LONDON),
    ("2.16.0.0/13", {"country": {"iso_code": "DE"}}),
    ("2a01:e00::/26", {"country": {"iso_code": "FR"}, "location": {"latitude": 48.86, "longitude": 2.35}}),
    ("2001:db8::/32", {"country": {"iso_code": "NL"}}),
    ("10.0.0.0/8", {"country": {"iso_code": "US"}}),
]


def trusted_in(*cidrs: str) -> Callable[[str], bool]:
    networks = [ip_network(cidr) for cidr in cidrs]
    return lambda address: any(ip_address(address) in network for network in networks)


@pytest.fixture
def write_db(tmp_path: Path) -> Callable[..., str]:
    def write(networks: list[tuple[str, dict[str, Any]]], *, ip_version: int = 6, kind: str = "GeoLite2-City") -> str:
        writer = MMDBWriter(
            ip_version=ip_version, ipv4_compatible=ip_version == 6, database_type=kind, description="edgeshop test"
        )
        for network, record in networks:
            writer.insert_network(IPSet([network]), record)
        path = tmp_path / f"{kind}-{len(list(tmp_path.iterdir()))}.mmdb"
        writer.to_db_file(str(path))
        return str(path)

    return write


@pytest.fixture
def make_resolver(write_db: Callable[..., str]) -> Iterator[Callable[..., GeoResolver]]:
    made: list[GeoResolver] = []
    city_db = write_db(CITY_NETWORKS)

    def make(**settings: Any) -> GeoResolver:
        settings.setdefault("database", city_db)
        resolver = GeoResolver(GeoSettings(**settings))
        made.append(resolver)
        return resolver

    yield make
    for resolver in made:
        resolver.close()


def resolve(
    resolver: GeoResolver,
    headers: list[tuple[str, str]] | None = None,
    *,
    peer_trusted: bool = False,
    ip: str = "81.2.69.160",
    query: str = "",
) -> Geo:
    return resolver.resolve(headers or [], peer_trusted=peer_trusted, client_ip=ip, query=query)


# --- client_ip: X-Forwarded-For behind trusted proxies (RFC 7239 semantics, de facto header) ---

PROXIES = trusted_in("10.0.0.0/8", "fd00::/8")


def test_untrusted_peer_ignores_forwarded_for() -> None:
    assert client_ip("198.51.100.7", ["203.0.113.9"], PROXIES) == "198.51.100.7"


def test_trusted_peer_without_forwarded_for_is_the_client() -> None:
    assert client_ip("10.0.0.1", [], PROXIES) == "10.0.0.1"
    assert client_ip("10.0.0.1", [""], PROXIES) == "10.0.0.1"


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        (["198.51.100.7"], "198.51.100.7"),
        (["198.51.100.7, 10.0.0.3, 10.0.0.2"], "198.51.100.7"),  # several trusted hops
        (["6.6.6.6, 7.7.7.7, 198.51.100.7, 10.0.0.2"], "198.51.100.7"),  # spoofed leftmost entries
        (["6.6.6.6", "198.51.100.7, 10.0.0.2"], "198.51.100.7"),  # header lines are one list, in order
        (["198.51.100.7,, 10.0.0.2 ,"], "198.51.100.7"),  # empty list elements are ignored (RFC 9110 §5.6.1)
        (["10.0.0.9, 10.0.0.3"], "10.0.0.9"),  # every hop trusted: the leftmost
        (["  198.51.100.7  ,10.0.0.2"], "198.51.100.7"),
    ],
)
def test_rightmost_untrusted_hop_is_the_client(forwarded_for: list[str], expected: str) -> None:
    assert client_ip("10.0.0.1", forwarded_for, PROXIES) == expected


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        (["198.51.100.7, garbage, 10.0.0.2"], "10.0.0.2"),  # the last trusted hop before the garbage
        (["198.51.100.7, unknown"], "10.0.0.1"),  # RFC 7239 §6 "unknown": the peer is all we know
        (["198.51.100.7, _hidden, 10.0.0.3"], "10.0.0.3"),  # RFC 7239 §6 obfuscated identifier
        (["198.51.100.7, 1.2.3.4:port"], "10.0.0.1"),
        (["198.51.100.7, 1.2.3.4:99999"], "10.0.0.1"),
        (["198.51.100.7, 1.2.3.4:"], "10.0.0.1"),
        (["198.51.100.7, [2001:db8::1"], "10.0.0.1"),
        (["198.51.100.7, [2001:db8::1]x"], "10.0.0.1"),
        (["198.51.100.7, [1.2.3.4]"], "10.0.0.1"),  # brackets are for IPv6 only
        (["198.51.100.7, 1.2.3.4.5"], "10.0.0.1"),
        (["198.51.100.7, 010.0.0.1"], "10.0.0.1"),  # no octal spellings of a trusted address
        (["198.51.100.7, fe80::1%eth0"], "10.0.0.1"),  # zone ids are local to one host
        (["198.51.100.7, １.2.3.4"], "10.0.0.1"),  # non-ASCII digits
    ],
)
def test_garbage_ends_the_walk_at_the_last_trusted_hop(forwarded_for: list[str], expected: str) -> None:
    assert client_ip("10.0.0.1", forwarded_for, PROXIES) == expected


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("198.51.100.7:5678", "198.51.100.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:DB8:0:0::1]:80", "2001:db8::1"),  # normalized
        ("::ffff:198.51.100.7", "198.51.100.7"),  # IPv4-mapped IPv6 is the IPv4 shopper
        ("[::FFFF:C633:6407]:80", "198.51.100.7"),
    ],
)
def test_addresses_lose_brackets_and_ports(entry: str, expected: str) -> None:
    assert client_ip("10.0.0.1", [f"{entry}, 10.0.0.2"], PROXIES) == expected


def test_trusted_ipv6_proxies_are_skipped() -> None:
    assert client_ip("fd00::1", ["198.51.100.7, [fd00::2]:8080"], PROXIES) == "198.51.100.7"


# --- CDN headers: believed only from a trusted peer ---


def test_cdn_headers_from_a_trusted_peer(make_resolver: Callable[..., GeoResolver]) -> None:
    headers = [
        ("cloudfront-viewer-country", "us"),
        ("cloudfront-viewer-country-region", "mi"),
        ("cloudfront-viewer-city", "Ann Arbor"),
        ("cloudfront-viewer-latitude", "42.30680"),
        ("cloudfront-viewer-longitude", "-83.70590"),
    ]
    geo = resolve(make_resolver(), headers, peer_trusted=True)
    assert geo == Geo("US", "MI", "Ann Arbor", 42.3068, -83.7059, "cdn")


def test_spoofed_cdn_header_from_an_untrusted_peer_is_ignored(make_resolver: Callable[..., GeoResolver]) -> None:
    geo = resolve(make_resolver(), [("cf-ipcountry", "US"), ("cf-ipcity", "Austin")], peer_trusted=False)
    assert geo == Geo("GB", "ENG", "London", 51.5, -0.1, "ipdb")


def test_first_present_country_header_wins(make_resolver: Callable[..., GeoResolver]) -> None:
    headers = [("x-vercel-ip-country", "FR"), ("cf-ipcountry", "DE"), ("cloudfront-viewer-country", "ES")]
    assert resolve(make_resolver(), headers, peer_trusted=True).country == "ES"
    assert resolve(make_resolver(), headers[:2], peer_trusted=True).country == "DE"


def test_configured_headers_replace_the_defaults(make_resolver: Callable[..., GeoResolver]) -> None:
    resolver = make_resolver(country_headers=["Fastly-Geo-Country-Code"], city_headers=[])
    geo = resolve(resolver, [("fastly-geo-country-code", "SE"), ("cf-ipcountry", "DE")], peer_trusted=True)
    assert geo == Geo("SE", source="cdn")


@pytest.mark.parametrize("unknown", ["XX", "T1", "ZZ", "", "  "])
def test_cdn_without_a_country_falls_back_to_the_database(
    make_resolver: Callable[..., GeoResolver], unknown: str
) -> None:
    geo = resolve(make_resolver(), [("cf-ipcountry", unknown), ("cf-ipcity", "Somewhere")], peer_trusted=True)
    assert geo.source == "ipdb" and geo.country == "GB"


def test_conflicting_repeated_cdn_header_is_believed_for_neither(make_resolver: Callable[..., GeoResolver]) -> None:
    geo = resolve(make_resolver(), [("cf-ipcountry", "US"), ("cf-ipcountry", "DE")], peer_trusted=True)
    assert geo.source == "ipdb"
    assert resolve(make_resolver(), [("cf-ipcountry", "DE"), ("cf-ipcountry", "DE")], peer_trusted=True).country == "DE"


@pytest.mark.parametrize("value", ["GBR", "G", "G1", "12", "ÄÖ", "G B", "gb\x00", "<script>", "G" * 5000])
def test_invalid_country_values_are_rejected(make_resolver: Callable[..., GeoResolver], value: str) -> None:
    assert resolve(make_resolver(), [("cf-ipcountry", value)], peer_trusted=True).source == "ipdb"


def test_country_values_are_trimmed_and_uppercased(make_resolver: Callable[..., GeoResolver]) -> None:
    assert resolve(make_resolver(), [("cf-ipcountry", " de ")], peer_trusted=True) == Geo("DE", source="cdn")


@pytest.mark.parametrize(
    ("latitude", "longitude", "expected"),
    [
        ("90", "-180", (90.0, -180.0)),
        ("90.0001", "0", (None, 0.0)),
        ("-91", "181", (None, None)),
        ("nan", "inf", (None, None)),
        ("-inf", "1e308", (None, None)),
        ("north", "", (None, None)),
        ("1" * 200, "2" * 200, (None, None)),
    ],
)
def test_coordinates_out_of_range_are_rejected(
    make_resolver: Callable[..., GeoResolver], latitude: str, longitude: str, expected: tuple[float, float]
) -> None:
    headers = [("cf-ipcountry", "DE"), ("cf-iplatitude", latitude), ("cf-iplongitude", longitude)]
    geo = resolve(make_resolver(), headers, peer_trusted=True)
    assert (geo.country, (geo.latitude, geo.longitude)) == ("DE", expected)


@pytest.mark.parametrize(
    ("city", "expected"),
    [
        ("S%C3%A3o%20Paulo", "São Paulo"),  # Vercel percent-encodes (RFC 3986)
        ("SÃ£o Paulo", "São Paulo"),  # UTF-8 bytes that the edge decoded as Latin-1
        ("  Zürich ", "Zürich"),  # genuine Latin-1 stays as it is
        ("x" * 101, None),
        ("Evil\r\nSet-Cookie: a=b", None),
        ("Evil%0ASet-Cookie", None),
        ("%FF%FE", None),  # percent-encoded, but not UTF-8
        ("", None),
    ],
)
def test_city_values_are_decoded_trimmed_and_bounded(
    make_resolver: Callable[..., GeoResolver], city: str, expected: str | None
) -> None:
    geo = resolve(make_resolver(), [("x-vercel-ip-country", "BR"), ("x-vercel-ip-city", city)], peer_trusted=True)
    assert (geo.country, geo.city) == ("BR", expected)


@pytest.mark.parametrize(("region", "expected"), [("by", "BY"), ("13", "13"), ("ENG", "ENG"), ("Bavaria", None)])
def test_region_is_an_iso_3166_2_subdivision_code(
    make_resolver: Callable[..., GeoResolver], region: str, expected: str | None
) -> None:
    geo = resolve(make_resolver(), [("cf-ipcountry", "DE"), ("cf-region-code", region)], peer_trusted=True)
    assert geo.region == expected


# --- IP database (MaxMind DB format) ---


def test_ipv4_lookup_in_a_city_database(make_resolver: Callable[..., GeoResolver]) -> None:
    assert resolve(make_resolver(), ip="81.2.69.160") == Geo("GB", "ENG", "London", 51.5, -0.1, "ipdb")
    assert resolve(make_resolver(), ip="2.17.1.1") == Geo("DE", source="ipdb")


def test_ipv6_lookup_in_a_city_database(make_resolver: Callable[..., GeoResolver]) -> None:
    assert resolve(make_resolver(), ip="2a01:e00::1") == Geo("FR", latitude=48.86, longitude=2.35, source="ipdb")
    assert resolve(make_resolver(), ip="::ffff:81.2.69.160").city == "London"


@pytest.mark.parametrize("ip", ["8.8.8.8", "2606:4700::1111"])
def test_address_missing_from_the_database(make_resolver: Callable[..., GeoResolver], ip: str) -> None:
    assert resolve(make_resolver(), ip=ip) is NOWHERE


@pytest.mark.parametrize(
    "ip", ["10.1.2.3", "127.0.0.1", "::1", "fe80::1", "2001:db8::5", "100.64.0.1", "224.0.0.1", "not-an-ip", ""]
)
def test_private_and_invalid_addresses_are_not_looked_up(make_resolver: Callable[..., GeoResolver], ip: str) -> None:
    # 10/8 and 2001:db8::/32 are in the test database: a lookup would have found them.
    assert resolve(make_resolver(), ip=ip) is NOWHERE


def test_country_database_gives_the_country_only(
    write_db: Callable[..., str], make_resolver: Callable[..., GeoResolver]
) -> None:
    path = write_db([("2.16.0.0/13", {"country": {"iso_code": "DE"}})], ip_version=4, kind="GeoLite2-Country")
    resolver = make_resolver(database=path)
    assert resolve(resolver, ip="2.17.1.1") == Geo("DE", source="ipdb")
    assert resolve(resolver, ip="2a01:e00::1") is NOWHERE  # IPv6 against an IPv4-only database


def test_records_that_are_not_geo_records_give_nothing(
    write_db: Callable[..., str], make_resolver: Callable[..., GeoResolver]
) -> None:
    path = write_db(
        [
            ("81.2.69.0/24", {"autonomous_system_number": 64500}),
            ("2.16.0.0/13", {"country": {"iso_code": "XX"}, "location": {"latitude": 123.0}}),
        ]
    )
    resolver = make_resolver(database=path)
    assert resolve(resolver, ip="81.2.69.160") is NOWHERE
    assert resolve(resolver, ip="2.17.1.1") is NOWHERE


def test_lookups_are_cached(make_resolver: Callable[..., GeoResolver]) -> None:
    resolver = make_resolver()
    assert resolve(resolver, ip="81.2.69.160") is resolve(resolver, ip="81.2.69.160")


def test_without_a_database_nothing_is_known(make_resolver: Callable[..., GeoResolver]) -> None:
    assert resolve(make_resolver(database=None), ip="81.2.69.160") is NOWHERE


def test_after_close_nothing_is_looked_up(make_resolver: Callable[..., GeoResolver]) -> None:
    resolver = make_resolver()
    resolver.close()
    resolver.close()
    assert resolve(resolver, ip="81.2.69.160") is NOWHERE


def test_a_database_that_cannot_be_opened_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "GeoLite2-City.mmdb"
    with pytest.raises(ValueError, match=re.escape(str(missing))):
        GeoResolver(GeoSettings(database=str(missing)))
    garbage = tmp_path / "garbage.mmdb"
    garbage.write_bytes(b"not a maxmind database" * 10)
    with pytest.raises(ValueError, match=re.escape(str(garbage))):
        GeoResolver(GeoSettings(database=str(garbage)))


# --- development override ---


@pytest.mark.parametrize("query", ["_geo=fr", "page=2&_geo=FR", "_geo=%20fr%20&x=1", "_geo=FR&_geo=DE"])
def test_dev_override_from_the_query(make_resolver: Callable[..., GeoResolver], query: str) -> None:
    geo = resolve(make_resolver(dev=True), [("cf-ipcountry", "DE")], peer_trusted=True, query=query)
    assert geo == Geo("FR", source="override")


def test_dev_override_from_the_header(make_resolver: Callable[..., GeoResolver]) -> None:
    assert resolve(make_resolver(dev=True), [("x-edgeshop-geo", "jp")]) == Geo("JP", source="override")
    resolver = make_resolver(dev=True, override_header="X-Where", override_param="where")
    assert resolve(resolver, [("x-where", "IT")]) == Geo("IT", source="override")
    assert resolve(resolver, query="where=ES") == Geo("ES", source="override")


def test_override_is_ignored_without_dev(make_resolver: Callable[..., GeoResolver]) -> None:
    resolver = make_resolver()
    assert resolve(resolver, [("x-edgeshop-geo", "JP")], query="_geo=FR").source == "ipdb"
    assert resolve(resolver, [("x-edgeshop-geo", "JP"), ("cf-ipcountry", "DE")], peer_trusted=True).country == "DE"


@pytest.mark.parametrize("query", ["_geo=XX", "_geo=france", "_geo=", "x_geo=FR", "geo=FR", "_geo"])
def test_invalid_or_misnamed_override_is_ignored(make_resolver: Callable[..., GeoResolver], query: str) -> None:
    assert resolve(make_resolver(dev=True), query=query).source == "ipdb"


def test_invalid_query_override_leaves_the_header_override(make_resolver: Callable[..., GeoResolver]) -> None:
    geo = resolve(make_resolver(dev=True), [("x-edgeshop-geo", "NO")], query="_geo=nope")
    assert geo == Geo("NO", source="override")


# --- settings ---


def test_settings_defaults_and_normalization() -> None:
    settings = GeoSettings(country_headers=[" CF-IPCountry "], override_header="X-EdgeShop-Geo")
    assert settings.country_headers == ["cf-ipcountry"]
    assert settings.override_header == "x-edgeshop-geo"
    defaults = GeoSettings()
    assert defaults.database is None and defaults.dev is False and defaults.override_param == "_geo"
    assert all(name == name.lower() for name in defaults.country_headers + defaults.city_headers)


def test_settings_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="extra"):
        GeoSettings(databse="GeoLite2-City.mmdb")  # type: ignore[call-arg]
