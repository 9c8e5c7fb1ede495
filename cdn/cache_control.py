"""Cache-Control parsing (RFC 9111 §5.2), shared by Cache-Control, CDN-Cache-Control and Surrogate-Control.

Parsed once per message into a small immutable object; the policy functions only read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# RFC 9111 §1.2.2: a delta-seconds too large to represent is taken as 2^31.
MAX_DELTA_SECONDS = 2**31
# Marks a directive whose value was present but unusable (RFC 9111 §4.2.1: treat the response as stale).
INVALID = -1

_DELTA_DIRECTIVES = frozenset(
    {"max-age", "s-maxage", "stale-while-revalidate", "stale-if-error", "min-fresh", "max-stale"}
)


def _delta_seconds(raw: str | None) -> int:
    if raw is None or not raw.isascii() or not raw.isdecimal():
        return INVALID
    return min(int(raw), MAX_DELTA_SECONDS)


def _split_directives(value: str) -> list[tuple[str, str | None]]:
    """`a, b=1, c="x, y"` -> [("a", None), ("b", "1"), ("c", "x, y")], names lowercased (§5.2: case-insensitive)."""
    directives: list[tuple[str, str | None]] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t,":
            i += 1
        start = i
        while i < n and value[i] not in "=,":
            i += 1
        name = value[start:i].strip().lower()
        argument: str | None = None
        if i < n and value[i] == "=":
            i += 1
            while i < n and value[i] in " \t":
                i += 1
            if i < n and value[i] == '"':
                i += 1
                chars = []
                while i < n and value[i] != '"':
                    if value[i] == "\\" and i + 1 < n:
                        i += 1
                    chars.append(value[i])
                    i += 1
                i += 1
                argument = "".join(chars)
            else:
                start = i
                while i < n and value[i] != ",":
                    i += 1
                argument = value[start:i].strip()
        while i < n and value[i] != ",":
            i += 1
        if name:
            directives.append((name, argument))
    return directives


@dataclass(frozen=True, slots=True)
class CacheControl:
    """Directives of one Cache-Control-like field; None means absent, INVALID means present but unusable."""

    max_age: int | None = None
    s_maxage: int | None = None
    stale_while_revalidate: int | None = None
    stale_if_error: int | None = None
    min_fresh: int | None = None
    max_stale: int | None = None  # MAX_DELTA_SECONDS when given without a value: any staleness
    no_store: bool = False
    no_cache: bool = False
    no_cache_fields: tuple[str, ...] = ()
    private: bool = False
    private_fields: tuple[str, ...] = ()
    public: bool = False
    must_revalidate: bool = False
    proxy_revalidate: bool = False
    must_understand: bool = False
    only_if_cached: bool = False
    immutable: bool = False
    extensions: tuple[str, ...] = field(default=())

    @property
    def present(self) -> bool:
        return self != _EMPTY


_EMPTY = CacheControl()


def parse_cache_control(values: list[str] | tuple[str, ...] | str | None) -> CacheControl:
    """Parse one or more field lines (they combine as one list, RFC 9110 §5.3)."""
    if not values:
        return _EMPTY
    if isinstance(values, str):
        values = [values]
    seen: dict[str, str | None] = {}
    conflicting: set[str] = set()
    for line in values:
        for name, argument in _split_directives(line):
            if name in seen and seen[name] != argument:
                conflicting.add(name)
            seen.setdefault(name, argument)
    deltas: dict[str, int | None] = {}
    for name in _DELTA_DIRECTIVES:
        if name not in seen:
            deltas[name] = None
        elif name in conflicting:
            # RFC 9111 §4.2.1: with conflicting duplicates, consider the response stale (the careful reading).
            deltas[name] = INVALID if name not in ("max-stale",) else None
        elif name == "max-stale" and seen[name] is None:
            deltas[name] = MAX_DELTA_SECONDS
        else:
            deltas[name] = _delta_seconds(seen[name])

    def fields(name: str) -> tuple[str, ...]:
        argument = seen.get(name)
        if not argument:
            return ()
        return tuple(f.strip().lower() for f in argument.split(",") if f.strip())

    known = _DELTA_DIRECTIVES | {
        "no-store", "no-cache", "private", "public", "must-revalidate", "proxy-revalidate", "must-understand",
        "only-if-cached", "immutable", "no-transform",
    }  # fmt: skip
    return CacheControl(
        max_age=deltas["max-age"],
        s_maxage=deltas["s-maxage"],
        stale_while_revalidate=deltas["stale-while-revalidate"],
        stale_if_error=deltas["stale-if-error"],
        min_fresh=deltas["min-fresh"],
        max_stale=deltas["max-stale"],
        no_store="no-store" in seen,
        no_cache="no-cache" in seen,
        no_cache_fields=fields("no-cache"),
        private="private" in seen,
        private_fields=fields("private"),
        public="public" in seen,
        must_revalidate="must-revalidate" in seen,
        proxy_revalidate="proxy-revalidate" in seen,
        must_understand="must-understand" in seen,
        only_if_cached="only-if-cached" in seen,
        immutable="immutable" in seen,
        extensions=tuple(sorted(set(seen) - known)),
    )
