"""Safety checks in front of every route, as pure ASGI middleware.

``HostCheck`` refuses a ``Host`` that is not an allowed name with 403: a server on 127.0.0.1 is still
reachable from a web page through DNS rebinding unless the name is checked. (Starlette's
TrustedHostMiddleware answers 400 in plain text; the product answers 403 in its JSON error form.)
``BearerToken`` asks for ``Authorization: Bearer <token>`` on ``/api`` when a token is configured.
``BodyLimit`` answers 413 to a body over the limit, whether it declares its length or streams it.
"""

from __future__ import annotations

import hmac

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import Forbidden, PayloadTooLarge, StorehouseError, Unauthorized


async def send_error(send: Send, error: StorehouseError, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer with the JSON form of an error."""
    body = orjson.dumps({"error": {"code": error.code, "message": error.message}})
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class HostCheck:
    """Refuse (403) requests whose Host header is not one of the allowed names; ``*`` allows any."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "*" in self.allowed:
            await self.app(scope, receive, send)
            return
        host = (_header(scope, b"host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") and host.count(":") == 1 else host
        if name.startswith("[") and "]:" in name:
            name = name[: name.index("]") + 1]
        if name not in self.allowed:
            shown = host or "(none)"
            message = f"Host {shown!r} is not allowed; use localhost or add the name with --allowed-hosts"
            await send_error(send, Forbidden(message))
            return
        await self.app(scope, receive, send)


class BearerToken:
    """Require ``Authorization: Bearer <token>`` on /api routes (compared in constant time)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api"):
            scheme, _, given = (_header(scope, b"authorization") or "").strip().partition(" ")
            # the scheme is case-insensitive (RFC 9110 11.1); the token is compared in constant time
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("latin-1"), self.expected):
                error = Unauthorized("this server needs a token: send the header 'Authorization: Bearer <token>'")
                await send_error(send, error, [(b"www-authenticate", b"Bearer")])
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Answer 413 when a request body is over ``limit`` bytes, before any of it reaches a route."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.limit:
            await send_error(send, self._too_large())
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise self._too_large()
            return message

        await self.app(scope, limited, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"the request body is over the limit of {self.limit} bytes (--max-body-bytes)")
