"""The HTTP protocol the server runs: uvicorn's httptools protocol, with a deadline for receiving a request.

uvicorn has no timeout for receiving a request: a client that connects and sends nothing, or sends its
headers or body a byte at a time (each byte re-arms nothing), holds a connection and a slot for as long as
it likes, and a few hundred such clients hold the server. Here every request (headers and body) must
arrive within ``request_timeout`` seconds of its first byte, or of the connection when it is the first
request; otherwise the server answers 408 and closes the connection. Idle keep-alive connections are still
closed by uvicorn's own keep-alive timeout, and ``limit_concurrency`` caps connections and requests (503).
"""

from __future__ import annotations

import asyncio

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def deadline_protocol(request_timeout: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, closing connections that take over request_timeout s to send a request."""

    class DeadlineHttpToolsProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(request_timeout, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is None or cycle.response_complete or not cycle.response_started:
                self.transport.write(_timeout_response(request_timeout))
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True  # a handler waiting for the rest of the body gets a disconnect
                cycle.message_event.set()
            self.transport.close()

    return DeadlineHttpToolsProtocol


def _timeout_response(seconds: float) -> bytes:
    body = orjson.dumps(
        {
            "error": {
                "code": "request_timeout",
                "message": f"the request did not arrive in full within {seconds:g} s (--request-timeout)",
            }
        }
    )
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
