"""Inter-region latency: what the edge cache saves a shopper whose origin is across an ocean.

The origin (the real edgeshop origin, seeded into a temporary data folder, embedded connectors only) runs in
its own network namespace, `es-far-<pid>`, joined to the root namespace by a point-to-point link that delays
every packet by `--delay-ms` in each direction (RTT = 2 × delay; the default 40 ms is about US-east ↔ EU-west).
The edge runs in the root namespace next to the shopper (this script), configured to fetch from that far origin.
It measures time to first byte (TTFB) and time to the last byte of a product page, on a kept-alive
connection and on a new connection per request, for:

  hit         the edge answers from its cache (X-Cache: HIT);
  miss        a URL the edge has not seen (a unique query parameter, not a tracking one): X-Cache: MISS;
  revalidate  `Cache-Control: no-cache` from the shopper: the edge asks the origin conditionally (X-Cache:
              REVALIDATED, a 304 from the origin); no-cache does not make a MISS;
  origin      straight to the far origin, no edge.

The link is a veth pair with `tc netem` on both ends when the kernel has netem (sch_netem), else a TUN pair
joined by a small forwarder process that holds every packet for the delay and then passes it on (`--link`).
Both delay packets, handshakes included; the forwarder adds a little jitter of its own (it is a Python
process sharing the CPUs), which the RTT check below reports.

    sudo .venv/bin/python bench/inter_region.py [--samples 40] [--delay-ms 40] [--link auto|netem|wire]

Needs root (network namespaces, links, qdiscs). Everything it creates (namespace, links, processes, temporary
files) is removed on the way out, also on Ctrl-C, SIGTERM or an error; only a SIGKILL can leave the namespace
behind (`ip netns del es-far-<pid>` removes it).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import dataclasses
import fcntl
import json
import math
import os
import secrets
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
from _harness import REPO, answers, free_port, running, stop_on_sigterm, table, tool

NETNS_PREFIX = "es-far-"
SUBNET_PREFIX = "10.213"  # a /30 per run in 10.213.<n>.0/24: private, unlikely to be routed on a dev box
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
PR_SET_PDEATHSIG = 1
CASES = ("hit", "miss", "revalidate", "origin")
EXPECTED = {"hit": "HIT", "miss": "MISS", "revalidate": "REVALIDATED", "origin": "-"}
MODES = ("keep-alive", "new connection")
WARMUP_ROUNDS = 3
EDGE_HOST = "shop.inter-region.test"  # one Host for every edge request: it is part of the cache key


# Clean-up that runs exactly once, from `finally` or from atexit, whichever comes first ------------------------


class Cleanup:
    def __init__(self) -> None:
        self._steps: list[Callable[[], None]] = []
        atexit.register(self.run)

    def add(self, step: Callable[[], None]) -> None:
        self._steps.append(step)

    def run(self) -> None:
        while self._steps:
            step = self._steps.pop()
            try:
                step()
            except Exception as exc:  # one failed step must not keep the others from running
                print(f"clean-up: {exc}", file=sys.stderr)


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=20)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")
    return done


def in_netns(netns: str, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", "netns", "exec", netns, *command], capture_output=True, text=True, timeout=20)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} in {netns}: {done.stderr.strip()}")
    return done


def preflight() -> None:
    if os.geteuid() != 0:
        sys.exit("inter_region.py needs root: it creates a network namespace, links and qdiscs (run it with sudo)")
    for name in ("ip", "tc"):
        if shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") is None:
            sys.exit(f"inter_region.py needs `{name}` (apt-get install iproute2)")
    if ip("netns", "list", check=False).returncode != 0:
        sys.exit("`ip netns` is not available here (a kernel without network namespaces, or a restricted container)")


# The far link -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Link:
    netns: str
    root_if: str
    ns_if: str
    root_ip: str
    ns_ip: str
    kind: str  # "netem" or "wire"


def free_subnet() -> str:
    """A 10.213.<n> prefix no address or route on this machine uses yet (runs may overlap)."""
    taken = ip("-4", "-o", "addr", "show").stdout + ip("-4", "route", "show").stdout
    start = os.getpid() % 250
    for step in range(250):
        prefix = f"{SUBNET_PREFIX}.{(start + step) % 250 + 1}."
        if prefix not in taken:
            return prefix
    raise RuntimeError(f"no free /30 left in {SUBNET_PREFIX}.0.0/16")


def make_netns(cleanup: Cleanup) -> str:
    netns = f"{NETNS_PREFIX}{os.getpid()}"
    cleanup.add(lambda: ip("netns", "del", netns, check=False))
    ip("netns", "add", netns)
    ip("link", "set", "lo", "up", netns=netns)
    return netns


def congestion_control(netns: str | None, choose: str | None = None) -> str:
    """The namespace's TCP congestion control (per namespace since Linux 4.15), set first when `choose` is given.

    It decides how the origin sends a page: BBR paces even the first window (a 12 KB page over ≈ 20 ms at
    80 ms RTT), Reno and CUBIC send it in one burst. Only the far namespace is ever changed: it is ours."""
    key = "net.ipv4.tcp_congestion_control"
    prefix = ["ip", "netns", "exec", netns] if netns else []
    if choose:
        done = subprocess.run([*prefix, "sysctl", "-q", "-w", f"{key}={choose}"], capture_output=True, text=True)
        if done.returncode != 0:
            # A namespace other than the first may only pick from the host's allowed list (a host-wide setting).
            allowed = subprocess.run([*prefix, "sysctl", "-n", "net.ipv4.tcp_allowed_congestion_control"],
                                     capture_output=True, text=True).stdout.strip()  # fmt: skip
            raise SystemExit(f"--origin-cc {choose}: not allowed in a namespace here (allowed: {allowed})")
    done = subprocess.run([*prefix, "sysctl", "-n", key], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def netem_available(netns: str) -> bool:
    """Probed on the new namespace's own loopback, so nothing outside it is touched."""
    done = in_netns(netns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms", check=False)
    in_netns(netns, "tc", "qdisc", "del", "dev", "lo", "root", check=False)
    return done.returncode == 0


def address_link(link: Link) -> None:
    ip("addr", "add", f"{link.root_ip}/30", "dev", link.root_if)
    ip("link", "set", link.root_if, "up")
    ip("addr", "add", f"{link.ns_ip}/30", "dev", link.ns_if, netns=link.netns)
    ip("link", "set", link.ns_if, "up", netns=link.netns)


def netem_link(link: Link, delay_ms: float, cleanup: Cleanup) -> None:
    # Deleting the root end deletes the pair; deleting the namespace would too, this is for a half-made setup.
    cleanup.add(lambda: ip("link", "del", link.root_if, check=False))
    ip("link", "add", link.root_if, "type", "veth", "peer", "name", link.ns_if)
    ip("link", "set", link.ns_if, "netns", link.netns)
    address_link(link)
    # Egress on both ends: each direction is delayed once, so the round trip is twice the delay.
    delay = f"{delay_ms}ms"
    subprocess.run(["tc", "qdisc", "add", "dev", link.root_if, "root", "netem", "delay", delay], check=True)
    in_netns(link.netns, "tc", "qdisc", "add", "dev", link.ns_if, "root", "netem", "delay", delay)


@contextlib.contextmanager
def wire_link(link: Link, delay_ms: float, tmp: Path, cleanup: Cleanup) -> Iterator[int]:
    """TUN devices held by the forwarder process; they vanish with it. Yields its PID."""
    cleanup.add(lambda: ip("link", "del", link.root_if, check=False))
    log = tmp / "wire.log"
    command = [sys.executable, __file__, "--wire", link.root_if, link.ns_if, link.netns, str(delay_ms)]
    ready = lambda: "ready" in log.read_text()  # noqa: E731 - the forwarder says so once both ends exist
    with running("delay forwarder", command, ready=ready, cwd=tmp, log=log, timeout=15) as process:
        address_link(link)
        yield process.pid


# The forwarder (this file run with --wire): the "ocean" when the kernel has no netem -----------------------------


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def wire_main(root_if: str, ns_if: str, netns: str, delay_ms: float) -> None:
    # Dies with the benchmark even on SIGKILL, and with it both TUN devices (they are not persistent).
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    delay = delay_ms / 1000
    root_fd, ns_fd = open_tun(root_if), open_tun(ns_if)
    subprocess.run(["ip", "link", "set", ns_if, "netns", netns], check=True)  # the open fd stays attached
    print("ready", flush=True)
    # One FIFO per direction: with a constant delay, packets leave in the order they came.
    queues: dict[int, deque[tuple[float, bytes]]] = {root_fd: deque(), ns_fd: deque()}
    other = {root_fd: ns_fd, ns_fd: root_fd}
    while True:
        now = time.monotonic()
        for source, queue in queues.items():
            while queue and queue[0][0] <= now:
                with contextlib.suppress(BlockingIOError):  # a full device drops it, as a congested link would
                    os.write(other[source], queue.popleft()[1])
        heads = [queue[0][0] for queue in queues.values() if queue]
        timeout = max(0.0, min(heads) - time.monotonic()) if heads else 1.0
        readable, _, _ = select.select(list(queues), [], [], timeout)
        arrived = time.monotonic()
        for fd in readable:
            with contextlib.suppress(BlockingIOError):
                while True:
                    queues[fd].append((arrived + delay, os.read(fd, 65536)))


# Configuration and processes ---------------------------------------------------------------------------------


def toml_value(value: object) -> str:
    """Enough TOML for a wrangler.toml: the stdlib reads TOML but does not write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def write_config(tmp: Path, link: Link, origin_port: int, edge_port: int, products: int) -> Path:
    """The repo's wrangler.toml, with the origin in the far namespace and nothing external (Redis, CDN, vendors)."""
    config = tomllib.loads((REPO / "wrangler.toml").read_text(encoding="utf-8"))
    config.pop("regions", None)  # one far origin; regions would add health probes across the link
    origin = config.setdefault("origin", {})
    origin.pop("secret_key", None)
    origin.update(
        host=link.ns_ip, port=origin_port, data_dir=str(tmp / "data"), seed_products=products, content_poll_seconds=0
    )  # no content polling: nothing but the measured requests runs on the origin
    edge = config.setdefault("edge", {})
    for external in ("redis_url", "purge_token", "cdn_purge"):
        edge.pop(external, None)
    edge.update(host="127.0.0.1", port=edge_port, origin=f"http://{link.ns_ip}:{origin_port}")
    config["connectors"] = {
        "commerce": {"vendor": "builtin"},
        "search": {"vendor": "builtin"},
        "cms": {"vendor": "builtin", "path": str(REPO / "content")},
        "payments": {"vendor": "builtin"},
    }
    path = tmp / "wrangler.toml"
    path.write_text("".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in config.items()), encoding="utf-8")
    return path


