"""Shared by the wrk benchmarks: free ports, server processes that always stop, wrk runs parsed, CPU accounting.

Not a benchmark itself. Every process started here runs in its own session, is stopped by its PID (then its own
process group, if something it forked lingers) and is waited for, whatever happens to the measurement.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tool(name: str) -> str | None:
    """A console script of this venv (wrangler-py, uvicorn, granian, hypercorn), else one on PATH or in /usr/sbin."""
    local = VENV_BIN / name
    return str(local) if local.exists() else shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # its own group (start_new_session): workers it forked, if any left


@contextlib.contextmanager
def running(
    name: str,
    command: Sequence[str],
    *,
    ready: Callable[[], bool],
    cwd: Path,
    log: Path,
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `command`, wait until `ready()` is true, yield the process; stop it on the way out, always."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command), cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} was not ready after {timeout:.0f}s: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield process
    finally:
        _stop(process)


def answers(url: str, *, status: int = 200) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=5, trust_env=False).status_code == status  # no proxy: loopback only
        except httpx.TransportError:
            return False

    return check


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, user+system clock ticks) of one process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12])


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by `root` and every descendant still alive (threads included)."""
    stats = {pid: stat for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if (stat := _stat(pid))}
    family, total, frontier = {root}, 0, [root]
    while frontier:
        pid = frontier.pop()
        total += stats.get(pid, (0, 0))[1]
        children = [child for child, (parent, _) in stats.items() if parent == pid and child not in family]
        family.update(children)
        frontier.extend(children)
    return total / CLOCK_TICKS


@dataclasses.dataclass(frozen=True, slots=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors (connect, read, write, timeout) plus non-2xx/3xx answers
    max_ms: float = 0.0
    server_cpu: float | None = None  # cores the server used during the run (1.0 = one core busy)
    output: str = ""


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(out: str) -> WrkResult:
    def number(pattern: str) -> str:
        found = re.search(pattern, out)
        if found is None:
            raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{out}")
        return found.group(1)

    def percentile(p: str) -> float:
        found = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s|m)\b", out)
        if found is None:
            raise RuntimeError(f"unexpected wrk output (no p{p}):\n{out}")
        return _ms(*found.groups())

    latency = re.search(r"Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s|m)\b", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad_status = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = sum(map(int, socket_errors.groups())) if socket_errors else 0
    errors += int(bad_status.group(1)) if bad_status else 0
    return WrkResult(
        rps=float(number(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=percentile("50"),
        p99_ms=percentile("99"),
        requests=int(number(r"(\d+) requests in")),
        errors=errors,
        max_ms=_ms(*latency.groups()) if latency else 0.0,
        output=out,
    )


def wrk(
    url: str,
    seconds: float,
    connections: int,
    *,
    script: Path | None = None,
    headers: Sequence[str] = (),
    server_pid: int | None = None,
    timeout_s: int = 10,
) -> WrkResult:
    """One `wrk -t1` run; with `server_pid`, also how many cores that server's process tree used meanwhile."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    for line in headers:
        command += ["-H", line]
    cpu_before = tree_cpu_seconds(server_pid) if server_pid else 0.0
    started = time.monotonic()
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + timeout_s + 30)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    result = parse_wrk(done.stdout)
    if server_pid is None:
        return result
    used = (tree_cpu_seconds(server_pid) - cpu_before) / wall
    return dataclasses.replace(result, server_cpu=used)


def stop_on_sigterm() -> None:
    """Make SIGTERM raise SystemExit, so the `finally` blocks that stop the servers run (as they do on Ctrl-C)."""

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)


def need_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def p50_p99(result: WrkResult) -> str:
    return f"{result.p50_ms:.2f} / {result.p99_ms:.2f}"


@dataclasses.dataclass(frozen=True, slots=True)
class Spread:
    """Median and range of repeated measurements of one quantity."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread | None:
        found = list(values)
        return cls(statistics.median(found), min(found), max(found)) if found else None

    def show(self, digits: int = 0) -> str:
        return f"{self.median:.{digits}f} ({self.low:.{digits}f}–{self.high:.{digits}f})"

    @property
    def width(self) -> float:
        """(max − min) / median: how far apart the extremes are, relative to the middle."""
        return (self.high - self.low) / self.median if self.median else 0.0
