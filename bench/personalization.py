"""Personalization at the edge: the hit ratio with segments and experiments on vs off, and what stitching costs.

Two real `wrangler-py dev` pairs (origin + edge, one process, loopback ports) are started one after the other
from temporary folders, each with a generated wrangler.toml: a seeded catalog (300 products by default),
the built-in connectors, the repo's content/ folder, three markets (us; eu on /eu; uk on /uk) and
`[origin] secret_key` from an environment variable, so this script can sign segment cookies as the origin does.

- **off**: one segment rule (the default, "new") and no experiments.
- **on**: segments "returning" (signed es_seg cookie) and "new"; experiments "hero" on "/" and "pdp" on
  "/p/*". The home page is meant to vary on X-Segment and X-Exp-Hero; the product page declares no Vary on
  X-Exp-Pdp, so that experiment must not split it.

The same synthetic shoppers replay the same trace against both. Each shopper has a fixed market (by URL
prefix), a segment (a share carry a valid signed `es_seg` for "returning"), the sticky `es_sid` the edge sets
(on the first page an experiment runs on) and the shopper keeps, and a share have a cart (POST /cart/add with
an Origin header first, so they carry `es_cart` and every page they see makes the edge fetch the cart-badge
fragment).
The trace: home 10%, category pages 25% (a fifth sorted by price), product pages 65%, categories and products
Zipf-distributed (s = 1.1 by default), replayed by a pool of concurrent workers (a shopper's own requests never
overlap, so a sticky id assigned on one is sent with the next). Every answer is checked: X-Cache (HIT and
STALE are hits; MISS, BYPASS, REVALIDATED are not), the Vary it names, whether a home page shows the segment
and hero arm of the shopper who got it, and whether a cart shopper's page had the badge stitched in.

Then, on the "on" pair with a warm cache, the cost of stitching: sequential GETs on kept-alive raw sockets, in
interleaved rounds, of one cached product page by a shopper without a cart (the include is skipped by
`requires-cookie`) and by the same shopper with a cart (one fragment fetch from the origin), against a cached
JSON response with no includes, and the fragment alone: through the edge, straight from the origin, and
straight from the origin with httpx.AsyncClient (the client the edge fetches fragments with).

  .venv/bin/python bench/personalization.py [--shoppers 1000] [--requests 8000] [--concurrency 16]
      [--products 300] [--cart-share 0.3] [--returning-share 0.3] [--zipf 1.1] [--rounds 15] [--per-round 30]

The defaults take about 75 s on a 2-core machine: the store (origin and edge in one process) is the bottleneck,
at ≈ 3 ms of CPU per page view on average (misses render, and a cart shopper's page costs a fragment fetch).
--shoppers 2000 --requests 20000 takes about 2.5 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import socket
import statistics
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from _harness import REPO, free_port, running, stop_on_sigterm, table, tool, tree_cpu_seconds
from itsdangerous import URLSafeTimedSerializer

from edge import ExperimentSettings
from edge.experiments import Experiments
from storefront import segment_key

SECRET_ENV = "BENCH_PERSONALIZATION_SECRET"
SEGMENT_SALT = "edgeshop.segment"  # storefront/cookies.py and edge/segments.py agree on it
# (market id, URL prefix, share of shoppers)
MARKETS = (("us", "", 0.5), ("eu", "/eu", 0.3), ("uk", "/uk", 0.2))
# What the home page shows a returning shopper, and what arm "b" of "hero" shows (content/en only: eu's German
# content has no arm b, so there the arm cannot be seen in the page).
RETURNING_MARK = "Welcome back to"
ARM_B_MARK = "Weatherproof, tested the hard way"
ARM_VISIBLE_IN = frozenset({"us", "uk"})
HITS = frozenset({"HIT", "STALE"})
BASE_CONFIG = """
name = "bench-personalization"
default_market = "us"

[origin]
data_dir = "data"
seed_products = {products}
secret_key = "env:{secret_env}"
content_poll_seconds = 0        # no CMS polling: nothing changes during the run

[[markets]]
id = "us"
name = "United States"
countries = ["US"]
currency = "USD"
locale = "en_US"
price_list = "usd"

[[markets]]
id = "eu"
name = "Europe"
countries = ["DE", "FR"]
currency = "EUR"
locale = "de_DE"
price_list = "eur"
tax = {{ rate_bps = 1900, inclusive = true, label = "VAT" }}
url_prefix = "/eu"

