"""`wrangler-py dev --regions us-east,eu-west`: several regions on one machine, as real processes.

Each region gets its own origin process (its own data folder: carts and orders live in exactly one region)
and its own edge process, which knows every region's origin and prefers its own. A small front door on the
dev port plays the CDN's anycast: it sends each shopper to the edge of their market's home region (`?_geo=DE`
picks the country in development), and to the next region's edge when that one does not answer.

The parent writes a run plan (JSON) and starts each process as `python -m wrangler_py.regions ROLE REGION PLAN`,
so a test (or an operator) can stop one region's origin and start it again with the same command. The parent adds
`--parent PID`: on Linux such a process ends with the parent even when the parent is killed outright (SIGKILL, an
OOM kill), when no `finally` of the parent gets to stop it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

# Where a region is, for the nearest-region order; unknown names sit at the origin of the map.
KNOWN_LOCATIONS = {
    "us-east": (39.0, -77.5), "us-west": (45.6, -121.2), "ca-central": (45.5, -73.6), "sa-east": (-23.5, -46.6),
    "eu-west": (53.3, -6.3), "eu-central": (50.1, 8.7), "eu-north": (59.3, 18.1), "uk-south": (51.5, -0.1),
    "ap-south": (19.1, 72.9), "ap-southeast": (1.3, 103.8), "ap-northeast": (35.7, 139.7), "au-east": (-33.9, 151.2),
}  # fmt: skip
PURGE_TOKEN_ENV = "EDGESHOP_DEV_REGIONS_PURGE_TOKEN"  # noqa: S105 - the name of a variable, not a secret
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True, slots=True)
class RegionPlan:
    name: str
    latitude: float
    longitude: float
    origin_port: int
    edge_port: int

    @property
    def origin_url(self) -> str:
        return f"http://127.0.0.1:{self.origin_port}"

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"


@dataclass(frozen=True, slots=True)
class Plan:
    config: str  # the wrangler.toml every process loads
    regions: list[RegionPlan]
    homes: dict[str, str]  # market id -> home region
    access_log_sample: float = 0.0  # `dev --regions --access-log`: the edges log this share, the origins all

    def region(self, name: str) -> RegionPlan:
        return next(region for region in self.regions if region.name == name)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Plan:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        regions = [RegionPlan(**region) for region in raw["regions"]]
        return cls(raw["config"], regions, raw["homes"], float(raw.get("access_log_sample", 0.0)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def home_regions(markets: list[tuple[str, str | None, list[str]]], regions: list[str]) -> dict[str, str]:
    """Each market's home: as configured when that region runs here, else the region whose name shares the
    market's continent prefix (us → us-*, eu/uk → eu-* or uk-*), else the first region."""
    homes = {}
    for market, configured, _ in markets:
        if configured in regions:
            homes[market] = configured
            continue
        prefixes = {"us": ("us", "ca"), "eu": ("eu", "uk"), "uk": ("uk", "eu")}.get(market, (market,))
        homes[market] = next((r for p in prefixes for r in regions if r.startswith(p)), regions[0])
    return homes


def make_plan(config_path: Path, names: list[str]) -> Plan:
    from wrangler_py.config import load_config

    cfg = load_config(config_path).config
    configured = {region.name: region for region in cfg.regions}
    regions = []
    for name in names:
        known = configured.get(name)
        location = known.location if known and known.location else KNOWN_LOCATIONS.get(name, (0.0, 0.0))
        regions.append(RegionPlan(name, location[0], location[1], free_port(), free_port()))
    markets = [(m.id, m.home_region, m.countries) for m in cfg.markets]
    return Plan(str(config_path.resolve()), regions, home_regions(markets, names))


# The processes -------------------------------------------------------------------------------------------------


def _logging(service: str, region: str, data_dir: Path) -> None:
    """Warnings on the shared terminal; everything in the region's JSON log file, for `wrangler-py tail`."""
    import edge
    import origin
    from wrangler_py.logs import configure_logging
    from wrangler_py.tail import LOGS_FOLDER

    provider = edge.log_fields if service == "edge" else origin.log_fields
    configure_logging(service, region=region, level="info", console_level="warning", log_dir=data_dir / LOGS_FOLDER,
                      providers=[provider])  # fmt: skip


def run_origin(plan: Plan, name: str) -> None:
    import uvicorn
    from pydantic import SecretStr

    from wrangler_py.apps import build_origin_app, secret_key
    from wrangler_py.config import load_config

    region = plan.region(name)
    loaded = load_config(Path(plan.config))
    cfg = loaded.config
    _logging("origin", name, loaded.data_dir)  # the shop's data_dir, before this region's is swapped in
    data_dir = (loaded.data_dir / "regions" / name).as_posix()
    edge = cfg.edge.model_copy(update={"purge_token": SecretStr(os.environ[PURGE_TOKEN_ENV])})
    # One shop, one secret: a segment cookie signed in one region is verified by every region's edge.
    shared_secret = SecretStr(secret_key(loaded).decode())
    observability = cfg.origin.observability.model_copy(
        update={"access_log": plan.access_log_sample > 0 or cfg.origin.observability.access_log}
    )
    origin = cfg.origin.model_copy(
        update={"port": region.origin_port, "data_dir": data_dir, "secret_key": shared_secret,
                "observability": observability}
    )  # fmt: skip
    loaded = replace(loaded, config=cfg.model_copy(update={"origin": origin, "edge": edge}))
    app = build_origin_app(loaded, edge_url=region.edge_url)
    uvicorn.run(app, host="127.0.0.1", port=region.origin_port, log_level="warning", log_config=None, lifespan="on")