def dies_with_us(command: list[str]) -> list[str]:
    """`command` under `setpriv --pdeathsig`: stopped even if this script is SIGKILLed (setpriv execs, so the PID
    is still the server's own)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


# There is no `wrangler-py origin`: `dev` would start an edge next to it, in the far namespace. This is what
# `dev` and the regions runner do for the origin alone.
ORIGIN_MAIN = """
import sys, uvicorn
from wrangler_py.apps import build_origin_app
from wrangler_py.config import load_config
loaded = load_config(sys.argv[1])
origin = loaded.config.origin
uvicorn.run(build_origin_app(loaded), host=origin.host, port=origin.port, log_level="warning", lifespan="on")
"""


@contextlib.contextmanager
def far_origin(link: Link, config: Path, tmp: Path) -> Iterator[str]:
    port = int(tomllib.loads(config.read_text())["origin"]["port"])
    base = f"http://{link.ns_ip}:{port}"
    command = dies_with_us(["ip", "netns", "exec", link.netns, sys.executable, "-c", ORIGIN_MAIN, str(config)])
    # `ip netns exec` execs the command, so the PID stopped on the way out is the origin's own.
    with running("origin", command, ready=answers(base + "/healthz"), cwd=tmp, log=tmp / "origin.log", timeout=60):
        yield base


@contextlib.contextmanager
def near_edge(config: Path, origin: str, tmp: Path) -> Iterator[str]:
    port = int(tomllib.loads(config.read_text())["edge"]["port"])
    wrangler = tool("wrangler-py")
    if wrangler is None:
        raise RuntimeError("wrangler-py is not installed in this venv (pip install -e .)")
    command = dies_with_us([wrangler, "--config", str(config), "edge", "--origin", origin, "--log-level", "warning"])
    base = f"http://127.0.0.1:{port}"
    with running("edge", command, ready=answers(base + "/healthz"), cwd=tmp, log=tmp / "edge.log", timeout=30):
        yield base


# Measuring ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    status: int
    x_cache: str
    ttfb_ms: float
    total_ms: float
    body_bytes: int


class Response:
    """Reads one HTTP/1.1 response off a socket: Content-Length, chunked, or until close."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self.fill():
                raise ConnectionError("closed mid-response")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self.fill():
                raise ConnectionError("closed mid-response")
        data, self.buffer = self.buffer.split(b"\r\n", 1)
        return data

    def read(self, started: float) -> tuple[Reply, bool]:
        """The reply, and whether the connection may be used again."""
        if not self.fill():
            raise ConnectionResetError("closed before answering")
        ttfb = time.perf_counter() - started
        status_line = self.line().decode("latin-1")
        fields: dict[str, str] = {}
        while raw := self.line():
            name, _, value = raw.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        status = int(status_line.split()[1])
        size, reusable = self.body(status, fields)
        reply = Reply(status, fields.get("x-cache", "-"), ttfb * 1000, (time.perf_counter() - started) * 1000, size)
        return reply, reusable and fields.get("connection", "").lower() != "close"

    def body(self, status: int, fields: dict[str, str]) -> tuple[int, bool]:
        if status in (204, 304):
            return 0, True
        if "content-length" in fields:
            return len(self.take(int(fields["content-length"]))), True
        if fields.get("transfer-encoding", "").lower() == "chunked":
            size = 0
            while chunk := int(self.line().split(b";")[0], 16):
                size += len(self.take(chunk))
                self.take(2)
            while self.line():  # trailers
                pass
            return size, True
        while self.fill():
            pass
        return len(self.buffer), False