[[markets]]
id = "uk"
name = "United Kingdom"
countries = ["GB"]
currency = "GBP"
locale = "en_GB"
price_list = "gbp"
tax = {{ rate_bps = 2000, inclusive = true, label = "VAT" }}
url_prefix = "/uk"

[connectors.cms]
vendor = "builtin"
path = "{content}"
"""

MODES = {
    "off": """
[[segments]]
name = "new"
""",
    "on": """
[[segments]]
name = "returning"
cookie = ["returning", "vip"]

[[segments]]
name = "new"

[[experiments]]
id = "hero"
paths = ["/"]
variants = [{ name = "control", weight = 1 }, { name = "b", weight = 1 }]

[[experiments]]
id = "pdp"
paths = ["/p/*"]
variants = [{ name = "control", weight = 1 }, { name = "b", weight = 1 }]
""",
}
# The arms this script expects the edge to give, from the very experiments the "on" config declares.
ARMS = Experiments(ExperimentSettings.model_validate(e) for e in tomllib.loads(MODES["on"])["experiments"])


# --- the shoppers and their trace (the same for both modes) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Catalog:
    products: tuple[tuple[str, int], ...]  # (handle, a variant id), in popularity order
    categories: tuple[str, ...]  # slugs, in popularity order


@dataclass(slots=True)
class Shopper:
    market: str
    prefix: str
    returning: bool
    cart_item: tuple[str, int] | None
    segment_cookie: str | None
    cookies: dict[str, str] = field(default_factory=dict)
    lock: asyncio.Lock | None = None  # created inside the replay's event loop

    def cookie_header(self) -> str:
        jar = dict(self.cookies)
        if self.segment_cookie is not None:
            jar["es_seg"] = self.segment_cookie
        return "; ".join(f"{name}={value}" for name, value in jar.items())

    def keep(self, set_cookies: Sequence[str]) -> None:
        """What a browser would do with the Set-Cookie fields that matter here (Max-Age=0 deletes)."""
        for line in set_cookies:
            pair, _, attributes = line.partition(";")
            name, _, value = pair.strip().partition("=")
            if "max-age=0" in attributes.lower().replace(" ", ""):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value


@dataclass(frozen=True, slots=True)
class Visit:
    shopper: int
    kind: str  # home | category | product
    path: str


def zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


def make_shoppers(rng: random.Random, catalog: Catalog, args: argparse.Namespace, secret: str) -> list[Shopper]:
    # Signed as the origin signs it: with the key derived from the shop secret for segment cookies only.
    signer = URLSafeTimedSerializer(segment_key(secret.encode()).encode(), salt=SEGMENT_SALT)
    product_weights = zipf_weights(len(catalog.products), args.zipf)
    shoppers = []
    for number in range(args.shoppers):
        market, prefix, _ = rng.choices(MARKETS, weights=[share for *_, share in MARKETS])[0]
        returning = rng.random() < args.returning_share
        # The payload the origin writes after an order (storefront/cookies.py SegmentCookie.after_order).
        signed = signer.dumps({"s": "returning", "n": 1, "o": f"bench-{number}"}) if returning else None
        item = rng.choices(catalog.products, weights=product_weights)[0] if rng.random() < args.cart_share else None
        shoppers.append(Shopper(market, prefix, returning, item, signed))
    return shoppers


def make_trace(rng: random.Random, shoppers: list[Shopper], catalog: Catalog, args: argparse.Namespace) -> list[Visit]:
    products = [handle for handle, _ in catalog.products]
    product_cum = _cumulative(zipf_weights(len(products), args.zipf))
    category_cum = _cumulative(zipf_weights(len(catalog.categories), args.zipf))
    trace = []
    for _ in range(args.requests):
        number = rng.randrange(len(shoppers))
        prefix = shoppers[number].prefix
        draw = rng.random()
        if draw < 0.10:
            trace.append(Visit(number, "home", prefix + "/"))
        elif draw < 0.35:
            slug = rng.choices(catalog.categories, cum_weights=category_cum)[0]
            query = "?sort=price_asc" if rng.random() < 0.2 else ""
            trace.append(Visit(number, "category", f"{prefix}/c/{slug}{query}"))
        else:
            handle = rng.choices(products, cum_weights=product_cum)[0]
            trace.append(Visit(number, "product", f"{prefix}/p/{handle}"))
    return trace


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


# --- one store: a `wrangler-py dev` pair -----------------------------------------------------------------------

# --split: one parent (so the CPU of both is one process tree) starting the origin and `wrangler-py edge`.
SPLIT_LAUNCHER = """
import signal, subprocess, sys
config, origin_port, edge_port, wrangler = sys.argv[1:5]
origin_code = (
    "import sys, uvicorn; from pathlib import Path; from wrangler_py.config import load_config; "
    "from wrangler_py.apps import build_origin_app; "
    "uvicorn.run(build_origin_app(load_config(Path(sys.argv[1]))), host='127.0.0.1', port=int(sys.argv[2]), "
    "log_level='warning', lifespan='on')"
)
children = [
    subprocess.Popen([sys.executable, "-c", origin_code, config, origin_port]),
    subprocess.Popen([wrangler, "--config", config, "edge", "--origin", f"http://127.0.0.1:{origin_port}",
                      "--port", edge_port, "--log-level", "warning"]),
]
def stop(*_):
    for child in children:
        child.terminate()
