"""Real servers on loopback for edge tests, and a raw HTTP/1.1 reader that shows framing exactly."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from dataclasses import dataclass

import httpx
import uvicorn


def serve(config: uvicorn.Config) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    return server, thread


@dataclass
class Reply:
    status: int
    fields: list[tuple[str, str]]
    body: bytes

    def field(self, name: str) -> str | None:
        return next((value for key, value in self.fields if key == name), None)

    @property
    def via_wire(self) -> bool:
        return 'desc="l1 wire"' in (self.field("server-timing") or "")


class Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.buffer += chunk

    def reply(self, *, head: bool = False) -> Reply:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        block, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = block.decode("latin-1").split("\r\n")
        fields = [(k.lower(), v) for k, v in (line.split(": ", 1) for line in lines)]
        status = int(status_line.split()[1])
        bodyless = head or status in (204, 304)  # RFC 9112 §6.3
        if not bodyless and ("transfer-encoding", "chunked") in fields:
            return Reply(status, fields, self._chunked())
        size = 0 if bodyless else int(next(v for k, v in fields if k == "content-length"))
        while len(self.buffer) < size:
            self._fill()
        body, self.buffer = self.buffer[:size], self.buffer[size:]
        return Reply(status, fields, body)

    def _chunked(self) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in self.buffer:
                self._fill()
            line, _, self.buffer = self.buffer.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            while len(self.buffer) < size + 2:
                self._fill()
            body, self.buffer = body + self.buffer[:size], self.buffer[size + 2 :]
            if size == 0:
                return body  # no trailers from these servers


def request(path: str, *extra: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: shop.test", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def wait_ok(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    """Until `url` answers 200 (and, when given, while `process` is still running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, "process exited"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)