class Client:
    """One server, asked on a kept-alive connection or on a new connection per request (raw sockets: TTFB is the
    first byte off the socket, not when a client library has parsed the head)."""

    def __init__(self, base: str, host: str) -> None:
        address = base.removeprefix("http://")
        self.address = (address.rsplit(":", 1)[0], int(address.rsplit(":", 1)[1]))
        self.host = host
        self.kept: socket.socket | None = None

    def request(self, target: str, headers: dict[str, str], *, fresh: bool) -> Reply:
        lines = [f"GET {target} HTTP/1.1", f"Host: {self.host}", *(f"{k}: {v}" for k, v in headers.items())]
        if fresh:
            lines.append("Connection: close")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if fresh:
            started = time.perf_counter()  # the handshake is part of what a shopper on a new connection waits for
            with socket.create_connection(self.address, timeout=30) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.sendall(message)
                return Response(sock).read(started)[0]
        return self._kept_alive(message)

    def _kept_alive(self, message: bytes) -> Reply:
        for _ in range(2):  # the server may have closed an idle connection: one retry on a new one
            if self.kept is None:
                self.kept = socket.create_connection(self.address, timeout=30)
                self.kept.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = time.perf_counter()
            try:
                self.kept.sendall(message)
                reply, reusable = Response(self.kept).read(started)
            except (ConnectionResetError, BrokenPipeError):
                self.close()
                continue
            if not reusable:
                self.close()
            return reply
        raise ConnectionError(f"{self.address}: no answer on a kept-alive connection")

    def close(self) -> None:
        if self.kept is not None:
            self.kept.close()
            self.kept = None


