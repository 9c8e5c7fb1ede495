"""`wrangler-py dev --regions` as a real process: what it starts never outlives it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, free_port, write_config

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")


def stat(pid: int) -> tuple[str, int] | None:
    """(state, session id) of a process, or None when there is no such process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[3])


def running(pid: int) -> bool:
    found = stat(pid)
    return found is not None and found[0] not in "ZX"  # a zombie has ended; only its reaper is missing


def in_session(session: int) -> list[int]:
    pids = (int(entry) for entry in os.listdir("/proc") if entry.isdecimal())
    return [pid for pid in pids if (found := stat(pid)) is not None and found[1] == session and running(pid)]


def wait_listening(url: str, runner: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until `url` answers at all: the process behind it is past its start-up."""
    deadline = time.monotonic() + timeout
    while True:
        assert runner.poll() is None, "the dev runner exited"
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.1)


@pytest.mark.parametrize("how", ["sigkill", "ctrl-c"])
def test_every_region_process_ends_with_the_runner(tmp_path: Path, how: str) -> None:
    config = write_config(tmp_path / "store", seed_products=5)
    log_path = tmp_path / "dev.log"
    with log_path.open("w") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "wrangler_py.cli", "--config", str(config), "dev", "--regions", "us-east,eu-west",
             "--port", str(free_port()), "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=REPO,
            start_new_session=True,  # its own session: the cleanup below can reach anything it left behind
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "plan: " not in (text := log_path.read_text()):
            assert runner.poll() is None and time.monotonic() < deadline, text
            time.sleep(0.1)
        children = {int(pid): url for url, pid in re.findall(r"(http://\S+)\s+pid (\d+)", text)}
        assert len(children) == 4  # an origin and an edge per region
        for url in children.values():
            wait_listening(url + "/healthz", runner)

        if how == "sigkill":
            os.kill(runner.pid, signal.SIGKILL)  # no finally, no signal handler: only the kernel can tell them
            runner.wait(timeout=5)
        else:
            os.killpg(runner.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: every process of the group
            assert runner.wait(timeout=20) == 0
        deadline = time.monotonic() + 10
        while (left := in_session(runner.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left, f"outlived the runner: {left}"
        assert not [pid for pid in children if running(pid)]
        if how == "ctrl-c":
            assert "Traceback" not in log_path.read_text()  # a clean stop, not a screenful of KeyboardInterrupt
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(runner.pid, signal.SIGKILL)  # whatever the assertions found still running
        runner.wait(timeout=5)
