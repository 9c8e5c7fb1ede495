"""Where a shopper is, decided at the edge: a developer's override, trusted CDN headers, an IP database, or nowhere.

Country codes are ISO 3166-1 alpha-2, region codes the subdivision part of ISO 3166-2 (``ENG`` of ``GB-ENG``).
Nothing a shopper can send is believed unless a trusted proxy vouches for it: CDN geo headers count only when the
peer is a trusted proxy, and the client address is read from X-Forwarded-For right to left, up to the first hop that
is not a trusted proxy.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv6Address, ip_address
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Any, Literal
from urllib.parse import unquote, unquote_plus

import maxminddb
from cachetools import LRUCache
from pydantic import BaseModel, ConfigDict, Field, field_validator

# The same few thousand shoppers come back within minutes; a lookup costs a tree walk and a record decode.
LOOKUP_CACHE_ENTRIES = 10_000
# A geo header value is a code, a name or a number: anything longer is not from a CDN.
MAX_VALUE_CHARS = 100

_COUNTRY = re.compile(r"[A-Z]{2}")
# CloudFront, Vercel and Cloudflare send the subdivision part of ISO 3166-2 alone: 1-3 letters or digits.
_REGION = re.compile(r"[A-Z0-9]{1,3}")
# Not countries: XX (Cloudflare: unknown) and ZZ (ISO 3166-1 user-assigned; CLDR: unknown region). T1 (Cloudflare:
# Tor) fails the pattern already.
_NOT_COUNTRIES = frozenset({"XX", "ZZ"})

Source = Literal["cdn", "ipdb", "override", "none"]


class GeoSettings(BaseModel):
    """Where geo answers come from.

    A CDN overwrites the geo headers it sets itself but passes every other header through from the shopper: list
    only the headers of the CDN in front of this edge. The defaults name CloudFront, Cloudflare and Vercel, so behind
    one of them a shopper can still send another's header (first present wins).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    database: str | None = Field(
        default=None, description="MaxMind-format database (GeoLite2/GeoIP2 Country or City .mmdb); none: no IP lookup"
    )
    # CloudFront: origin request policy headers; Cloudflare: CF-IPCountry (IP geolocation) and the "Add visitor
    # location headers" managed transform; Vercel: x-vercel-ip-* request headers. Fastly has no geo header of its
    # own: add the one your VCL or Compute service sets from client.geo.*.
    country_headers: list[str] = Field(
        default_factory=lambda: ["cloudfront-viewer-country", "cf-ipcountry", "x-vercel-ip-country"],
        description="ISO 3166-1 alpha-2 country, first present wins",
    )
    region_headers: list[str] = Field(
        default_factory=lambda: ["cloudfront-viewer-country-region", "cf-region-code", "x-vercel-ip-country-region"],
        description="ISO 3166-2 subdivision code without the country, first present wins",
    )
    city_headers: list[str] = Field(
        default_factory=lambda: ["cloudfront-viewer-city", "cf-ipcity", "x-vercel-ip-city"],
        description="city name (percent-encoded UTF-8 accepted, as Vercel sends it), first present wins",
    )
    latitude_headers: list[str] = Field(
        default_factory=lambda: ["cloudfront-viewer-latitude", "cf-iplatitude", "x-vercel-ip-latitude"]
    )
    longitude_headers: list[str] = Field(
        default_factory=lambda: ["cloudfront-viewer-longitude", "cf-iplongitude", "x-vercel-ip-longitude"]
    )
    dev: bool = Field(default=False, description="honour the override header and query parameter (development only)")
    override_header: str = Field(default="x-edgeshop-geo", description="dev only: a country code that wins")
    override_param: str = Field(default="_geo", min_length=1, description="dev only: ?_geo=DE wins")

    @field_validator(
        "country_headers", "region_headers", "city_headers", "latitude_headers", "longitude_headers", mode="after"
    )
    @classmethod
    def _lowercase_names(cls, names: list[str]) -> list[str]:
        # The edge lowercases request header names once; settings are matched against them as they are.
        return [name.strip().lower() for name in names]

    @field_validator("override_header", mode="after")
    @classmethod
    def _lowercase_name(cls, name: str) -> str:
        return name.strip().lower()


