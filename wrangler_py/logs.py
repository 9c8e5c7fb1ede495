"""Process logging for the deployables `wrangler-py` starts: one JSON object per line, scrubbed of secrets.

Every line carries `ts`, `level`, `logger`, `msg`, the process's `service` and `region`, whatever the running
request put in its log context (request id, trace id, market: each deployable registers a provider), and the
record's `extra=` fields. Text and fields pass through `scrub` first, so a token, a card number or a whole
e-mail address that reaches a log call by mistake does not reach the log: the rule is defence in depth, not a
licence to log payloads.

Formatting happens only for records at an enabled level (the logging module checks the level before it builds
a record), so the hot path pays nothing for a disabled access log.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TextIO

from origin import luhn_valid

LogFormat = Literal["json", "text"]
ContextProvider = Callable[[], Mapping[str, Any] | None]

LOG_FILE_SUFFIX = ".jsonl"
_FILE_BYTES = 10 * 1024 * 1024  # per dev log file before it rolls over (three old files kept)

# The attributes every LogRecord has: anything else on a record came in through `extra=`.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colours
}
_SECRET_KEY = re.compile(
    r"(?i)^(?:.*[-_])?(?:password|passwd|secret|token|api[-_]?key|apikey|authorization|cookie|set-cookie|"
    r"signature|card|card[-_]?number|pan|cvc|cvv|iban|credentials?)$"
)
_REDACTED = "[redacted]"

# What a secret looks like in free text. Order matters: specific shapes before the generic key=value rule.
_SCRUBBERS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # scheme://user:password@host: credentials in a URL (Redis, database and proxy URLs carry them).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]*:[^/\s@]+@"), r"\1[redacted]@"),
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    # Vendor keys: Stripe (sk_/rk_/pk_ live|test, whsec_), Adyen (AQE…), generic long hex/base64 after a key name.
    (re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{6,}"), _REDACTED),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{6,}"), _REDACTED),
    (re.compile(r"\bAQE[A-Za-z0-9+/=_-]{20,}"), _REDACTED),
    (
        re.compile(
            r"(?i)\b(password|passwd|secret|token|api[-_]?key|apikey|access[-_]?token|client[-_]?secret|"
            r"authorization|signature|x-api-key|x-algolia-api-key|x-typesense-api-key|cvc|cvv)"
            r"(\"?\s*[:=]\s*\"?)([^\s&\"',;}]+)"
        ),
        r"\1\2[redacted]",
    ),
)
# 13 to 19 digits, spaces or dashes between groups: a payment card number if the Luhn check passes.
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[redacted-card]" if luhn_valid(digits) else match.group()


# C0 and C1 controls and DEL: a path a shopper chose must not move a terminal's cursor or forge a log line.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """Control characters as visible escapes (`\x1b`), for text meant for a terminal."""
    return _CONTROLS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def scrub(text: str) -> str:
    """`text` with credentials, vendor keys, card numbers and e-mail local parts masked."""
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    text = _CARD.sub(_card, text)
    return _EMAIL.sub(r"\1***@\2", text)


def scrub_value(key: str, value: Any) -> Any:
    """A field for a log line: secret-named keys lose their value; strings are scrubbed; containers recursively."""
    if _SECRET_KEY.match(key):
        return _REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {str(k): scrub_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(key, v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record; `static` fields (service, region) first, then request context, then extras."""

    def __init__(self, static: Mapping[str, Any] | None = None, providers: Iterable[ContextProvider] = ()) -> None:
        super().__init__()
        self._static = {key: value for key, value in (static or {}).items() if value is not None}
        self._providers = tuple(providers)

    def format(self, record: logging.LogRecord) -> str:
        created = time.gmtime(record.created)
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", created) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
            **self._static,
        }
        for provide in self._providers:
            for key, value in (provide() or {}).items():
                if value is not None:
                    line[key] = scrub_value(key, value)
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                line[key] = scrub_value(key, value)
        if record.exc_info:
            line["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """The human format for a terminal, scrubbed like the JSON one; the message's control characters escaped."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname} {record.name}: {escape_controls(scrub(record.getMessage()))}"
        if record.exc_info:
            line += "\n" + scrub(self.formatException(record.exc_info))  # a traceback's own lines stay lines
        return line


def log_file(log_dir: Path, service: str, region: str | None) -> Path:
    """Where a dev process writes its JSON lines, for `wrangler-py tail` to follow."""
    name = f"{service}-{region}" if region else service
    return log_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}{LOG_FILE_SUFFIX}"


def configure_logging(
    service: str,
    *,
    region: str | None = None,
    level: str | int = "info",
    fmt: LogFormat = "text",
    log_dir: Path | None = None,
    providers: Iterable[ContextProvider] = (),
    stream: TextIO | None = None,
    console_level: str | int | None = None,
) -> Path | None:
    """The root logger's handlers for one process: `fmt` on stderr and, with `log_dir`, JSON lines in a file.

    `console_level` quiets stderr alone (the file keeps `level`): processes that share a terminal.
    Replaces handlers set before (a second call reconfigures). Returns the log file, if any. uvicorn must be
    started with `log_config=None` so that it keeps these handlers instead of installing its own.
    """
    providers = tuple(providers)
    static = {"service": service, "region": region}
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(stream or sys.stderr)
    console.setFormatter(JsonFormatter(static, providers) if fmt == "json" else TextFormatter())
    if console_level is not None:
        console.setLevel(console_level.upper() if isinstance(console_level, str) else console_level)
    root.addHandler(console)
    path = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_file(log_dir, service, region)
        file_handler = logging.handlers.RotatingFileHandler(path, maxBytes=_FILE_BYTES, backupCount=3, encoding="utf-8")
        file_handler.setFormatter(JsonFormatter(static, providers))
        root.addHandler(file_handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's loggers propagate to these handlers; their own (from an earlier dictConfig) would double lines.
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per proxied request is the access log's job
    return path


__all__ = [
    "ContextProvider",
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "configure_logging",
    "escape_controls",
    "log_file",
    "scrub",
    "scrub_value",
]