def run_edge(plan: Plan, name: str) -> None:
    import uvicorn
    from pydantic import SecretStr

    from edge import EdgeApp, RegionSettings, server_config
    from wrangler_py.apps import edge_settings
    from wrangler_py.config import load_config

    region = plan.region(name)
    loaded = load_config(Path(plan.config))
    base = edge_settings(loaded)
    markets = [market.model_copy(update={"home_region": plan.homes.get(market.id)}) for market in base.markets]
    regions = [
        RegionSettings(name=r.name, origins=[r.origin_url], latitude=r.latitude, longitude=r.longitude)  # type: ignore[list-item]
        for r in plan.regions
    ]
    settings = base.model_copy(
        update={
            "region": name,
            "regions": regions,
            "markets": markets,
            "port": region.edge_port,
            "purge_token": SecretStr(os.environ[PURGE_TOKEN_ENV]),
            "redis_prefix": base.redis_prefix or "dev-regions:",
        }
    )
    if plan.access_log_sample > 0:
        observability = settings.observability.model_copy(update={"access_log_sample": plan.access_log_sample})
        settings = settings.model_copy(update={"observability": observability})
    _logging("edge", name, loaded.data_dir)
    app = EdgeApp(settings, project_dir=loaded.project_dir)
    uvicorn.Server(server_config(app, host="127.0.0.1", port=region.edge_port, log_config=None)).run()


def child(role: str, name: str, plan_path: Path) -> list[str]:
    return [sys.executable, "-m", "wrangler_py.regions", role, name, str(plan_path), "--parent", str(os.getpid())]


def die_with_parent(parent: int) -> None:
    """Have the kernel send this process SIGTERM (a clean uvicorn shutdown) when `parent` dies (Linux only).

    The signal follows the thread that forked us, not the process: `run_all` starts every child from the thread
    that then serves the front door until the end, so the two end together.
    """
    if sys.platform != "linux":
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    # A parent that died between our fork and the call above sent nothing, and we now belong to someone else.
    if os.getppid() != parent:
        raise SystemExit(f"wrangler_py.regions: the dev runner (pid {parent}) is gone; not starting")


def run_all(
    config_path: Path, names: list[str], *, host: str, port: int, log_level: str, access_log_sample: float = 0.0
) -> int:
    """Start every region's origin and edge, and the front door in this process; Ctrl-C stops them all."""
    import uvicorn

    from wrangler_py.apps import secret_key
    from wrangler_py.config import load_config
    from wrangler_py.front_door import FrontDoor

    plan = replace(make_plan(config_path, names), access_log_sample=access_log_sample)
    loaded = load_config(config_path)
    secret_key(loaded)  # made here, once, before the regions' processes all read it
    run_dir = loaded.data_dir / "regions"
    run_dir.mkdir(parents=True, exist_ok=True)
    plan_path = run_dir / "plan.json"
    plan.save(plan_path)
    env = {**os.environ, PURGE_TOKEN_ENV: secrets.token_urlsafe(24), "PYTHONUNBUFFERED": "1"}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for region in plan.regions:
            for role in ("origin", "edge"):
                processes.append(subprocess.Popen(child(role, region.name, plan_path), env=env))  # noqa: S603
                url = region.origin_url if role == "origin" else region.edge_url
                print(f"  {region.name:<12} {role:<6} {url}  pid {processes[-1].pid}", flush=True)
        print(f"edgeshop: {len(names)} regions behind the front door at http://{host}:{port}/  "
              f"(?_geo=DE picks a country; plan: {plan_path})  Ctrl-C stops", flush=True)  # fmt: skip
        door = FrontDoor(plan, config_path)
        uvicorn.run(door, host=host, port=port, log_level=log_level, lifespan="on")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wrangler_py.regions", description="one process of dev --regions")
    parser.add_argument("role", choices=("origin", "edge"))
    parser.add_argument("region")
    parser.add_argument("plan", type=Path, help="the run plan that `wrangler-py dev --regions` wrote")
    parser.add_argument("--parent", type=int, default=None, help="end when this process (the dev runner) ends")
    args = parser.parse_args(argv)
    if args.parent is not None:
        die_with_parent(args.parent)  # first: the parent may be killed while we are still starting up
    # Ctrl-C reaches every process of the terminal; uvicorn has shut down cleanly by the time it re-raises it.
    with contextlib.suppress(KeyboardInterrupt):
        {"origin": run_origin, "edge": run_edge}[args.role](Plan.load(args.plan), args.region)


if __name__ == "__main__":
    main()
