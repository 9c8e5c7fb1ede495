"""The cache's own view of HTTP messages: lowercase header pairs and stored responses, no framework types."""

from __future__ import annotations

from dataclasses import dataclass

# (lowercase name, value) pairs in arrival order; a name may repeat.
Headers = tuple[tuple[str, str], ...]


def header(headers: Headers, name: str) -> str | None:
    """All lines of a field combined as one list value (RFC 9110 §5.3), or None when absent."""
    values = [value for key, value in headers if key == name]
    return ", ".join(values) if values else None


def header_lines(headers: Headers, name: str) -> list[str]:
    return [value for key, value in headers if key == name]


def without(headers: Headers, names: frozenset[str]) -> Headers:
    return tuple((key, value) for key, value in headers if key not in names)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A response as the cache keeps it, with the clock readings RFC 9111 §4.2.3 needs for its Age."""

    status: int
    headers: Headers
    body: bytes
    request_time: float  # when the request that fetched it was sent
    response_time: float  # when its response arrived
    vary: Headers = ()  # the request's values of the headers its Vary names, at storing time

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers) + 64
