"""The HTTP protocol the server runs: uvicorn's httptools protocol, with deadlines and limits it lacks.

uvicorn has no timeout for receiving a request: a client that connects and sends nothing, or sends its
headers or body a byte at a time (each byte re-arms nothing), holds a connection and a slot for as long as
it likes, and a few hundred such clients hold the server. Here every request (headers and body) must
arrive within ``request_timeout`` seconds of its first byte, or of the connection when it is the first
request, and a new connection must send its first byte within ``idle_timeout``; otherwise the server answers
408 and closes the connection. Idle keep-alive connections are still closed by uvicorn's own keep-alive timeout.

uvicorn's ``limit_concurrency`` counts every connection and request against one cap, before any request is
read: one peer with idle sockets, or with event streams, could fill it and every authorised request got 503
(issue #13). Here the counting is done by address (``peer_key``: an IPv4 address, an IPv6 /64):

- connections: at most ``max_connections`` in all and ``peer_connections`` from one peer. A connection over
  either is accepted but not counted, answered 503 at its first request, and closed; it has ``idle_timeout``
  to send that request;
- event streams: a request becomes a stream when its route claims it (``STREAM_EXTENSION``, called by the
  events route) and then counts against ``max_streams`` / ``peer_streams`` instead of the connections, so
  streams never take request slots; a claim over either is refused and the route answers 503;
- requests in flight (the tasks running the app): at most ``max_connections + max_streams``.

Every 503 is the JSON error form with ``Retry-After``, and so are the 408 of a deadline and the 400 of a request
that does not parse (uvicorn's own answer is plain text). The bookkeeping is a few dictionary updates per
connection, on the event loop only (no lock).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..config import Settings
from ..errors import InvalidRequest, ServiceUnavailable

log = logging.getLogger("storehouse")
STREAM_EXTENSION = "storehouse.stream"  # scope["extensions"][STREAM_EXTENSION]["claim"]() -> refusal or None
WARN_EVERY = 10.0  # seconds between two log lines about refused connections


@dataclass(frozen=True)
class Limits:
    """What ``guarded_protocol`` enforces; see the module docstring."""

    request_timeout: float
    idle_timeout: float
    max_connections: int
    peer_connections: int
    max_streams: int
    peer_streams: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            request_timeout=settings.request_timeout,
            idle_timeout=min(settings.idle_timeout, settings.request_timeout),
            max_connections=settings.max_connections,
            peer_connections=settings.peer_connections,
            max_streams=settings.max_streams,
            peer_streams=settings.peer_streams,
        )


def peer_key(address: str) -> str:
    """The peer an address counts as: itself for IPv4 (and IPv4-mapped IPv6), its /64 network for IPv6 (one
    host commonly holds a whole /64), the text as it is for anything else (a Unix socket)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


class _Counts:
    """How many of something are open, in all and per peer; a peer at 0 leaves the table."""

    def __init__(self, what: str, flag: str, limit: int, peer_flag: str, peer_limit: int) -> None:
        self.what, self.flag, self.limit, self.peer_flag, self.peer_limit = what, flag, limit, peer_flag, peer_limit
        self.total = 0
        self.by_peer: Counter[str] = Counter()

    def take(self, peer: str) -> str | None:
        """Count one more for peer and return None, or return why not (over the cap, or over the peer's)."""
        if self.total >= self.limit:
            return f"the server has {self.limit} {self.what} open, its limit ({self.flag})"
        if self.by_peer[peer] >= self.peer_limit:
            return f"this address has {self.peer_limit} {self.what} open, its limit ({self.peer_flag})"
        self.add(peer)
        return None

    def add(self, peer: str) -> None:
        self.total += 1
        self.by_peer[peer] += 1

    def give(self, peer: str) -> None:
        self.total -= 1
        self.by_peer[peer] -= 1
        if self.by_peer[peer] <= 0:
            del self.by_peer[peer]