@dataclass(frozen=True, slots=True)
class Geo:
    country: str | None = None  # ISO 3166-1 alpha-2, upper case
    region: str | None = None  # ISO 3166-2 subdivision code without the country
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    source: Source = "none"


NOWHERE = Geo()


def client_ip(peer: str, forwarded_for: list[str], trusted: Callable[[str], bool]) -> str:
    """The shopper's address: the rightmost X-Forwarded-For hop that is not a trusted proxy.

    Each proxy appends the address it saw, so everything left of the first untrusted hop was written by the
    shopper. X-Forwarded-For is the de facto form of RFC 7239's ``for=``; an entry that is not an address (RFC 7239
    §6's "unknown" or obfuscated identifiers, garbage) ends the walk at the last trusted hop: nothing left of it can
    be believed.
    """
    if not trusted(peer):
        return peer
    last = peer
    for line in reversed(forwarded_for):
        for entry in reversed(line.split(",")):
            entry = entry.strip()
            if not entry:
                continue  # RFC 9110 §5.6.1: empty list elements are ignored
            hop = _bare_address(entry)
            if hop is None:
                return last
            if not trusted(hop):
                return hop
            last = hop
    return last


def _bare_address(entry: str) -> str | None:
    """``1.2.3.4``, ``1.2.3.4:5678``, ``::1`` or ``[::1]:80`` as a normalized address; None for anything else."""
    port: str | None = None
    if entry.startswith("["):
        host, closed, rest = entry[1:].partition("]")
        if not closed or ":" not in host:
            return None
        if rest:
            if rest[0] != ":":
                return None
            port = rest[1:]
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:
        host = entry
    if port is not None and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        return None
    # inet_pton/inet_ntop: strict (no octal, no zone ids) and several times faster than ipaddress on this path.
    family = AF_INET6 if ":" in host else AF_INET
    try:
        address = inet_ntop(family, inet_pton(family, host))
    except (OSError, ValueError):
        return None
    # Dual-stack sockets and some proxies report IPv4 shoppers as ::ffff:a.b.c.d; trust lists are written in IPv4.
    if address.startswith("::ffff:") and "." in address:
        return address[7:]
    return address


class GeoResolver:
    """Built once at start-up; ``resolve`` runs per request and reads nothing but the memory-mapped database."""

    __slots__ = (
        "_cache",
        "_cdn_names",
        "_city",
        "_country",
        "_dev",
        "_latitude",
        "_longitude",
        "_override_header",
        "_override_prefix",
        "_reader",
        "_region",
    )

    def __init__(self, settings: GeoSettings) -> None:
        self._reader: maxminddb.Reader | None = None
        if settings.database is not None:
            try:
                self._reader = maxminddb.open_database(settings.database, mode=maxminddb.MODE_AUTO)
            except (OSError, maxminddb.InvalidDatabaseError, ValueError) as exc:
                raise ValueError(
                    f"geo.database: cannot open {settings.database!r} as a MaxMind database ({exc}); point it at a "
                    "GeoLite2/GeoIP2 Country or City .mmdb file, or leave it unset for no IP lookup"
                ) from exc
        self._cache: LRUCache[str, Geo] = LRUCache(maxsize=LOOKUP_CACHE_ENTRIES)
        self._country = tuple(settings.country_headers)
        self._region = tuple(settings.region_headers)
        self._city = tuple(settings.city_headers)
        self._latitude = tuple(settings.latitude_headers)
        self._longitude = tuple(settings.longitude_headers)
        self._cdn_names = frozenset(self._country + self._region + self._city + self._latitude + self._longitude)
        self._dev = settings.dev
        self._override_header = settings.override_header
        self._override_prefix = settings.override_param + "="

    def resolve(self, headers: Sequence[tuple[str, str]], *, peer_trusted: bool, client_ip: str, query: str) -> Geo:
        """Geo for one request; ``headers`` are (lowercase name, value) pairs, ``query`` the raw query string."""
        if self._dev:
            country = self._override(headers, query)
            if country is not None:
                return Geo(country=country, source="override")
        if peer_trusted:
            geo = self._from_cdn(headers)
            if geo is not None:
                return geo
        if self._reader is not None:
            return self._lookup(client_ip)
        return NOWHERE

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._cache.clear()

    def _override(self, headers: Sequence[tuple[str, str]], query: str) -> str | None:
        prefix = self._override_prefix
        if prefix in query:
            for part in query.split("&"):
                if part.startswith(prefix):
                    country = _country(unquote_plus(part[len(prefix) :]))
                    if country is not None:
                        return country
                    break
        for name, value in headers:
            if name == self._override_header:
                return _country(value)
        return None

    def _from_cdn(self, headers: Sequence[tuple[str, str]]) -> Geo | None:
        found: dict[str, str] | None = None
        for name, value in headers:
            if name in self._cdn_names:
                if found is None:
                    found = {}
                # A field sent twice with different values means someone besides the CDN wrote one: believe neither.
                found[name] = value if found.get(name, value) == value else ""
        if found is None:
            return None
        # The CDN's country decides whether it knows where the shopper is; XX or garbage: ask the database instead.
        country = _country(_first(found, self._country))
        if country is None:
            return None
        region = _text(_first(found, self._region))
        if region is not None:
            region = region.upper()
        return Geo(
            country=country,
            region=region if region is not None and _REGION.fullmatch(region) else None,
            city=_text(_first(found, self._city)),
            latitude=_coordinate(_first(found, self._latitude), 90.0),
            longitude=_coordinate(_first(found, self._longitude), 180.0),
            source="cdn",
        )

    def _lookup(self, ip: str) -> Geo:
        geo = self._cache.get(ip)
        if geo is None:
            geo = self._read(ip)
            self._cache[ip] = geo
        return geo

    def _read(self, ip: str) -> Geo:
        assert self._reader is not None
        try:
            address = ip_address(ip)
        except ValueError:
            return NOWHERE
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        # Private, loopback, link-local, shared (RFC 6598) and documentation ranges locate nobody.
        if not address.is_global or address.is_multicast:
            return NOWHERE
        try:
            record = self._reader.get(address)
        except ValueError:  # an IPv6 address against an IPv4-only database
            return NOWHERE
        return _from_record(record)


