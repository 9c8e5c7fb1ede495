"""The wrangler.toml schema, composed from each package's settings model, and its loader.

Loading never stops at the first mistake: it collects every problem with the key path and a fix, so
`wrangler-py check` can print them all. Secrets are `"env:NAME"` references resolved here, the one module
that reads the environment; a literal value in a secret field is itself a problem.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from connectors import VENDOR_SETTINGS, ConnectorsSettings
from edge import EdgeSettings, ExperimentSettings, MarketRoute, RegionSettings, SegmentRule, default_segments
from origin import Market, OriginSettings, check_markets, default_markets
from storefront import StorefrontSettings
from wrangler_py.deploy_settings import DeployConfig

DEFAULT_CONFIG = "wrangler.toml"
ENV_PREFIX = "env:"


class WranglerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="edgeshop", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    default_market: str = "us"
    markets: list[Market] = Field(default_factory=default_markets)
    regions: list[RegionSettings] = Field(default_factory=list)
    segments: list[SegmentRule] = Field(default_factory=default_segments)
    experiments: list[ExperimentSettings] = Field(default_factory=list)
    edge: EdgeSettings = EdgeSettings()
    origin: OriginSettings = OriginSettings()
    storefront: StorefrontSettings = StorefrontSettings()
    connectors: ConnectorsSettings = ConnectorsSettings()
    deploy: DeployConfig = DeployConfig()

    @model_validator(mode="after")
    def _markets(self) -> WranglerConfig:
        check_markets(self.markets, self.default_market)
        if self.storefront.public_url is None and any(m.domain for m in self.markets):
            # Links between a market's domain and the rest of the shop need the shop's own address.
            raise ValueError("storefront.public_url is needed when a market has its own domain")
        self.edge_settings()  # regions and markets must agree (a market homed in a region that does not exist)
        return self

    def edge_settings(self) -> EdgeSettings:
        """[edge] with what the edge needs of [[regions]] and [[markets]] (it never imports the origin's models)."""
        markets = [
            MarketRoute(id=m.id, countries=m.countries, url_prefix=m.url_prefix, domain=m.domain,
                        home_region=m.home_region)
            for m in self.markets
        ]  # fmt: skip
        personalization = self.edge.personalization.model_copy(
            update={
                "segments": self.segments,
                "experiments": self.experiments,
                "secure_cookies": self.storefront.secure_cookies,
            }
        )
        update: dict[str, Any] = {
            "markets": markets,
            "default_market": self.default_market,
            "personalization": personalization.model_dump(),
        }
        if self.regions:
            update["regions"] = self.regions
        return EdgeSettings.model_validate({**self.edge.model_dump(), **update})


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}\n    fix: {self.fix}"


class ConfigError(Exception):
    def __init__(self, source: Path, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"  {p}" for p in problems))


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: WranglerConfig
    path: Path
    env: str | None = None  # the [env.NAME] table laid over the top-level keys, if one was chosen

    @property
    def project_dir(self) -> Path:
        return self.path.parent

    @property
    def data_dir(self) -> Path:
        return (self.project_dir / self.config.origin.data_dir).resolve()


def _dotted(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts) or "(top level)"


def _model_at(loc: tuple[Any, ...], data: Mapping[str, Any]) -> type[BaseModel] | None:
    """The pydantic model that owns the table at `loc`, to suggest the keys it knows."""
    model: type[BaseModel] = WranglerConfig
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            node = node[item] if isinstance(node, list) and item < len(node) else None
            continue
        field = model.model_fields.get(str(item))
        node = node.get(item) if isinstance(node, Mapping) else None
        if field is None:
            return model
        candidates = [field.annotation, *get_args(field.annotation)]
        nested = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nested is None:
            return model
        model = nested
        if str(item) in ("commerce", "search", "cms", "payments") and isinstance(node, Mapping):
            model = VENDOR_SETTINGS[str(item)].get(str(node.get("vendor", "builtin")), model)
    return model