def tcp_connect_ms(address: tuple[str, int], count: int = 10) -> list[float]:
    """A TCP connect costs one round trip (SYN → SYN/ACK): the RTT check (there may be no `ping` here)."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        with socket.create_connection(address, timeout=10):
            times.append((time.perf_counter() - started) * 1000)
    return times


def product_pages(origin: str) -> tuple[str, str]:
    """Two product pages: one for hits and misses, one for revalidations. A revalidation replaces the stored
    record, which would send the next hit on that page through the ASGI path instead of the wire path."""
    answer = httpx.get(origin + "/api/products?per_page=2", timeout=30, trust_env=False)
    answer.raise_for_status()
    first, second = (f"/p/{item['handle']}" for item in answer.json()["items"][:2])
    return first, second


@dataclasses.dataclass
class Samples:
    ttfb: dict[tuple[str, str], list[float]] = dataclasses.field(default_factory=dict)
    total: dict[tuple[str, str], list[float]] = dataclasses.field(default_factory=dict)
    unexpected: list[str] = dataclasses.field(default_factory=list)
    page_bytes: int = 0
    rounds: int = 0


def one_round(
    edge: Client, origin: Client, pages: tuple[str, str], token: str, number: int, samples: Samples | None
) -> None:
    """Every case in both modes once; `samples` None for warm-up rounds."""
    page, other = pages
    for case in CASES:
        for mode in MODES:
            client = origin if case == "origin" else edge
            target, headers = page, {}
            if case == "miss":
                target = f"{page}?bench={token}-{number}-{mode[0]}"  # never asked before: not in the cache
            elif case == "revalidate":
                target, headers = other, {"Cache-Control": "no-cache"}
            reply = client.request(target, headers, fresh=mode != "keep-alive")
            if samples is None:
                continue
            if reply.status != 200 or (case != "origin" and reply.x_cache != EXPECTED[case]):
                samples.unexpected.append(f"{case}/{mode}: {reply.status} X-Cache {reply.x_cache}")
                continue
            samples.ttfb.setdefault((case, mode), []).append(reply.ttfb_ms)
            samples.total.setdefault((case, mode), []).append(reply.total_ms)
            if case == "hit":
                samples.page_bytes = reply.body_bytes


def measure(edge_base: str, origin_base: str, pages: tuple[str, str], count: int, deadline: float) -> Samples:
    origin_host = origin_base.removeprefix("http://")
    edge, origin = Client(edge_base, EDGE_HOST), Client(origin_base, origin_host)
    token = secrets.token_hex(4)  # a fresh cache key per run, also against an edge that outlived an earlier run
    samples = Samples()
    try:
        # Warm-up: the page into the edge's cache, the edge's pooled connection to the origin opened.
        for number in range(WARMUP_ROUNDS):
            one_round(edge, origin, pages, token + "w", number, None)
        for number in range(count):
            if time.monotonic() > deadline:
                break  # bounded in time: fewer samples rather than a run that overstays
            one_round(edge, origin, pages, token, number, samples)
            samples.rounds += 1
    finally:
        edge.close()
        origin.close()
    return samples


# Reporting ---------------------------------------------------------------------------------------------------


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def median_p95(values: list[float] | None) -> str:
    return f"{statistics.median(values):.1f} / {p95(values):.1f}" if values else "–"


def ratio(values: list[float] | None, baseline: list[float] | None) -> str:
    if not values or not baseline:
        return "–"
    return f"{statistics.median(values) / statistics.median(baseline):.3f}"


def report(samples: Samples, rtt: list[float], link: Link) -> None:
    what = {
        "hit": "edge HIT",
        "miss": "edge MISS (unique query)",
        "revalidate": "edge, `Cache-Control: no-cache`",
        "origin": "far origin direct",
    }
    header = ["request", "X-Cache", *(f"TTFB {mode}, median / p95 ms" for mode in MODES)]
    header += ["full page keep-alive, median / p95 ms", *(f"TTFB / origin, {mode}" for mode in MODES)]
    rows = []
    for case in CASES:
        row: list[object] = [what[case], EXPECTED[case]]
        row += [median_p95(samples.ttfb.get((case, mode))) for mode in MODES]
        row.append(median_p95(samples.total.get((case, "keep-alive"))))
        row += [ratio(samples.ttfb.get((case, mode)), samples.ttfb.get(("origin", mode))) for mode in MODES]
        rows.append(row)
    print(f"\n{samples.rounds} samples per cell; product page {samples.page_bytes / 1000:.1f} KB\n")
    print(table(header, rows))
    if samples.unexpected:
        print(f"\n{len(samples.unexpected)} answers left out (not 200 or not the X-Cache expected):")
        for line in samples.unexpected[:10]:
            print(f"  {line}")
    hit, far = samples.ttfb.get(("hit", "new connection")), samples.ttfb.get(("origin", "new connection"))
    if hit and far:
        saved = statistics.median(far) - statistics.median(hit)
        print(f"\nA shopper on a new connection gets the first byte {saved:.0f} ms sooner from an edge hit", end="")
        print(f" than from the far origin (RTT {statistics.median(rtt):.1f} ms, link: {link.kind}).")


def check_rtt(rtt: list[float], delay_ms: float) -> None:
    expected = 2 * delay_ms
    measured = statistics.median(rtt)
    print(f"RTT check: TCP connect to the far origin, median {measured:.1f} ms (min {min(rtt):.1f}, ", end="")
    print(f"max {max(rtt):.1f}) over {len(rtt)}; expected ≈ {expected:.0f} ms", flush=True)
    if not 0.9 * expected <= measured <= 1.5 * expected + 5:
        raise RuntimeError(f"the link delay is not in effect: RTT {measured:.1f} ms, expected ≈ {expected:.0f} ms")


# Main --------------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=40, help="measured rounds (each: every case, both modes)")
    parser.add_argument("--delay-ms", type=float, default=40.0, help="one-way delay; RTT is twice this")
    parser.add_argument("--link", choices=("auto", "netem", "wire"), default="auto",
                        help="auto: netem when the kernel has it, else the TUN forwarder")  # fmt: skip
    parser.add_argument("--products", type=int, default=24, help="catalog size seeded into the far origin")
    parser.add_argument("--origin-cc", default=None, help="TCP congestion control in the far namespace (reno, bbr, …)")
    parser.add_argument("--max-seconds", type=float, default=50.0, help="stop sampling after this long, all told")
    parser.add_argument("--wire", nargs=4, metavar=("ROOT_IF", "NS_IF", "NETNS", "DELAY_MS"), help=argparse.SUPPRESS)
    return parser.parse_args()


def make_link(netns: str, args: argparse.Namespace, tmp: Path, cleanup: Cleanup, stack: ExitStack) -> Link:
    prefix = free_subnet()
    has_netem = netem_available(netns)
    if args.link == "netem" and not has_netem:
        raise SystemExit("this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM); use --link wire (or auto)")
    kind = "netem" if args.link == "netem" or (args.link == "auto" and has_netem) else "wire"
    pid = os.getpid()
    link = Link(netns, f"esr{pid}", f"esn{pid}", prefix + "1", prefix + "2", kind)
    if kind == "netem":
        netem_link(link, args.delay_ms, cleanup)
    else:
        if not has_netem:
            print("note: this kernel has no netem (sch_netem); the delay comes from the TUN forwarder", flush=True)
        stack.enter_context(wire_link(link, args.delay_ms, tmp, cleanup))
    print(f"link: {link.kind}, {link.root_ip} (root, {link.root_if}) ↔ {link.ns_ip} ({netns}, {link.ns_if}), ", end="")
    print(f"{args.delay_ms:g} ms each way", flush=True)
    return link


def run(args: argparse.Namespace, cleanup: Cleanup, started: float) -> None:
    with tempfile.TemporaryDirectory(prefix="inter-region-") as folder, ExitStack() as stack:
        tmp = Path(folder)
        netns = make_netns(cleanup)
        link = make_link(netns, args, tmp, cleanup, stack)
        far_cc = congestion_control(netns, args.origin_cc)
        print(f"TCP congestion control: {congestion_control(None)} here, {far_cc} at the origin", flush=True)
        config = write_config(tmp, link, free_port(), free_port(), args.products)
        origin = stack.enter_context(far_origin(link, config, tmp))
        edge = stack.enter_context(near_edge(config, origin, tmp))
        host, port = origin.removeprefix("http://").rsplit(":", 1)
        rtt = tcp_connect_ms((host, int(port)))
        check_rtt(rtt, args.delay_ms)
        pages = product_pages(origin)
        print(f"origin {origin} in {netns}; edge {edge}; pages {', '.join(pages)}; ready after ", end="")
        print(f"{time.monotonic() - started:.1f} s; load average {os.getloadavg()[0]:.2f}", flush=True)
        samples = measure(edge, origin, pages, args.samples, started + args.max_seconds)
        report(samples, rtt, link)
        print(f"\ntook {time.monotonic() - started:.1f} s; load average at end {os.getloadavg()[0]:.2f}")


def main() -> None:
    args = parse_args()
    if args.wire:
        root_if, ns_if, netns, delay = args.wire
        wire_main(root_if, ns_if, netns, float(delay))
        return
    preflight()
    stop_on_sigterm()
    signal.signal(signal.SIGHUP, signal.getsignal(signal.SIGTERM))  # a closed terminal cleans up too
    started = time.monotonic()
    cleanup = Cleanup()
    try:
        run(args, cleanup, started)
    except KeyboardInterrupt:
        cleanup.run()  # before the message, so that it is true
        sys.exit("interrupted; the namespace, links and processes are removed")
    finally:
        cleanup.run()


if __name__ == "__main__":
    main()