signal.signal(signal.SIGTERM, stop)
for child in children:
    child.wait()
"""


@dataclass(frozen=True, slots=True)
class Store:
    mode: str
    edge: str
    origin: str
    edge_port: int
    origin_port: int
    pid: int


@contextmanager
def store(folder: Path, mode: str, args: argparse.Namespace, secret: str) -> Iterator[Store]:
    folder.mkdir(parents=True)
    config = BASE_CONFIG.format(products=args.products, secret_env=SECRET_ENV, content=(REPO / "content").as_posix())
    (folder / "wrangler.toml").write_text(config + MODES[mode], encoding="utf-8")
    wrangler = tool("wrangler-py")
    if wrangler is None:
        raise RuntimeError("wrangler-py is not installed in this venv: pip install -e .")
    edge_port, origin_port = free_port(), free_port()
    edge, origin = f"http://127.0.0.1:{edge_port}", f"http://127.0.0.1:{origin_port}"
    config = str(folder / "wrangler.toml")
    if args.split:
        # Production's shape: the origin and the edge as separate processes (each with its own event loop).
        command = [sys.executable, "-c", SPLIT_LAUNCHER, config, str(origin_port), str(edge_port), wrangler]
    else:
        command = [
            wrangler, "--config", config, "dev", "--port", str(edge_port), "--origin-port", str(origin_port),
            "--log-level", "warning",
        ]  # fmt: skip

    def ready() -> bool:
        try:
            origin_ready = httpx.get(origin + "/readyz", timeout=2, trust_env=False).status_code == 200
            return origin_ready and httpx.get(edge + "/healthz", timeout=2, trust_env=False).status_code == 200
        except httpx.TransportError:
            return False

    environ = {**os.environ, SECRET_ENV: secret}
    log = folder / "dev.log"
    with running(f"wrangler-py dev ({mode})", command, ready=ready, cwd=folder, log=log, env=environ) as process:
        yield Store(mode, edge, origin, edge_port, origin_port, process.pid)


def fetch_catalog(origin: str, rng_seed: int) -> Catalog:
    """Straight from the origin, so the edge's cache starts cold; popularity is a seeded shuffle of the catalog."""
    products: list[tuple[int, str, int]] = []
    with httpx.Client(base_url=origin, timeout=30, trust_env=False) as client:
        page = 1
        while True:
            items = client.get("/api/products", params={"per_page": 100, "page": page}).raise_for_status().json()
            for item in items["items"]:
                # A variant in stock, or adding it to a cart is a 409.
                in_stock = [variant["id"] for variant in item["variants"] if variant["available"] > 0]
                if in_stock:
                    products.append((item["id"], item["handle"], in_stock[0]))
            if len(items["items"]) < 100:
                break
            page += 1
        categories = sorted(c["slug"] for c in client.get("/api/categories").raise_for_status().json()["categories"])
    ordered = [(handle, variant) for _, handle, variant in sorted(products)]
    rng = random.Random(rng_seed)
    rng.shuffle(ordered)
    rng.shuffle(categories)
    return Catalog(tuple(ordered), tuple(categories))


