"""Declarative edge rules for merchants who don't code: `[[edge.rules]]` entries, each one `type`.

They run before the merchant's own handlers, in config order, and are built into the same handler chain:

- `redirect`: `from = "/old-shop/*"`, `to = "/c/*"` (the `*` carries over), `status` 301/302/303/307/308;
- `block`: shoppers from `countries` or in `markets` get `status` (451 by default) and `message`;
- `headers`: on responses to `paths`, `set` these headers and `remove` those;
- `maintenance`: with `enabled = true`, everyone but `allow_ips` gets a 503 page with `Retry-After`;
- `rewrite`: shoppers in `arm` of `experiment` on `path` get the page at `to` (a simple A/B of whole pages).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from fnmatch import fnmatchcase
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.handlers import Action, EdgeContext, EdgeRequest, Redirect, Registered, Respond, Rewrite

Glob = Annotated[str, Field(pattern=r"^/")]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RedirectRule(_Rule):
    type: Literal["redirect"]
    from_: Glob = Field(alias="from")
    to: str = Field(pattern=r"^(/|https?://)")
    status: Literal[301, 302, 303, 307, 308] = 301
    keep_query: bool = True

    @model_validator(mode="after")
    def _one_star(self) -> RedirectRule:
        if self.from_.count("*") > 1 or ("*" in self.from_ and not self.from_.endswith("*")):
            raise ValueError(f"redirect from {self.from_!r}: one '*', at the end, is all a pattern may have")
        if self.to.count("*") > 1 or ("*" in self.to and "*" not in self.from_):
            raise ValueError(f"redirect to {self.to!r}: at most one '*', and only when `from` has one")
        if "*" in self.to and not self.to.startswith("/") and "/" not in self.to.split("://", 1)[1].split("*")[0]:
            # "https://shop.example*" would let the carried path extend the host name.
            raise ValueError(f"redirect to {self.to!r}: the '*' must come after the host's '/'")
        return self


class BlockRule(_Rule):
    type: Literal["block"]
    countries: list[str] = Field(default_factory=list)
    markets: list[str] = Field(default_factory=list)
    paths: list[Glob] = Field(default_factory=lambda: ["/*"])
    status: Literal[403, 451] = 451
    message: str = "This shop is not available where you are."


class HeadersRule(_Rule):
    type: Literal["headers"]
    paths: list[Glob] = Field(default_factory=lambda: ["/*"])
    set: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _clean(self) -> HeadersRule:
        for text in [*self.set, *self.set.values(), *self.remove]:
            if "\r" in text or "\n" in text:
                raise ValueError("header names and values cannot contain line breaks")
        return self


class MaintenanceRule(_Rule):
    type: Literal["maintenance"]
    enabled: bool = False
    allow_ips: list[IPv4Network | IPv6Network] = Field(default_factory=list)
    retry_after_seconds: int = Field(default=600, ge=0)
    message: str = "We are making the shop better and will be back shortly."


class RewriteRule(_Rule):
    type: Literal["rewrite"]
    path: Glob
    experiment: str
    arm: str
    to: Glob


EdgeRule = Annotated[
    RedirectRule | BlockRule | HeadersRule | MaintenanceRule | RewriteRule, Field(discriminator="type")
]


def _page(title: str, message: str) -> str:
    return (
        f'<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
        f'<main style="font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem">'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></main></html>"
    )


def _matches(path: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(path, pattern) for pattern in patterns)


RuleRun = Callable[[EdgeRequest, EdgeContext], "Action | None"]


def _redirect(rule: RedirectRule) -> RuleRun:
    prefix = rule.from_.removesuffix("*")
    wildcard = rule.from_.endswith("*")
    site_path = rule.to.startswith("/")

    def run(request: EdgeRequest, ctx: EdgeContext) -> Action | None:
        if wildcard:
            if not request.path.startswith(prefix):
                return None
            carried = quote(request.path[len(prefix) :], safe="/-._~!$&'()*+,;=:@")
            target = rule.to.replace("*", carried, 1)
        elif request.path == rule.from_:
            target = rule.to
        else:
            return None
        if site_path:
            # Never "//host" or "/\\host", which browsers read as another site; and stay in the shopper's market.
            target = request.prefix + "/" + target.lstrip("/\\")
        if rule.keep_query and request.query:
            target += ("&" if "?" in target else "?") + request.query
        return Redirect(target, rule.status)

    return run


def _block(rule: BlockRule) -> RuleRun:
    countries, markets = frozenset(c.upper() for c in rule.countries), frozenset(rule.markets)
    page = _page("Not available", rule.message)

    def run(request: EdgeRequest, ctx: EdgeContext) -> Action | None:
        blocked = (request.geo.country or "") in countries or request.market in markets
        if blocked and _matches(request.path, rule.paths):
            return Respond(rule.status, page, {"cache-control": "private, no-store"}, "text/html; charset=utf-8")
        return None

    return run


def _headers(rule: HeadersRule) -> RuleRun:
    def run(request: EdgeRequest, ctx: EdgeContext) -> Action | None:
        if _matches(request.path, rule.paths):
            for name in rule.remove:
                ctx.remove_response_header(name)
            for name, value in rule.set.items():
                ctx.add_response_header(name, value)
        return None

    return run


def _maintenance(rule: MaintenanceRule) -> RuleRun:
    page = _page("Back soon", rule.message)
    headers = {"retry-after": str(rule.retry_after_seconds), "cache-control": "no-store"}

    def run(request: EdgeRequest, ctx: EdgeContext) -> Action | None:
        if not rule.enabled:
            return None
        try:
            address = ip_address(request.client_ip)
        except ValueError:
            address = None
        if address is not None and any(address in network for network in rule.allow_ips):
            return None
        return Respond(503, page, headers, "text/html; charset=utf-8")

    return run


def _rewrite(rule: RewriteRule) -> RuleRun:
    def run(request: EdgeRequest, ctx: EdgeContext) -> Action | None:
        if request.variant.get(rule.experiment) == rule.arm and fnmatchcase(request.path, rule.path):
            return Rewrite(rule.to)
        return None

    return run


_BUILDERS: dict[str, Callable[..., RuleRun]] = {
    "redirect": _redirect,
    "block": _block,
    "headers": _headers,
    "maintenance": _maintenance,
    "rewrite": _rewrite,
}


def _paths(rule: EdgeRule) -> tuple[str, ...]:
    """Where a rule can act: elsewhere the edge need not run it (and may answer from its fast path)."""
    match rule:
        case RedirectRule():
            return (rule.from_,)
        case BlockRule() | HeadersRule():
            return tuple(rule.paths)
        case RewriteRule():
            return (rule.path,)
        case MaintenanceRule():
            return ("*",)


def compile_rules(rules: list[EdgeRule]) -> list[Registered]:
    """Each rule as a handler of the chain; maintenance first, whatever its place in the file, and only when on."""
    active = [rule for rule in rules if not (isinstance(rule, MaintenanceRule) and not rule.enabled)]
    ordered = sorted(active, key=lambda rule: rule.type != "maintenance")
    compiled = []
    for index, rule in enumerate(ordered):
        run = _BUILDERS[rule.type](rule)

        async def handler(request: EdgeRequest, ctx: EdgeContext, run: RuleRun = run) -> Action | None:
            return run(request, ctx)

        compiled.append(Registered(f"rule {index + 1} ({rule.type})", handler, _paths(rule), "continue"))
    return compiled


__all__ = [
    "BlockRule",
    "EdgeRule",
    "HeadersRule",
    "MaintenanceRule",
    "RedirectRule",
    "RewriteRule",
    "compile_rules",
]
