"""Binary encoding of cache records for Redis: length-prefixed fields, no base64, no JSON.

Layout (network byte order): version B, stale B, status H, request_time d, response_time d, expires_at d,
then counted lists of headers, vary pairs and tags, then the body. The stale flag sits at a fixed offset so a
soft purge can flip it in place (SETRANGE) without reading the record.
"""

from __future__ import annotations

import struct

from cdn.messages import Headers, StoredResponse
from cdn.stores.base import CacheRecord

VERSION = 1
STALE_OFFSET = 1
_FIXED = struct.Struct("!BBHddd")
_COUNT = struct.Struct("!H")
_LEN = struct.Struct("!I")


class CorruptRecord(ValueError):
    pass


def _pairs(out: list[bytes], pairs: Headers) -> None:
    out.append(_COUNT.pack(len(pairs)))
    for name, value in pairs:
        for text in (name, value):
            raw = text.encode("latin-1", "replace")
            out.append(_LEN.pack(len(raw)))
            out.append(raw)


def encode(record: CacheRecord) -> bytes:
    response = record.response
    out = [
        _FIXED.pack(
            VERSION, int(record.stale), response.status, response.request_time, response.response_time,
            record.expires_at,
        )
    ]  # fmt: skip
    _pairs(out, response.headers)
    _pairs(out, response.vary)
    out.append(_COUNT.pack(len(record.tags)))
    for tag in record.tags:
        raw = tag.encode()
        out.append(_LEN.pack(len(raw)))
        out.append(raw)
    out.append(_LEN.pack(len(response.body)))
    out.append(response.body)
    return b"".join(out)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise CorruptRecord("record is truncated")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def unpack(self, shape: struct.Struct) -> tuple[int, ...]:
        return shape.unpack(self.take(shape.size))

    def text(self, encoding: str) -> str:
        (size,) = self.unpack(_LEN)
        return self.take(size).decode(encoding)

    def pairs(self) -> Headers:
        (count,) = self.unpack(_COUNT)
        return tuple((self.text("latin-1"), self.text("latin-1")) for _ in range(count))


def decode(data: bytes) -> CacheRecord:
    reader = _Reader(data)
    version, stale, status, request_time, response_time, expires_at = _FIXED.unpack(reader.take(_FIXED.size))
    if version != VERSION:
        raise CorruptRecord(f"unknown record version {version}")
    headers = reader.pairs()
    vary = reader.pairs()
    (tag_count,) = reader.unpack(_COUNT)
    tags = tuple(reader.text("utf-8") for _ in range(tag_count))
    (body_size,) = reader.unpack(_LEN)
    body = reader.take(body_size)
    response = StoredResponse(
        status=status, headers=headers, body=body, request_time=request_time, response_time=response_time, vary=vary
    )
    return CacheRecord(response=response, tags=tags, expires_at=expires_at, stale=bool(stale))