def guarded_protocol(limits: Limits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the deadlines and the per-peer limits of ``limits``, counted across
    every connection the returned class serves (one class per server)."""
    connections = _Counts(
        "connections", "--max-connections", limits.max_connections, "--max-connections-per-peer",
        limits.peer_connections,
    )  # fmt: skip
    streams = _Counts(
        "event streams", "--max-streams", limits.max_streams, "--max-streams-per-peer", limits.peer_streams
    )
    max_tasks = limits.max_connections + limits.max_streams
    last_warning = [0.0]

    def warn(peer: str, refusal: str) -> None:
        now = time.monotonic()
        if now - last_warning[0] >= WARN_EVERY:
            last_warning[0] = now
            log.warning("refusing connections from %s (and maybe others): %s", peer or "(unknown)", refusal)

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _idle: asyncio.TimerHandle | None = None
        _slot: str | None = None  # "connection" or "stream" while counted; None when refused or gone
        _refusal: str | None = None
        _peer = ""
        _extensions: dict[str, dict[object, object]]

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._extensions = {STREAM_EXTENSION: {"claim": self._claim_stream}}
            self._peer = peer_key(str(self.client[0])) if self.client else ""
            self._refusal = connections.take(self._peer)
            if self._refusal is None:
                self._slot = "connection"
            else:
                warn(self._peer, self._refusal)
            # a refused connection gets the idle time to send the request it is refused at, no more
            self._arm(limits.request_timeout if self._refusal is None else limits.idle_timeout)
            self._idle = self.loop.call_later(limits.idle_timeout, self._expired, "idle")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            self._release()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            extensions = self.scope.get("extensions")
            if extensions:
                self.scope["extensions"] = {**extensions, **self._extensions}
            else:
                self.scope["extensions"] = self._extensions  # built once per connection
            self._arm(limits.request_timeout)

        def on_headers_complete(self) -> None:
            refusal = self._refusal
            if refusal is None and len(self.tasks) >= max_tasks:
                refusal = f"the server is answering {max_tasks} requests at once, its limit"
            if refusal is None:
                super().on_headers_complete()
                return
            app, self.app = self.app, _unavailable(refusal)  # the one place uvicorn takes the app from
            try:
                super().on_headers_complete()
            finally:
                self.app = app

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def send_400_response(self, msg: str) -> None:
            # uvicorn answers a request it cannot parse in plain text; every other answer is the JSON error form
            self._disarm()
            message = f"{msg.rstrip('.')}: the request is not valid HTTP/1.1"
            self.transport.write(_error_response("400 Bad Request", InvalidRequest.code, message))
            self.transport.close()

        def on_response_complete(self) -> None:
            if self._slot == "stream":  # the stream ended; the connection may serve requests again
                streams.give(self._peer)
                connections.add(self._peer)
                self._slot = "connection"
            super().on_response_complete()

        def _claim_stream(self) -> str | None:
            if self._slot != "connection":
                return None if self._slot == "stream" else (self._refusal or "the connection is closing")
            refusal = streams.take(self._peer)
            if refusal is None:
                connections.give(self._peer)
                self._slot = "stream"
            return refusal

        def _release(self) -> None:
            if self._slot == "connection":
                connections.give(self._peer)
            elif self._slot == "stream":
                streams.give(self._peer)
            self._slot = None

        def _arm(self, seconds: float) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(seconds, self._expired, "request")

        def _disarm(self) -> None:
            for timer in (self._deadline, self._idle):
                if timer is not None:
                    timer.cancel()
            self._deadline = self._idle = None

        def _expired(self, which: str) -> None:
            if which == "idle":
                self._idle = None
                message = f"no request began within {limits.idle_timeout:g} s of connecting (--idle-timeout)"
            else:
                self._deadline = None
                seconds = limits.request_timeout if self._refusal is None else limits.idle_timeout
                message = f"the request did not arrive in full within {seconds:g} s (--request-timeout)"
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is None or cycle.response_complete or not cycle.response_started:
                self.transport.write(_timeout_response(message))
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True  # a handler waiting for the rest of the body gets a disconnect
                cycle.message_event.set()
            self.transport.close()

    return GuardedHttpToolsProtocol


def _unavailable(refusal: str) -> Any:
    """An ASGI app answering 503 in the JSON error form, with ``Retry-After`` and ``Connection: close``."""
    error = ServiceUnavailable(f"{refusal}; retry in a moment")
    body = orjson.dumps({"error": {"code": error.code, "message": error.message}})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(error.retry_after).encode()),
        (b"connection", b"close"),
    ]

    async def app(_scope: object, _receive: object, send: Any) -> None:
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app


def _timeout_response(message: str) -> bytes:
    return _error_response("408 Request Timeout", "request_timeout", message)


def _error_response(status: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer in the JSON error form, for the protocol to write before (or instead of) the app."""
    body = orjson.dumps({"error": {"code": code, "message": message}})
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