def _from_record(record: object) -> Geo:
    # GeoIP2/GeoLite2 City and Country layout; a Country database simply has no subdivisions, city or location.
    if not isinstance(record, dict):
        return NOWHERE
    country = _country(_field(record, "country", "iso_code"))
    if country is None:
        return NOWHERE
    subdivisions = record.get("subdivisions")
    region = None
    if isinstance(subdivisions, list) and subdivisions and isinstance(subdivisions[0], dict):
        code = subdivisions[0].get("iso_code")
        region = code if isinstance(code, str) and _REGION.fullmatch(code) else None
    city = _field(record, "city", "names", "en")
    latitude, longitude = _field(record, "location", "latitude"), _field(record, "location", "longitude")
    return Geo(
        country=country,
        region=region,
        city=city if isinstance(city, str) else None,
        latitude=float(latitude) if isinstance(latitude, float | int) and abs(latitude) <= 90 else None,
        longitude=float(longitude) if isinstance(longitude, float | int) and abs(longitude) <= 180 else None,
        source="ipdb",
    )


def _field(record: dict[str, Any], *path: str) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _first(found: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = found.get(name)
        if value is not None:
            return value
    return None


def _country(value: object) -> str | None:
    """An ISO 3166-1 alpha-2 code in upper case, or None for anything else (including XX, ZZ and T1)."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    if _COUNTRY.fullmatch(code) is None or code in _NOT_COUNTRIES:
        return None
    return code


def _text(value: str | None) -> str | None:
    """A trimmed, printable, bounded header value; UTF-8 that arrived as Latin-1 or percent-encoded is decoded."""
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > MAX_VALUE_CHARS:
        return None
    if not value.isascii():
        # The edge decodes header bytes as Latin-1 (RFC 9110 §5.5): a CDN's UTF-8 place name arrives as mojibake.
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            value = value.encode("latin-1").decode("utf-8")
    if "%" in value:
        # Vercel percent-encodes city names (RFC 3986); no place name has a "%" of its own.
        try:
            value = unquote(value, errors="strict").strip()
        except UnicodeDecodeError:
            return None
    if not value or not value.isprintable():
        return None
    return value


def _coordinate(value: str | None, bound: float) -> float | None:
    if value is None or len(value) > MAX_VALUE_CHARS:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and -bound <= number <= bound else None