# --- the replay ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answered:
    status: int
    fields: list[tuple[str, str]]  # lower-cased names, in order, repeats kept (Set-Cookie)
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        return next((value for key, value in self.fields if key == name), default)

    def headers(self, name: str) -> list[str]:
        return [value for key, value in self.fields if key == name]


class AsyncConnection:
    """A kept-alive HTTP/1.1 connection for one replay worker.

    Raw rather than httpx: httpx.AsyncClient cost this script ≈ 3.5 ms of CPU per request (70 s for 20,000),
    so on a 2-core machine the load client, not the store, set the pace."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, fields: Sequence[tuple[str, str]], body: bytes = b"") -> Answered:
        if self._streams is None:
            self._streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self._streams
        head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", *(f"{k}: {v}" for k, v in fields if v)]
        if body or method == "POST":
            head.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        status = int((await reader.readline()).split()[1])
        answer_fields = []
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            answer_fields.append((name.strip().lower(), value.strip()))
        answered = Answered(status, answer_fields, await self._body(reader, answer_fields))
        if answered.header("connection").lower() == "close":
            await self.close()
        return answered

    @staticmethod
    async def _body(reader: asyncio.StreamReader, fields: list[tuple[str, str]]) -> bytes:
        named = dict(fields)
        if "content-length" in named:
            return await reader.readexactly(int(named["content-length"]))
        if named.get("transfer-encoding", "").lower() != "chunked":
            return b""  # 304s and the like
        parts = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass  # trailers, then the blank line
        return b"".join(parts)

    async def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


@dataclass(frozen=True, slots=True)
class Record:
    kind: str
    status: int
    x_cache: str
    cart: bool  # the shopper carried es_cart
    vary: tuple[str, ...]  # the request fields it said it varies on
    variant: tuple[str, ...]  # the cache variant, from the Vary it answered with and the edge's decisions
    needed: tuple[str, ...]  # the variant its content depends on (home: market, segment, hero arm)
    wrong: tuple[str, ...]  # home only: what on the page is another segment's or arm's
    badge_ok: bool | None  # pages for cart shoppers: the cart count was stitched in
    ms: float
    origin_ms: float | None  # Server-Timing's origin (a miss's fetch, as the edge timed it)
    late: bool  # in the second half of the trace


def decisions(shopper: Shopper, mode: str, origin_path: str) -> dict[str, str]:
    """What the edge should send the origin for this shopper (X-Market, X-Segment, X-Exp-<id>)."""
    segment = "returning" if mode == "on" and shopper.returning else "new"
    decided = {"x-market": shopper.market, "x-segment": segment}
    sticky = shopper.cookies.get("es_sid")
    if mode == "on" and sticky is not None:
        for experiment, arm in ARMS.assign(origin_path, shopper.market, segment, sticky):
            decided[experiment.header] = arm
    return decided


def check_home(body: str, shopper: Shopper, decided: dict[str, str]) -> tuple[str, ...]:
    """What on the page belongs to another variant: ("segment",) for the greeting, ("arm",) for the hero."""
    wrong: tuple[str, ...] = ("segment",) if (RETURNING_MARK in body) != (decided["x-segment"] == "returning") else ()
    if shopper.market in ARM_VISIBLE_IN and (ARM_B_MARK in body) != (decided.get("x-exp-hero") == "b"):
        wrong += ("arm",)
    return wrong


def origin_path(shopper: Shopper, path: str) -> str:
    bare = path[len(shopper.prefix) :] if shopper.prefix else path
    return (bare or "/").split("?", 1)[0]


async def visit(
    connection: AsyncConnection, shopper: Shopper, item: Visit, mode: str, late: bool, errors: Counter[str]
) -> Record | None:
    assert shopper.lock is not None
    async with shopper.lock:
        started = time.perf_counter()
        try:
            answer = await connection.request("GET", item.path, [("Cookie", shopper.cookie_header())])
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            errors[type(exc).__name__] += 1
            await connection.close()
            return None
        ms = (time.perf_counter() - started) * 1000
        shopper.keep(answer.headers("set-cookie"))
    # Decided after the answer: a first request's sticky id is the one the edge just set.
    decided = decisions(shopper, mode, origin_path(shopper, item.path))
    vary = sorted(name.strip().lower() for name in answer.header("vary").split(",") if name.strip())
    variant = (item.path, *(f"{name}={decided.get(name, '')}" for name in vary))
    needed: tuple[str, ...] = (item.path, decided["x-market"])
    text = answer.body.decode("utf-8", "replace")
    wrong: tuple[str, ...] = ()
    if item.kind == "home":
        needed += (decided["x-segment"], decided.get("x-exp-hero", ""))
        wrong = check_home(text, shopper, decided) if answer.status == 200 else ()
    has_cart = "es_cart" in shopper.cookies
    if answer.status != 200:
        errors[f"status {answer.status}"] += 1
    return Record(
        kind=item.kind,
        status=answer.status,
        x_cache=answer.header("x-cache", "none").upper(),
        cart=has_cart,
        vary=tuple(vary),
        variant=variant,
        needed=needed,
        wrong=wrong,
        badge_ok=('class="cart-count"' in text) if has_cart else None,
        ms=ms,
        origin_ms=timing(answer.header("server-timing"), "origin"),
        late=late,
    )


async def add_to_cart(connection: AsyncConnection, shopper: Shopper, edge: str, errors: Counter[str]) -> None:
    assert shopper.cart_item is not None and shopper.lock is not None
    handle, variant = shopper.cart_item
    form = urlencode({"handle": handle, "variant_id": variant, "quantity": 1}).encode()
    fields = [
        ("Cookie", shopper.cookie_header()),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", edge),  # the storefront's same-origin check for forms
    ]
    async with shopper.lock:
        answer = await connection.request("POST", shopper.prefix + "/cart/add", fields, form)
        shopper.keep(answer.headers("set-cookie"))
    if answer.status != 303 or "es_cart" not in shopper.cookies:
        errors[f"cart/add {answer.status}"] += 1


async def pool(port: int, jobs: Sequence[Any], concurrency: int, run: Any) -> None:
    """`await run(connection, job)` for every job, `concurrency` at a time, each worker on its own connection."""
    queue = iter(jobs)

    async def worker() -> None:
        connection = AsyncConnection(port)
        try:
            for job in queue:
                await run(connection, job)
        finally:
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


@dataclass(frozen=True, slots=True)
class Replay:
    mode: str
    records: list[Record]
    errors: Counter[str]
    seconds: float
    setup_seconds: float
    carts: int
    server_cpu: float  # CPU seconds of the wrangler-py dev process during the replay
    client_cpu: float  # and of this script


async def replay(target: Store, shoppers: list[Shopper], trace: list[Visit], concurrency: int) -> Replay:
    for shopper in shoppers:
        shopper.cookies.clear()  # a new store: no sticky id, no cart yet
        shopper.lock = asyncio.Lock()
    errors: Counter[str] = Counter()
    records: list[Record] = []
    started = time.perf_counter()
    carting = [shopper for shopper in shoppers if shopper.cart_item is not None]

    async def cart(connection: AsyncConnection, shopper: Shopper) -> None:
        await add_to_cart(connection, shopper, target.edge, errors)

    await pool(target.edge_port, carting, concurrency, cart)
    setup = time.perf_counter() - started
    half = len(trace) // 2

    async def one(connection: AsyncConnection, job: tuple[int, Visit]) -> None:
        index, item = job
        record = await visit(connection, shoppers[item.shopper], item, target.mode, index >= half, errors)
        if record is not None:
            records.append(record)

    started, server, client_cpu = time.perf_counter(), tree_cpu_seconds(target.pid), time.process_time()
    await pool(target.edge_port, list(enumerate(trace)), concurrency, one)
    seconds = time.perf_counter() - started
    server, client_cpu = tree_cpu_seconds(target.pid) - server, time.process_time() - client_cpu
    return Replay(target.mode, records, errors, seconds, setup, len(carting), server, client_cpu)


# --- stitching cost: sequential requests on kept-alive raw sockets ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timed:
    status: int
    headers: dict[str, str]
    body: bytes
    ttfb_ms: float
    total_ms: float


class Connection:
    """One kept-alive HTTP/1.1 connection, timed from the request's write to the body's last byte.

    Raw rather than httpx: httpx's own per-request cost here is ≈ 1 ms, bigger than some differences measured."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def get(self, path: str, cookie: str = "") -> Timed:
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        if cookie:
            lines.append(f"Cookie: {cookie}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        started = time.perf_counter()
        self.sock.sendall(request)
        status_line = self.reader.readline()
        first = time.perf_counter()
        headers: dict[str, str] = {}
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self._body(headers)
        done = time.perf_counter()
        status = int(status_line.split()[1])
        return Timed(status, headers, body, (first - started) * 1000, (done - started) * 1000)

    def _body(self, headers: dict[str, str]) -> bytes:
        if "content-length" in headers:
            return self.reader.read(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() != "chunked":
            raise RuntimeError(f"neither a length nor chunked: {headers}")
        parts = []
        while size := int(self.reader.readline().split(b";")[0], 16):
            parts.append(self.reader.read(size))
            self.reader.readline()
        while self.reader.readline() not in (b"\r\n", b""):
            pass  # trailers, then the blank line
        return b"".join(parts)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class HttpxConnection:
    """The fragment fetched the way the edge fetches it (httpx.AsyncClient), to see what that client costs."""

    def __init__(self, port: int) -> None:
        self.runner = asyncio.Runner()
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False)

    def get(self, path: str, cookie: str = "") -> Timed:
        started = time.perf_counter()
        response = self.runner.run(self.client.get(path, headers={"cookie": cookie, "accept-encoding": "identity"}))
        total = (time.perf_counter() - started) * 1000
        return Timed(response.status_code, dict(response.headers), response.content, total, total)

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.close()


@dataclass(slots=True)
class Samples:
    label: str
    port: int
    path: str
    cookie: str
    expect: str  # a substring the body must hold
    via_httpx: bool = False  # fetched with httpx.AsyncClient, the edge's own HTTP client, instead of a raw socket
    total: list[float] = field(default_factory=list)
    ttfb: list[float] = field(default_factory=list)
    edge_dur: list[float] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)
    x_cache: Counter[str] = field(default_factory=Counter)


