"""`wrangler-py tail`: follows every dev log file (new ones, rotated, truncated), filters, prints compact lines."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, write_config
from wrangler_py.tail import LineFilter, LogFollower, format_line, parse_status_filter, tail


def _write(path: Path, *lines: dict[str, Any], partial: str = "") -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(line) + "\n" for line in lines) + partial)


def _access(status: int, path: str, *, service: str = "edge", region: str = "us-east") -> dict[str, Any]:
    return {"ts": "2026-11-26T10:00:00.123Z", "level": "info", "service": service, "region": region,
            "msg": "request", "method": "GET", "path": path, "status": status, "duration_ms": 1.5}  # fmt: skip


def test_follower_reads_new_lines_only_and_waits_for_complete_ones(tmp_path: Path) -> None:
    log = tmp_path / "edge-us-east.jsonl"
    _write(log, _access(200, "/old"))
    follower = LogFollower(tmp_path)
    assert list(follower.poll()) == []  # what was there before tail started is history
    _write(log, _access(200, "/a"), partial='{"msg": "half')
    assert [line["path"] for line in follower.poll()] == ["/a"]
    with log.open("a", encoding="utf-8") as handle:
        handle.write(' a line", "level": "info"}\n')
    assert [line["msg"] for line in follower.poll()] == ["half a line"]


def test_follower_picks_up_new_files_rotation_and_truncation(tmp_path: Path) -> None:
    follower = LogFollower(tmp_path)
    assert list(follower.poll()) == []  # no folder content yet
    edge = tmp_path / "edge.jsonl"
    _write(edge, _access(200, "/first"))
    assert [line["path"] for line in follower.poll()] == ["/first"]  # a file that appears later: read whole
    os.replace(edge, tmp_path / "edge.jsonl.1")  # RotatingFileHandler's rollover: a new file under the old name
    _write(edge, _access(200, "/after-rotation"))
    assert [line["path"] for line in follower.poll()] == ["/after-rotation"]
    edge.write_text(json.dumps(_access(404, "/truncated")) + "\n", encoding="utf-8")  # shorter than before
    assert [line["path"] for line in follower.poll()] == ["/truncated"]
    _write(tmp_path / "origin-us-east.jsonl", {"msg": "started", "level": "info", "service": "origin"})
    assert [line["msg"] for line in follower.poll()] == ["started"]


def test_what_was_written_just_before_a_rollover_is_not_lost(tmp_path: Path) -> None:
    edge = tmp_path / "edge.jsonl"
    _write(edge, _access(200, "/before"))
    follower = LogFollower(tmp_path, from_start=True)
    assert [line["path"] for line in follower.poll()] == ["/before"]
    _write(edge, _access(200, "/unread"))  # written, then the handler rolls over before tail reads it
    os.replace(edge, tmp_path / "edge.jsonl.1")
    _write(edge, _access(200, "/after"))
    assert [line["path"] for line in follower.poll()] == ["/unread", "/after"]


def test_a_path_with_control_characters_prints_escaped() -> None:
    printed = format_line(_access(404, "/x\x1b]0;pwned\x07\nERROR forged"))
    assert "\x1b" not in printed and "\n" not in printed and "/x\\x1b]0;pwned\\x07\\x0aERROR forged 404" in printed


def test_from_start_replays_and_bad_lines_still_show(tmp_path: Path) -> None:
    log = tmp_path / "edge.jsonl"
    _write(log, _access(200, "/x"))
    with log.open("a", encoding="utf-8") as handle:
        handle.write("not json\n")
    replayed = LogFollower(tmp_path, from_start=True).poll()
    assert [line.get("path", line["msg"]) for line in replayed] == ["/x", "not json"]


@pytest.mark.parametrize(
    ("line_filter", "expected"),
    [
        (LineFilter(), ["/p/tent", "/cart", "/missing", "started"]),
        (LineFilter(statuses=("5xx",)), ["/cart"]),
        (LineFilter(statuses=("404", "503")), ["/cart", "/missing"]),
        (LineFilter(paths=("/p/*",)), ["/p/tent"]),
        (LineFilter(regions=("eu-west",)), ["/missing"]),
        (LineFilter(services=("origin",)), ["started"]),
        (LineFilter(min_level=30), ["/cart"]),
    ],
)
def test_filters(line_filter: LineFilter, expected: list[str]) -> None:
    lines = [
        _access(200, "/p/tent"),
        {**_access(503, "/cart"), "level": "error"},
        _access(404, "/missing", region="eu-west"),
        {"msg": "started", "level": "info", "service": "origin", "region": "us-east"},
    ]
    assert [line.get("path", line["msg"]) for line in lines if line_filter(line)] == expected


def test_status_filter_argument() -> None:
    assert parse_status_filter("5XX") == "5xx"
    assert parse_status_filter("404") == "404"
    with pytest.raises(Exception, match="a status"):
        parse_status_filter("9zz")


def test_tail_prints_compact_lines_until_stopped(tmp_path: Path) -> None:
    log = tmp_path / "edge-us-east.jsonl"
    _write(log, _access(200, "/p/tent") | {"cache": "HIT", "market": "eu", "trace_id": "0af7651916cd43dd"})
    _write(log, _access(500, "/boom"))
    out = io.StringIO()
    printed = tail(tmp_path, LineFilter(paths=("/p/*",)), out=out, from_start=True, stop=lambda: True)
    assert printed == 1
    expected = "10:00:00.123 edge/us-east     INFO    GET /p/tent 200 1.5ms HIT market=eu trace=0af76519\n"
    assert out.getvalue() == expected
    assert format_line({"msg": "purge applied", "level": "info", "service": "edge"}).endswith("INFO    purge applied")


def test_tail_follows_a_live_dev_store_s_access_log(tmp_path: Path) -> None:
    config = write_config(tmp_path / "store", seed_products=5)
    edge_port, origin_port = free_port(), free_port()
    log = (tmp_path / "dev.log").open("w")
    dev = subprocess.Popen(
        [sys.executable, "-m", "wrangler_py.cli", "--config", str(config), "dev", "--port", str(edge_port),
         "--origin-port", str(origin_port), "--access-log"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        edge = f"http://127.0.0.1:{edge_port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(edge + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert dev.poll() is None and time.monotonic() < deadline, (tmp_path / "dev.log").read_text()
            time.sleep(0.1)
        for _ in range(2):
            assert httpx.get(edge + "/c/tents?utm_source=mail&token=CANARY-query-token", timeout=10).status_code == 200
        assert httpx.get(edge + "/p/no-such-product", timeout=10).status_code == 404
        time.sleep(0.3)  # the handlers write as the responses go out

        out = io.StringIO()
        folder = config.parent / "data" / "logs"
        tail(folder, LineFilter(paths=("/c/*", "/p/*")), out=out, as_json=True, from_start=True, stop=lambda: True)
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        at_edge = [line for line in lines if line.get("service") == "edge"]
        assert [(line["path"], line["status"]) for line in at_edge] == [
            ("/c/tents", 200), ("/c/tents", 200), ("/p/no-such-product", 404)
        ]  # fmt: skip
        assert [line["cache"] for line in at_edge] == ["miss", "l1_hit", "miss"]  # the hit answered below ASGI
        assert [line["route"] for line in at_edge] == ["/c/{slug}", "/c/{slug}", "/p/{handle}"]
        assert all(line.get("request_id") for line in lines)
        assert "CANARY-query-token" not in (folder / "dev.jsonl").read_text(encoding="utf-8")

        only_404 = io.StringIO()
        tail(folder, LineFilter(statuses=("4xx",)), out=only_404, from_start=True, stop=lambda: True)
        assert only_404.getvalue() and all(" 404 " in line for line in only_404.getvalue().splitlines())
    finally:
        dev.terminate()
        dev.wait(timeout=20)
        log.close()
