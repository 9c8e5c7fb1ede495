"""The ESI subset: parsing includes, fallbacks and removals; stitching in order, in parallel, within a budget."""

from __future__ import annotations

import asyncio
import time

import pytest

from edge.fragments import Include, TooManyIncludes, parse, stitch, stitched_headers, wants_esi


def run_stitch(body: bytes, fetch, budget: float = 0.5) -> tuple[bytes, list[float]]:  # type: ignore[no-untyped-def]
    async def go() -> tuple[bytes, list[float]]:
        chunks, times, started = [], [], time.perf_counter()
        async for chunk in stitch(parse(body, max_includes=16), fetch, budget_seconds=budget):
            chunks.append(chunk)
            times.append(time.perf_counter() - started)
        return b"".join(chunks), times

    return asyncio.run(go())


def test_parse_understands_the_subset() -> None:
    page = (
        b'<p>a</p><esi:include src="/_fragments/cart"/>'
        b"<esi:remove><script>legacy()</script></esi:remove>"
        b"<b><ESI:INCLUDE SRC='/f/greeting' alt=\"/f/hello\" >Hi there</esi:include></b>"
        b'<esi:include src="https://evil.example/x">kept fallback</esi:include>'
        b'<esi:include src="//evil.example/x"/>'
        b'<esi:include src="/open">no end tag'
    )
    assert parse(page, max_includes=16) == [
        b"<p>a</p>",
        Include("/_fragments/cart", None, b""),
        b"<b>",
        Include("/f/greeting", "/f/hello", b"Hi there"),
        b"</b>",
        b"kept fallback",
        b'<esi:include src="/open">no end tag',
    ]
    assert parse(b"<html>no includes</html>", max_includes=1) == [b"<html>no includes</html>"]
    with pytest.raises(TooManyIncludes):
        parse(b'<esi:include src="/a"/>' * 3, max_includes=2)


def test_wants_esi_reads_surrogate_control() -> None:
    assert wants_esi('content="ESI/1.0"')
    assert wants_esi('max-age=60, content="ESI/1.0"')
    assert not wants_esi("max-age=60")
    assert not wants_esi(None)


def test_fragments_are_fetched_in_parallel_and_written_in_order() -> None:
    delays = {"/slow": 0.2, "/fast": 0.0, "/mid": 0.1}
    starts: list[str] = []

    async def fetch(src: str) -> bytes:
        starts.append(src)
        await asyncio.sleep(delays[src])
        return src.encode()

    page = b'A<esi:include src="/slow"/>B<esi:include src="/fast"/>C<esi:include src="/mid"/>D'
    body, times = run_stitch(page, fetch)
    assert body == b"A/slowB/fastC/midD"
    assert sorted(starts) == sorted(delays)  # all started before any finished
    assert times[0] < 0.05  # the markup before the first hole went out at once
    assert times[-1] < 0.35  # parallel: about the slowest one, not the sum (0.3 s)


def test_a_failing_or_slow_fragment_renders_its_fallback_and_never_the_error() -> None:
    async def fetch(src: str) -> bytes | None:
        if src == "/boom":
            raise RuntimeError("origin exploded")
        if src == "/down":
            return None
        if src == "/slow":
            await asyncio.sleep(5)
        return b"alt!" if src == "/alt" else b"ok"

    page = (
        b'<esi:include src="/boom">F1</esi:include>|<esi:include src="/down" alt="/alt"/>|'
        b'<esi:include src="/slow">F3</esi:include>|<esi:include src="/ok"/>'
    )
    started = time.perf_counter()
    body, _ = run_stitch(page, fetch, budget=0.2)
    assert body == b"F1|alt!|F3|ok"
    assert time.perf_counter() - started < 1.0  # the slow one was given up at the budget


def test_a_disconnect_cancels_the_fragment_fetches() -> None:
    cancelled: list[str] = []

    async def fetch(src: str) -> bytes:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(src)
            raise
        return b""

    async def go() -> None:
        stream = stitch(parse(b'x<esi:include src="/a"/><esi:include src="/b"/>', max_includes=4), fetch,
                        budget_seconds=10)  # fmt: skip
        assert await stream.__anext__() == b"x"
        await asyncio.sleep(0.01)  # both fetches are under way
        await stream.aclose()  # the shopper went away mid-page
        await asyncio.sleep(0)

    asyncio.run(go())
    assert sorted(cancelled) == ["/a", "/b"]


def test_a_stitched_page_keeps_no_field_a_shared_cache_could_store_it_by() -> None:
    template = (
        ("content-type", "text/html"),
        ("cache-control", "public, s-maxage=60"),
        ("cdn-cache-control", "max-age=600"),
        ("cloudflare-cdn-cache-control", "max-age=600"),
        ("surrogate-key", "product:1"),
        ("expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
        ("etag", '"abc"'),
        ("content-length", "120"),
    )
    assert stitched_headers(template) == (("content-type", "text/html"), ("cache-control", "private, no-store"))


def test_a_page_cancelled_mid_stitch_stays_cancelled_and_stops_its_fetches() -> None:
    fetches: list[asyncio.Task[object]] = []

    async def fetch(src: str) -> bytes:
        current = asyncio.current_task()
        assert current is not None
        fetches.append(current)
        await asyncio.sleep(10)
        return b"never"

    async def main() -> None:
        async def consume() -> list[bytes]:
            return [chunk async for chunk in stitch(parse(b'A<esi:include src="/slow"/>B', max_includes=4), fetch,
                                                    budget_seconds=10)]  # fmt: skip

        page = asyncio.ensure_future(consume())
        await asyncio.sleep(0.05)
        page.cancel()  # the shopper went away: not a fragment failure to paper over with a fallback
        with pytest.raises(asyncio.CancelledError):
            await page
        await asyncio.sleep(0)
        assert fetches and all(task.cancelled() for task in fetches)

    asyncio.run(main())