def timing(server_timing: str, wanted: str) -> float | None:
    """One metric's `dur` from a Server-Timing field (`edge;dur=0.6, origin;dur=37.8`)."""
    for metric in server_timing.split(","):
        name, *params = (part.strip() for part in metric.split(";"))
        if name == wanted:
            for param in params:
                if param.startswith("dur="):
                    return float(param[4:])
    return None


def stitching(target: Store, shoppers: list[Shopper], catalog: Catalog, rounds: int, per_round: int) -> list[Samples]:
    """The most popular product page in the default market, by one cart shopper with and without the cart."""
    shopper = next((s for s in shoppers if "es_cart" in s.cookies), None)
    if shopper is None:
        raise RuntimeError("no shopper has a cart: raise --cart-share")
    page = f"/p/{catalog.products[0][0]}"
    if "es_sid" not in shopper.cookies:  # without one, every request would be handed a new sticky id
        first = httpx.get(target.edge + page, headers={"cookie": shopper.cookie_header()}, trust_env=False)
        shopper.keep(first.headers.get_list("set-cookie"))
    sticky = f"es_sid={shopper.cookies['es_sid']}" if "es_sid" in shopper.cookies else ""
    cart = f"es_cart={shopper.cookies['es_cart']}"
    with_cart = f"{sticky}; {cart}" if sticky else cart
    rows = [
        Samples("JSON, no includes (/api/products, cached)", target.edge_port, "/api/products?per_page=24", sticky,
                '"items"'),
        Samples("product page, shopper without a cart (include skipped)", target.edge_port, page, sticky,
                "data-cart-badge></span>"),
        Samples("product page, shopper with a cart (1 fragment fetch)", target.edge_port, page, with_cart,
                'class="cart-count"'),
        Samples("fragment alone, through the edge (pass-through)", target.edge_port, "/_fragments/cart-badge",
                with_cart, 'class="cart-count"'),
        Samples("fragment alone, origin directly", target.origin_port, "/_fragments/cart-badge", cart,
                'class="cart-count"'),
        Samples("fragment alone, origin directly, via httpx.AsyncClient", target.origin_port,
                "/_fragments/cart-badge", cart, 'class="cart-count"', via_httpx=True),
    ]  # fmt: skip
    connections = [HttpxConnection(row.port) if row.via_httpx else Connection(row.port) for row in rows]
    try:
        for row, connection in zip(rows, connections, strict=True):
            for _ in range(20):  # warm: the page is in the cache, the origin's pools and templates are hot
                connection.get(row.path, row.cookie)
        for _ in range(rounds):
            for row, connection in zip(rows, connections, strict=True):
                totals = []
                for _ in range(per_round):
                    answer = connection.get(row.path, row.cookie)
                    if answer.status != 200 or row.expect.encode() not in answer.body:
                        raise RuntimeError(f"{row.label}: {answer.status}, {row.expect!r} not in the body")
                    totals.append(answer.total_ms)
                    if not row.via_httpx:
                        row.ttfb.append(answer.ttfb_ms)
                    row.x_cache[answer.headers.get("x-cache", "none")] += 1
                    if (dur := timing(answer.headers.get("server-timing", ""), "edge")) is not None:
                        row.edge_dur.append(dur)
                row.total += totals
                row.round_medians.append(statistics.median(totals))
    finally:
        for connection in connections:
            connection.close()
    return rows


