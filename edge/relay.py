"""Streaming between shopper and origin: request bodies up, uncached response bodies down, as they come."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from starlette.types import Receive, Send

from edge.origin_client import OriginError

log = logging.getLogger("edgeshop.edge")


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    """A whole request body, refused past `limit` bytes (small control bodies such as a purge order)."""
    body = await request_body(receive, limit)
    return body if isinstance(body, bytes) else b"".join([chunk async for chunk in body])


async def request_body(receive: Receive, limit: int) -> bytes | AsyncIterator[bytes]:
    """The body as bytes when it came in one message (the usual small form post), else as a stream."""
    first = await receive()
    if first["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = first.get("body", b"")
    if len(body) > limit:
        raise BodyTooLarge
    if not first.get("more_body"):
        return body
    return _rest_of_body(body, receive, limit)


async def _rest_of_body(first: bytes, receive: Receive, limit: int) -> AsyncIterator[bytes]:
    size = len(first)
    if first:
        yield first
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        if chunk:
            yield chunk
        if not message.get("more_body"):
            return


async def relay(send: Send, receive: Receive, first: bytes, rest: AsyncIterator[bytes]) -> None:
    """Send `first` and then `rest` as it arrives; stop reading the origin as soon as the shopper goes away."""

    async def pump() -> None:
        if first:
            await send({"type": "http.response.body", "body": first, "more_body": True})
        try:
            async for chunk in rest:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except OriginError as exc:
            # Headers are out: nothing to do but end the connection, which tells the client it is cut short.
            log.warning("origin failed while streaming a response: %s", exc)
            raise
        await send({"type": "http.response.body", "body": b""})

    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    pumping, watching = asyncio.create_task(pump()), asyncio.create_task(gone())
    try:
        await asyncio.wait((pumping, watching), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pumping, watching):
            task.cancel()
        # Both tasks have finished before the origin stream is closed (it cannot close while being read).
        outcome, _ = await asyncio.gather(pumping, watching, return_exceptions=True)
        await rest.aclose()  # type: ignore[attr-defined]
    if isinstance(outcome, Exception):
        raise outcome  # a failure mid-stream propagates, so the server closes the connection


__all__ = ["BodyTooLarge", "ClientGone", "read_body", "relay", "request_body"]