def _problem_for(error: Mapping[str, Any], data: Mapping[str, Any]) -> Problem:
    loc: tuple[Any, ...] = tuple(error["loc"])
    path = _dotted(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        owner = _model_at(loc[:-1], data)
        known = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return Problem(path, "unknown key", f"{hint}remove it, or use one of: {', '.join(known)}")
    if kind == "unknown_vendor":
        return Problem(path + ".vendor", error["msg"], "set vendor to one of the listed choices")
    if kind == "missing":
        return Problem(path, "required key is missing", "add it")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        got = type(error.get("input")).__name__
        return Problem(path, f"{error['msg'].lower()} (got {got})", "write a value of the expected type")
    return Problem(path, error["msg"], "correct the value")


def _resolve_secrets(
    node: Any, path: str, environ: Mapping[str, str], problems: list[Problem], referenced: set[str]
) -> Any:
    """Replace every "env:NAME" string by the variable's value, recording where secrets came from."""
    if isinstance(node, dict):
        return {
            k: _resolve_secrets(v, f"{path}.{k}" if path else k, environ, problems, referenced) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_resolve_secrets(v, f"{path}[{i}]", environ, problems, referenced) for i, v in enumerate(node)]
    if isinstance(node, str) and node.startswith(ENV_PREFIX):
        name = node[len(ENV_PREFIX) :]
        if not name.isidentifier():
            problems.append(
                Problem(path, f"{node!r} is not a valid reference", 'write "env:NAME" with NAME a variable')
            )
            return node
        referenced.add(path)  # a reference, even a broken one, is not a literal secret
        if name not in environ:
            problems.append(
                Problem(path, f"environment variable {name} is not set", f"export {name}=... before running")
            )
            return node
        return environ[name]
    return node


def _secret_paths(model: BaseModel, prefix: str = "") -> list[str]:
    """Paths of SecretStr fields that hold a value, found by walking the validated model."""
    found: list[str] = []
    for name, value in model:
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(value, SecretStr):
            found.append(path)
        elif isinstance(value, BaseModel):
            found.extend(_secret_paths(value, path))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found.extend(_secret_paths(item, f"{path}[{i}]"))
    return found


def environments(text: str) -> list[str]:
    """The names of the file's `[env.NAME]` tables."""
    try:
        envs = tomllib.loads(text).get("env", {})
    except tomllib.TOMLDecodeError:
        return []
    return sorted(envs) if isinstance(envs, dict) else []


def _overlaid(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key (recursively); any other value, arrays of tables included, replaces the base's."""
    merged = dict(base)
    for key, value in overlay.items():
        current = merged.get(key)
        if (
            isinstance(value, dict)
            and isinstance(current, dict)
            and value.get("vendor", current.get("vendor")) == current.get("vendor")
        ):
            merged[key] = _overlaid(current, value)
        else:
            # A table naming another vendor replaces the base's: the old vendor's options mean nothing to it.
            merged[key] = value
    return merged


def _with_environment(raw: dict[str, Any], env: str | None, source: Path) -> dict[str, Any]:
    envs = raw.pop("env", {})
    if not isinstance(envs, dict) or any(not isinstance(table, dict) for table in envs.values()):
        raise ConfigError(source, [Problem("env", "must hold tables: [env.staging], [env.production]", "fix the file")])
    if env is None:
        return raw
    if env not in envs:
        known = ", ".join(sorted(envs)) or "none"
        raise ConfigError(source, [Problem(f"env.{env}", f"no such environment (defined: {known})",
                                           f"add an [env.{env}] table or pick one of the defined")])  # fmt: skip
    overlay = envs[env]
    merged = _overlaid(raw, overlay)
    if "name" not in overlay:
        # As wrangler does: each environment deploys under its own name (resources, namespaces, keys).
        merged["name"] = f"{raw.get('name', 'edgeshop')}-{env}"
    return merged


def parse_config(text: str, source: Path, environ: Mapping[str, str], env: str | None = None) -> WranglerConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [Problem("(file)", f"not valid TOML: {exc}", "fix the syntax at that line")]) from exc
    raw = _with_environment(raw, env, source)
    problems: list[Problem] = []
    referenced: set[str] = set()
    data = _resolve_secrets(raw, "", environ, problems, referenced)
    try:
        config = WranglerConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problem_for(err, raw) for err in exc.errors(include_url=False))
        raise ConfigError(source, problems) from exc
    for path in _secret_paths(config):
        if path not in referenced:
            problems.append(
                Problem(path, "secrets must not be written into the file", 'write "env:NAME" and export NAME')
            )
    if problems:
        raise ConfigError(source, problems)
    return config


def load_config(
    path: Path | str = DEFAULT_CONFIG, environ: Mapping[str, str] | None = None, *, env: str | None = None
) -> LoadedConfig:
    """The file's top-level keys, with `[env.<env>]` laid over them when an environment is named.

    Secrets resolve from `environ`; by default the process environment, completed by the project's `.env` when
    no environment is named.
    """
    source = Path(path).resolve()
    if not source.is_file():
        raise ConfigError(source, [Problem("(file)", "no such file", "run from the project folder or pass --config")])
    text = source.read_text(encoding="utf-8")
    if environ is None:
        environ = os.environ
        if env is None:
            # Local development: the project's `.env` (`wrangler-py secret put`) fills in what the shell does not
            # export. An environment's secrets live in its Kubernetes Secret, never in a file on the laptop.
            from wrangler_py.secrets import environ_with_dotenv

            environ = environ_with_dotenv(source.parent, environ)
    config = parse_config(text, source, environ, env)
    return LoadedConfig(config=config, path=source, env=env)
