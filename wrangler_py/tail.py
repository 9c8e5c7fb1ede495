"""`wrangler-py tail`: the live JSON logs of local dev processes, merged, filtered and printed as they come.

`wrangler-py dev` (and each process of `dev --regions`) writes its log lines to `<data_dir>/logs/*.jsonl`; this
follows every such file, including ones that appear later, across rotation and truncation.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from wrangler_py.logs import LOG_FILE_SUFFIX, escape_controls

LOGS_FOLDER = "logs"  # under the origin's data_dir


@dataclass(frozen=True, slots=True)
class LineFilter:
    """Which lines to show. Status and path filters only match lines that have those fields (access lines)."""

    statuses: tuple[str, ...] = ()  # "200", "5xx", "4xx"
    paths: tuple[str, ...] = ()  # globs: "/p/*", "/checkout*"
    regions: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    min_level: int = 0

    def __call__(self, line: Mapping[str, Any]) -> bool:
        if self.min_level and _LEVELS.get(str(line.get("level", "")).lower(), 0) < self.min_level:
            return False
        if self.regions and line.get("region") not in self.regions:
            return False
        if self.services and line.get("service") not in self.services:
            return False
        if self.statuses and not any(_status_matches(line.get("status"), want) for want in self.statuses):
            return False
        path = line.get("path")
        return not self.paths or (isinstance(path, str) and any(fnmatch.fnmatchcase(path, p) for p in self.paths))


_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


def _status_matches(status: Any, want: str) -> bool:
    if not isinstance(status, int):
        return False
    if len(want) == 3 and want[1:].lower() == "xx" and want[0].isdigit():
        return status // 100 == int(want[0])
    return str(status) == want


def parse_status_filter(text: str) -> str:
    """argparse type: 404, 5xx."""
    if len(text) == 3 and (text.isdigit() or (text[0] in "12345" and text[1:].lower() == "xx")):
        return text.lower()
    raise argparse.ArgumentTypeError(f"{text!r}: a status (404) or a class (5xx)")


@dataclass(slots=True)
class _Followed:
    path: Path
    inode: int
    offset: int
    partial: str = ""


@dataclass(slots=True)
class LogFollower:
    """Reads new complete lines from every `*.jsonl` in a folder; `from_start` replays what is already there."""

    folder: Path
    from_start: bool = False
    _files: dict[Path, _Followed] = field(default_factory=dict)
    _first_scan: bool = True

    def poll(self) -> Iterator[dict[str, Any]]:
        """Lines written since the last poll, file by file (each file in order)."""
        paths = sorted(self.folder.glob(f"*{LOG_FILE_SUFFIX}")) if self.folder.is_dir() else []
        for path in paths:
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            known = self._files.get(path)
            if known is not None and known.inode != stat.st_ino:
                yield from self._drain_rotated(known)
            if known is None or known.inode != stat.st_ino or stat.st_size < known.offset:
                # New, rotated (a new file under the old name) or truncated: read it from its start, except for
                # files already there when tail started, unless asked to replay them.
                start = stat.st_size if (self._first_scan and not self.from_start) else 0
                known = self._files[path] = _Followed(path, stat.st_ino, start)
            if stat.st_size == known.offset:
                continue
            yield from self._read(known)
        self._first_scan = False

    def _drain_rotated(self, followed: _Followed) -> Iterator[dict[str, Any]]:
        """What was written to a file after our last read and before it rolled over to `<name>.1`."""
        rotated = followed.path.with_name(followed.path.name + ".1")
        try:
            if rotated.stat().st_ino != followed.inode:
                return
        except FileNotFoundError:
            return
        yield from self._read(followed, rotated)

    def _read(self, followed: _Followed, path: Path | None = None) -> Iterator[dict[str, Any]]:
        with (path or followed.path).open("rb") as handle:
            handle.seek(followed.offset)
            chunk = handle.read()
        followed.offset += len(chunk)
        text = followed.partial + chunk.decode("utf-8", errors="replace")
        *complete, followed.partial = text.split("\n")
        for raw in complete:
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                line = {"msg": raw, "level": "info"}
            if isinstance(line, dict):
                yield line


def format_line(line: Mapping[str, Any]) -> str:
    return escape_controls(_format_line(line))


def _format_line(line: Mapping[str, Any]) -> str:
    """One compact human line: time, where, level, then the request (method path status ms cache) or message."""
    ts = str(line.get("ts", ""))[11:23]
    where = "/".join(str(line[key]) for key in ("service", "region") if line.get(key))
    level = str(line.get("level", "")).upper()
    if "status" in line and "path" in line:
        parts = [str(line.get("method", "")), str(line["path"]), str(line["status"])]
        if "duration_ms" in line:
            parts.append(f"{line['duration_ms']}ms")
        if line.get("cache"):
            parts.append(str(line["cache"]))
        if line.get("market"):
            parts.append(f"market={line['market']}")
        body = " ".join(part for part in parts if part)
    else:
        body = str(line.get("msg", ""))
    trace = f" trace={str(line['trace_id'])[:8]}" if line.get("trace_id") else ""
    return f"{ts} {where:<16} {level:<7} {body}{trace}"


def tail(
    folder: Path,
    accept: Callable[[Mapping[str, Any]], bool],
    *,
    out: TextIO,
    as_json: bool = False,
    from_start: bool = False,
    interval: float = 0.2,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Follow `folder` until `stop()` (or Ctrl-C); returns the number of lines printed."""
    follower = LogFollower(folder, from_start=from_start)
    printed = 0
    while True:
        for line in follower.poll():
            if accept(line):
                out.write((json.dumps(line, ensure_ascii=False) if as_json else format_line(line)) + "\n")
                printed += 1
        out.flush()
        if stop():
            return printed
        time.sleep(interval)


def cmd_tail(args: argparse.Namespace) -> int:
    from wrangler_py.config import load_config

    loaded = load_config(Path(args.config), env=args.env)
    folder = loaded.data_dir / LOGS_FOLDER
    accept = LineFilter(
        statuses=tuple(args.status),
        paths=tuple(args.path),
        regions=tuple(args.region),
        services=tuple(args.service),
        min_level=_LEVELS[args.level] if args.level else 0,
    )
    if not folder.is_dir():
        print(f"waiting for logs in {folder} (start `wrangler-py dev` in this project)", file=sys.stderr, flush=True)
    else:
        print(f"following {folder}{os.sep}*{LOG_FILE_SUFFIX}  Ctrl-C stops", file=sys.stderr, flush=True)
    try:
        tail(folder, accept, out=sys.stdout, as_json=args.json, from_start=args.from_start)
    except KeyboardInterrupt:
        return 0
    return 0


def add_tail_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("tail", parents=parents, help="follow the live logs of local dev processes")
    parser.add_argument("--status", action="append", default=[], type=parse_status_filter,
                        help="only requests with this status or class (404, 5xx); repeatable")  # fmt: skip
    parser.add_argument("--path", action="append", default=[], help="only requests whose path matches (/p/*)")
    parser.add_argument("--region", action="append", default=[], help="only this region's processes; repeatable")
    parser.add_argument("--service", action="append", default=[], choices=["edge", "origin"], help="edge or origin")
    parser.add_argument("--level", default=None, choices=sorted(_LEVELS, key=_LEVELS.__getitem__),
                        help="only lines at this level or above")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the JSON lines as they are")
    parser.add_argument("--from-start", action="store_true", help="replay what the files already hold first")
    parser.set_defaults(func=cmd_tail)


__all__ = ["LOGS_FOLDER", "LineFilter", "LogFollower", "add_tail_parser", "cmd_tail", "format_line", "tail"]
