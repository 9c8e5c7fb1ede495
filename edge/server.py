"""How an edge node is served: uvicorn (uvloop + httptools) with fresh L1 hits answered below ASGI.

A cache hit through ASGI costs a task, a scope dict, two send messages and header re-encoding per request
(the floor of a bare ASGI app is about half of nginx's hits per core). `WireHitProtocol` keeps uvicorn's
parser, limits, keep-alive and pipelining rules, and when `EdgeApp.wire` already holds the answer it writes
those bytes straight to the transport; every other request takes uvicorn's normal path into `EdgeApp`.
With tracing on, a request to be traced takes the ASGI path too, where its spans are made.
"""

from __future__ import annotations

from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from edge.app import EdgeApp
from edge.tracing import SAMPLED_EXTENSION
from edge.wire import WireHits


class WireHitProtocol(HttpToolsProtocol):
    wire: ClassVar[WireHits]
    _ready: list[bytes] | None = None
    _ready_keep_alive = True
    _in_message = False  # a request is being received: the connection is not idle, whatever came before
    _ignored = False  # a request that arrived after we closed the connection: never processed

    def on_message_begin(self) -> None:
        # uvicorn builds the ASGI scope here; a wire hit needs none, so it is built only when ASGI is asked.
        self.url = b""
        self.headers = []
        self.expect_100_continue = False
        self._in_message = True

    def _begin_asgi(self) -> None:
        url, headers, expect_100_continue = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.headers, self.expect_100_continue = url, headers, expect_100_continue
        self.scope["headers"] = headers

    def on_headers_complete(self) -> None:
        if self.transport.is_closing():
            # Pipelined behind an answer that closed the connection (HTTP/1.0, Connection: close): uvicorn
            # would queue it and never run it; nobody is there to read an answer.
            self._ignored = True
            return
        parser = self.parser
        # Only when nothing is in flight on this connection, so pipelined answers keep their order, and
        # only while the client reads what we write (uvicorn's flow control would otherwise wait for it).
        if (
            (self.cycle is None or self.cycle.response_complete)
            and not self.pipeline
            and not self.flow.write_paused
            and not self.config.access_log  # uvicorn's own access log sees ASGI requests only (edgeshop's sees all)
            and not self._over_concurrency_limit()  # uvicorn answers those with its 503, through ASGI
        ):
            method = parser.get_method()
            if method == b"GET" or method == b"HEAD":
                peer = self.client[0] if self.client else ""
                gate = self.wire.trace_gate
                if gate is None or not (traced := gate(self.headers, peer)):
                    keep_alive = parser.should_keep_alive() and parser.get_http_version() != "1.0"
                    ready = self.wire.answer(
                        self.url, self.headers, head=method == b"HEAD", keep_alive=keep_alive, peer=peer
                    )
                    if ready is not None:
                        self._ready, self._ready_keep_alive = ready, keep_alive
                        return
                if gate is not None:
                    # The sampling decision goes with the request, so the ASGI path does not draw it again.
                    self._begin_asgi()
                    extensions: dict[str, Any] = {**self.scope.get("extensions", {}), SAMPLED_EXTENSION: traced}
                    self.scope["extensions"] = extensions  # type: ignore[typeddict-item]
                    super().on_headers_complete()
                    return
        self._begin_asgi()
        super().on_headers_complete()

    def _over_concurrency_limit(self) -> bool:
        limit = self.limit_concurrency
        return limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit)

    def on_body(self, body: bytes) -> None:
        # A wire answer is never given to a request with a body; belt and braces.
        if self._ready is None and not self._ignored:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        if self._ignored:
            self._ignored = False
            return
        ready = self._ready
        if ready is None:
            super().on_message_complete()
            return
        self._ready = None
        self.transport.writelines(ready)
        self.server_state.total_requests += 1
        if not self._ready_keep_alive:
            self.transport.close()
            return
        self._active_at = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self._arm_idle_timer(self.timeout_keep_alive)

    # Keep-alive: uvicorn cancels its idle timer when data arrives and creates a new one after every response,
    # a fifth of a wire hit's cost. Here one timer per idle connection checks, when it fires, how long the
    # connection has really been idle, and closes it or sleeps for the rest. Same rule, no per-request timers.
    _active_at = 0.0

    def _unset_keepalive_if_required(self) -> None:
        self._active_at = self.loop.time()

    def _arm_idle_timer(self, delay: float) -> None:
        self.timeout_keep_alive_task = self.loop.call_later(delay, self.timeout_keep_alive_handler)

    def timeout_keep_alive_handler(self) -> None:
        self.timeout_keep_alive_task = None
        if self.transport.is_closing():
            return
        if self._in_message or (self.cycle is not None and not self.cycle.response_complete):
            self._arm_idle_timer(self.timeout_keep_alive)  # busy: idle time counts from when it is done
            return
        idle = self.loop.time() - self._active_at
        if idle >= self.timeout_keep_alive:
            self.transport.close()
        else:
            self._arm_idle_timer(self.timeout_keep_alive - idle)

    def on_response_complete(self) -> None:
        # uvicorn's, with the idle timer above (uvicorn's version replaces the timer handle unconditionally).
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._active_at = self.loop.time()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self.timeout_keep_alive_task is None:
            self._arm_idle_timer(self.timeout_keep_alive)

    def _cancel_idle_timer(self) -> None:
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_idle_timer()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._cancel_idle_timer()  # the connection becomes the websocket protocol's, with its own rules
        super().handle_websocket_upgrade()


def server_config(app: EdgeApp, *, host: str, port: int, log_level: str = "warning", **options: Any) -> uvicorn.Config:
    """The uvicorn configuration every edge deployable uses (`wrangler-py edge`, `wrangler-py dev`)."""
    if options.get("root_path"):
        # The edge proxies whole URLs; a mount point would make the bytes it remembers differ from its keys.
        raise ValueError("the edge is not mounted under a path: root_path is not supported")
    protocol = type("EdgeWireHitProtocol", (WireHitProtocol,), {"wire": app.wire})
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        loop="uvloop",
        http=protocol,
        lifespan="on",
        # The edge relays the origin's Date and Server; uvicorn's own would duplicate them.
        date_header=False,
        server_header=False,
        # The edge decides itself which peers may speak for the client (edge.trusted_proxies); uvicorn's proxy
        # middleware would rewrite the peer address from X-Forwarded-For before the edge sees it.
        proxy_headers=False,
        # SIGTERM (a rolling deploy): stop accepting, let in-flight requests finish, but never hang the rollout.
        **{"access_log": False, "timeout_graceful_shutdown": 20, **options},
    )


__all__ = ["WireHitProtocol", "server_config"]