# --- the report -----------------------------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def hit_ratio(records: Sequence[Record]) -> float:
    return 100.0 * sum(r.x_cache in HITS for r in records) / len(records) if records else 0.0


def _tally(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {count}" for key, count in counter.most_common()) or "none"


def _spread(values: Sequence[float]) -> str:
    return f"{quantile(values, 0.5):.1f} / {quantile(values, 0.99):.1f}" if values else "–"


def wrong_variants(replay_: Replay) -> str:
    homes = [r for r in replay_.records if r.kind == "home"]
    segment, arm = (sum(what in r.wrong for r in homes) for what in ("segment", "arm"))
    return f"{segment} / {arm} of {len(homes)}"


def extra_misses(replay_: Replay) -> str:
    misses = [r.variant for r in replay_.records if r.x_cache == "MISS"]
    return str(len(misses) - len(set(misses)))


def report_replays(replays: dict[str, Replay], args: argparse.Namespace) -> None:
    print(f"\n### Hit ratio: {args.requests} requests, {args.shoppers} shoppers, {args.concurrency} concurrent\n")
    header = ["", *replays]
    kinds = ("home", "category", "product")

    def row(label: str, cell: Any) -> list[str]:
        return [label, *(cell(replay) for replay in replays.values())]

    def kind_ratio(kind: str) -> Any:
        return lambda rp: f"{hit_ratio([r for r in rp.records if r.kind == kind]):.1f}%"

    body = [
        row("hit ratio, all requests", lambda rp: f"**{hit_ratio(rp.records):.1f}%**"),
        row("hit ratio, second half of the trace", lambda rp: f"{hit_ratio([r for r in rp.records if r.late]):.1f}%"),
        *(row(f"hit ratio, {kind} pages", kind_ratio(kind)) for kind in kinds),
        row("X-Cache", lambda rp: _tally(Counter(r.x_cache for r in rp.records))),
        row("cache variants seen (URL × Vary values)", lambda rp: str(len({r.variant for r in rp.records}))),
        row("of which home", lambda rp: str(len({r.variant for r in rp.records if r.kind == "home"}))),
        row("MISS answers beyond one per variant (coalesced waiters say MISS too)", extra_misses),
        row("home variants its content needs (market × segment × hero arm)",
            lambda rp: str(len({r.needed for r in rp.records if r.kind == "home"}))),
        row("home pages' Vary", lambda rp: _tally(Counter(", ".join(r.vary) for r in rp.records if r.kind == "home"))),
        row("home pages showing another segment's greeting / another arm's hero", wrong_variants),
        row("cart shoppers' pages without the stitched badge",
            lambda rp: f"{sum(r.badge_ok is False for r in rp.records)} of {sum(r.cart for r in rp.records)}"),
        row("errors", lambda rp: _tally(rp.errors)),
        row("replay time (req/s)", lambda rp: f"{rp.seconds:.1f} s ({len(rp.records) / rp.seconds:.0f})"),
        row("misses: origin time (Server-Timing) p50 / p99 ms", lambda rp: _spread(
            [r.origin_ms for r in rp.records if r.origin_ms is not None and r.kind != "home"])),
        row("CPU s: store (origin + edge) / load client",
            lambda rp: f"{rp.server_cpu:.1f} / {rp.client_cpu:.1f}"),
        row("carts created first", lambda rp: f"{rp.carts} in {rp.setup_seconds:.1f} s"),
    ]  # fmt: skip
    print(table(header, body))
    if "on" in replays and "off" in replays:
        drop = hit_ratio(replays["off"].records) - hit_ratio(replays["on"].records)
        late = hit_ratio([r for r in replays["off"].records if r.late]) - hit_ratio(
            [r for r in replays["on"].records if r.late]
        )
        print(f"\nHit ratio drop with personalization on: **{drop:.2f} points** (second half: {late:.2f}); goal < 5.")
    print("\nUnder the replay's load, product and category pages that were HITs, latency p50 / p99 ms:\n")
    rows = []
    for replay_ in replays.values():
        for cart in (False, True):
            hits = [r.ms for r in replay_.records if r.x_cache in HITS and r.kind != "home" and r.cart is cart]
            if hits:
                label = "with a cart (stitched)" if cart else "without a cart"
                rows.append([replay_.mode, label, len(hits), f"{quantile(hits, 0.5):.2f} / {quantile(hits, 0.99):.2f}"])
    print(table(["mode", "shopper", "requests", "p50 / p99 ms"], rows))


def report_stitching(rows: list[Samples], args: argparse.Namespace) -> None:
    print(f"\n### Stitching: sequential, kept-alive, {args.rounds} interleaved rounds × {args.per_round} requests\n")
    header = ["request", "X-Cache", "p50 ms", "p99 ms", "TTFB p50 ms", "Server-Timing edge p50 ms"]
    body = []
    for row in rows:
        edge = f"{statistics.median(row.edge_dur):.2f}" if row.edge_dur else "–"
        body.append([row.label, _tally(row.x_cache), f"{quantile(row.total, 0.5):.2f}",
                     f"{quantile(row.total, 0.99):.2f}", f"{quantile(row.ttfb, 0.5):.2f}" if row.ttfb else "–",
                     edge])  # fmt: skip
    print(table(header, body))
    without, with_cart = rows[1], rows[2]
    p50 = quantile(with_cart.total, 0.5) - quantile(without.total, 0.5)
    p99 = quantile(with_cart.total, 0.99) - quantile(without.total, 0.99)
    per_round = [a - b for a, b in zip(with_cart.round_medians, without.round_medians, strict=True)]
    print(
        f"\nAdded by stitching the fragment (with cart − without, same cached page): p50 **{p50:+.2f} ms**, "
        f"p99 **{p99:+.2f} ms** (goal < 2 ms); per-round median difference "
        f"{statistics.median(per_round):.2f} ms ({min(per_round):.2f}–{max(per_round):.2f})."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shoppers", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=8000, help="page views per mode")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--products", type=int, default=300, help="seeded catalog size")
    parser.add_argument("--cart-share", type=float, default=0.3)
    parser.add_argument("--returning-share", type=float, default=0.3)
    parser.add_argument("--zipf", type=float, default=1.1, help="popularity exponent s")
    parser.add_argument("--rounds", type=int, default=15, help="stitching: interleaved rounds")
    parser.add_argument("--per-round", type=int, default=30, help="stitching: requests per row and round")
    parser.add_argument("--modes", default="off,on", help="comma-separated, in order: off,on")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--split", action="store_true", help="origin and edge as separate processes (as deployed), not one dev pair"
    )
    args = parser.parse_args()
    stop_on_sigterm()
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    secret = secrets.token_urlsafe(32)
    began = time.monotonic()
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    replays: dict[str, Replay] = {}
    stitched: list[Samples] = []
    catalog: Catalog | None = None
    shoppers: list[Shopper] = []
    trace: list[Visit] = []
    with tempfile.TemporaryDirectory(prefix="bench-personalization-") as folder:
        for mode in modes:
            with store(Path(folder) / mode, mode, args, secret) as target:
                found = fetch_catalog(target.origin, args.seed)
                if catalog is None:
                    catalog = found
                    rng = random.Random(args.seed)
                    shoppers = make_shoppers(rng, catalog, args, secret)
                    trace = make_trace(rng, shoppers, catalog, args)
                elif found != catalog:
                    raise RuntimeError("the two stores seeded different catalogs: the trace would not be the same")
                replays[mode] = asyncio.run(replay(target, shoppers, trace, args.concurrency))
                print(f"{mode}: replayed in {replays[mode].seconds:.1f} s", flush=True)
                if mode == "on":
                    stitched = stitching(target, shoppers, catalog, args.rounds, args.per_round)
    report_replays(replays, args)
    if stitched:
        report_stitching(stitched, args)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}; whole run {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
